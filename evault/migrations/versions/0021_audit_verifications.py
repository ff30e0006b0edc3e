"""audit: each full verification of the custody log, with its verdict and who ran it

Revision ID: 0021_audit_verifications
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_audit_verifications"
down_revision = "0001"
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("ran_by_id", sa.Uuid(), nullable=True),
        sa.Column("ran_by", sa.String(length=128), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("checkpoints", sa.Integer(), nullable=False),
        sa.Column("anchored", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )
    op.create_index(op.f("ix_audit_verifications_at"), "audit_verifications", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_verifications_at"), table_name="audit_verifications")
    op.drop_table("audit_verifications")
