"""ingest: declared tags per record and resumable uploads

Revision ID: 0002_ingest
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ingest"
down_revision = "0001"
branch_labels = ("ingest",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_records",
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("given_case_number", sa.String(length=128), nullable=True),
        sa.Column("given_party", sa.String(length=256), nullable=True),
        sa.Column("given_handlers", sa.JSON(), nullable=False),
        sa.Column("field_return_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late_reason", sa.Text(), nullable=True),
        sa.Column("handover_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_ingest_records_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("evidence_id", name=op.f("pk_ingest_records")),
    )
    op.create_table(
        "ingest_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("receiving", "completed", name="uploadstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("evidence_id", sa.Uuid(), nullable=True),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_ingest_uploads_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_ingest_uploads_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_uploads")),
    )
    op.create_index(op.f("ix_ingest_uploads_owner_id"), "ingest_uploads", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ingest_uploads_owner_id"), table_name="ingest_uploads")
    op.drop_table("ingest_uploads")
    op.drop_table("ingest_records")
