"""ingest: each flag keeps a reason code and the values that raised it; flag clearances wait for a decision

Revision ID: 0012_flag_requests
Revises: 0002_ingest
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_flag_requests"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None

_STATUSES = ("pending", "approved", "rejected")


def upgrade() -> None:
    with op.batch_alter_table("evidence_flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "flag_clearance_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("clears", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Enum(*_STATUSES, name="clearancestatus", native_enum=False, length=16), nullable=False),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"],
                                name=op.f("fk_flag_clearance_requests_evidence_id_evidence")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"],
                                name=op.f("fk_flag_clearance_requests_requested_by_id_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_flag_clearance_requests_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_clearance_requests")),
    )
    with op.batch_alter_table("flag_clearance_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flag_clearance_requests_evidence_id"), ["evidence_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flag_clearance_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("flag_clearance_requests")
    with op.batch_alter_table("evidence_flags", schema=None) as batch_op:
        batch_op.drop_column("facts")
        batch_op.drop_column("code")
