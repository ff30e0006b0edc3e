"""custody: keep each checkpoint's C2SP signed note, the exact text anchored outside the catalog

Revision ID: 0011_custody_anchors
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_custody_anchors"
down_revision = "0001"
branch_labels = ("anchors",)
depends_on = None


def upgrade() -> None:
    # Checkpoints signed before this revision keep their old statement (note stays NULL) and still verify.
    with op.batch_alter_table("custody_checkpoints") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("custody_checkpoints") as batch:
        batch.drop_column("note")
