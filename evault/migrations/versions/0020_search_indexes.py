"""search: an index per search filter and sort key; a lookup digest of each party's ID number

Revision ID: 0020_search_indexes
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_search_indexes"
down_revision = "0001"
branch_labels = ("search",)
depends_on = None

_EVIDENCE_INDEXES = {
    "ix_evidence_uploaded_at": ["uploaded_at"],
    "ix_evidence_capture_start": ["capture_start"],
    "ix_evidence_size": ["size"],
    "ix_evidence_party_id": ["party_id"],
    "ix_evidence_activity": ["activity"],
    "ix_evidence_confidentiality": ["confidentiality"],
    "ix_evidence_uploader_uploaded": ["uploader_id", "uploaded_at"],
}


def upgrade() -> None:
    # Existing parties keep a NULL digest: the key is not at hand here, so search decrypts those few instead.
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_parties_id_number_digest"), ["id_number_digest"], unique=False)
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        for name, columns in _EVIDENCE_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table("evidence_handlers", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_handlers_handler_id", ["handler_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_handlers", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_handlers_handler_id")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        for name in reversed(list(_EVIDENCE_INDEXES)):
            batch_op.drop_index(name)
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parties_id_number_digest"))
        batch_op.drop_column("id_number_digest")
