"""retention: the State Council's holiday notices (节假日安排) an agency loads, one row per year

Revision ID: 0009_holiday_calendar
Revises: 0003_retention
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_holiday_calendar"
down_revision = "0003_retention"
branch_labels = ("calendar",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holiday_calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("working_days", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("loaded_by", sa.String(length=128), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_holiday_calendar_years")),
    )


def downgrade() -> None:
    op.drop_table("holiday_calendar_years")
