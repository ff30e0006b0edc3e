"""exports: write-once retained copies (复制留存) of evidence bundles

Revision ID: 0005_exports
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_exports"
down_revision = "0001"
branch_labels = ("exports",)
depends_on = None

_PURPOSES = ("court", "reconsideration", "filing-review", "party-copy")
_MESSAGE = "export_copies rows are write-once (复制留存)"


def upgrade() -> None:
    op.create_table(
        "export_copies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.Enum(*_PURPOSES, name="exportpurpose", native_enum=False, length=32), nullable=False),
        sa.Column("recipient", sa.String(length=512), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_ids", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("withheld_count", sa.Integer(), nullable=False),
        sa.Column("payload_bytes", sa.BigInteger(), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_size", sa.BigInteger(), nullable=False),
        sa.Column("bundle_name", sa.String(length=256), nullable=False),
        sa.Column("manifests", sa.JSON(), nullable=False),
        sa.Column("explanation_text", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("timestamp_token", sa.Text(), nullable=True),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("retained_key", sa.String(length=512), nullable=False),
        sa.Column("retained_version_id", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_export_copies_case_id_cases")),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_export_copies_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_copies")),
        sa.UniqueConstraint("bundle_sha256", name=op.f("uq_export_copies_bundle_sha256")),
    )
    op.create_index(op.f("ix_export_copies_case_id"), "export_copies", ["case_id"], unique=False)
    _install_write_once()


def _install_write_once() -> None:
    # The ORM refuses updates too; the database refuses them for anyone who bypasses it.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION export_copies_write_once() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER export_copies_write_once BEFORE UPDATE OR DELETE ON export_copies "
            "FOR EACH ROW EXECUTE FUNCTION export_copies_write_once()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER export_copies_no_{verb.lower()} BEFORE {verb} ON export_copies "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS export_copies_write_once ON export_copies")
        op.execute("DROP FUNCTION IF EXISTS export_copies_write_once()")
    op.drop_index(op.f("ix_export_copies_case_id"), table_name="export_copies")
    op.drop_table("export_copies")
