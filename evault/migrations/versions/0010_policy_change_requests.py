"""retention: policy changes that shorten a retention default wait for a second person's approval

Revision ID: 0010_policy_change_requests
Revises: 0009_holiday_calendar
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_policy_change_requests"
down_revision = "0009_holiday_calendar"
branch_labels = None
depends_on = None

_STATUSES = ("pending", "approved", "rejected", "executed")


def upgrade() -> None:
    op.create_table(
        "retention_policy_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("shortened", sa.JSON(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Enum(*_STATUSES, name="requeststatus", native_enum=False, length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policy_requests")),
    )


def downgrade() -> None:
    op.drop_table("retention_policy_requests")
