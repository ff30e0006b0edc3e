"""identities: API tokens from `evault login` expire; tokens made before (and by `tokens create`) never do

Revision ID: 0024_token_expiry
Revises: 0023_dock_stations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_token_expiry"
down_revision = "0023_dock_stations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
