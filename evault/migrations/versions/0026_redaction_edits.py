"""edits: clips and redacted copies of originals, their review and the derivative each made

Revision ID: 0026_redaction_edits
Revises: 0025_records_case_unit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_redaction_edits"
down_revision = "0025_records_case_unit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edits",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("evidence_id", sa.Uuid(), sa.ForeignKey("evidence.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("suggestions", sa.JSON(), nullable=False),
        sa.Column("detection", sa.String(16), nullable=False),
        sa.Column("editor_id", sa.Uuid(), nullable=True),
        sa.Column("editor_name", sa.String(128), nullable=False),
        sa.Column("approver_id", sa.Uuid(), nullable=True),
        sa.Column("approver_name", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("derivative_id", sa.Uuid(), sa.ForeignKey("derivatives.id"), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_edits_evidence_id", "edits", ["evidence_id"])


def downgrade() -> None:
    op.drop_index("ix_edits_evidence_id", table_name="edits")
    op.drop_table("edits")
