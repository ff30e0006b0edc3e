"""exports: call-ups for filing review (调阅), and the confidential records a party copy left out

Revision ID: 0013_callups
Revises: 0005_exports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_callups"
down_revision = "0005_exports"
branch_labels = None
depends_on = ("0004_access",)

_STATUSES = ("open", "fulfilled")


def upgrade() -> None:
    op.create_table(
        "callups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("department", sa.String(length=256), nullable=False),
        sa.Column("document_number", sa.String(length=128), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("evidence_ids", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Enum(*_STATUSES, name="callupstatus", native_enum=False, length=16), nullable=False),
        sa.Column("export_ids", sa.JSON(), nullable=False),
        sa.Column("fulfilled_by", sa.String(length=128), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callups")),
        sa.UniqueConstraint("department", "document_number", name=op.f("uq_callups_department")),
    )
    op.create_index(op.f("ix_callups_received_on"), "callups", ["received_on"], unique=False)
    op.create_index(op.f("ix_callups_status"), "callups", ["status"], unique=False)
    op.create_table(
        "callup_cases",
        sa.Column("callup_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["callup_id"], ["callups.id"], name=op.f("fk_callup_cases_callup_id_callups")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_callup_cases_case_id_cases")),
        sa.PrimaryKeyConstraint("callup_id", "case_id", name=op.f("pk_callup_cases")),
    )
    op.create_index(op.f("ix_callup_cases_case_id"), "callup_cases", ["case_id"], unique=False)
    # A plain ADD COLUMN on both databases: a batch rebuild on SQLite would drop export_copies' write-once
    # triggers (复制留存), and adding a column with a constant default fires no row trigger.
    for table in ("export_copies", "access_requests"):
        op.add_column(table, sa.Column("withheld_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    for table in ("access_requests", "export_copies"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN withheld_ids")  # SQLite >= 3.35 too; keeps the triggers
    op.drop_index(op.f("ix_callup_cases_case_id"), table_name="callup_cases")
    op.drop_table("callup_cases")
    op.drop_index(op.f("ix_callups_status"), table_name="callups")
    op.drop_index(op.f("ix_callups_received_on"), table_name="callups")
    op.drop_table("callups")
