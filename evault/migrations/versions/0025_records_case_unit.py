"""cases: the handling unit (承办单位) that files and handles each case; existing cases have none recorded

Revision ID: 0025_records_case_unit
Revises: 0024_token_expiry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_records_case_unit"
down_revision = "0024_token_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("handling_unit", sa.String(256), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("handling_unit")
