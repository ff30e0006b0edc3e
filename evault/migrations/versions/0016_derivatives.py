"""derivatives: their own retention; a declared place (拍摄地点) per record

Revision ID: 0016_derivatives
Revises: 0002_ingest
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_derivatives"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing derivative rows keep retain_until NULL: their objects sit among the originals, locked with them.
    with op.batch_alter_table("derivatives", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("place")
    with op.batch_alter_table("derivatives", schema=None) as batch_op:
        batch_op.drop_column("retain_until")
