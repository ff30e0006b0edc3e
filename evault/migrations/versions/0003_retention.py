"""retention: policy versions, per-record retention state, markers, legal holds, reclassifications,
disposal requests and certificates (append-only), the sweep cursor and scheduler job leases

Revision ID: 0003_retention
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_retention"
down_revision = "0001"
branch_labels = ("retention",)
depends_on = None

APPEND_ONLY_TABLES = ("disposal_certificates", "retention_policy_versions")


def upgrade() -> None:
    op.create_table(
        "disposal_certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("retention_class", sa.String(length=32), nullable=False),
        sa.Column("retention_basis", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(length=128), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_certificates")),
        sa.UniqueConstraint("evidence_id", name=op.f("uq_disposal_certificates_evidence_id")),
    )
    op.create_table(
        "job_leases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_name", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_leases")),
        sa.UniqueConstraint("job_name", "slot", name="uq_job_leases_job_slot"),
    )
    op.create_table(
        "retention_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_retention_cursors")),
    )
    op.create_table(
        "retention_policy_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_retention_policy_versions")),
    )
    op.create_index(
        op.f("ix_retention_policy_versions_effective_from"),
        "retention_policy_versions",
        ["effective_from"],
        unique=False,
    )
    op.create_table(
        "disposal_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by_id", sa.Uuid(), nullable=True),
        sa.Column("proposed_by", sa.String(length=128), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "rejected", "executed", name="requeststatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("approved_by_id", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_disposal_requests_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_requests")),
    )
    op.create_index(op.f("ix_disposal_requests_evidence_id"), "disposal_requests", ["evidence_id"], unique=False)
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=128), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_legal_holds_case_id_cases")),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_legal_holds_evidence_id_evidence")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_case_id"), "legal_holds", ["case_id"], unique=False)
    op.create_index(op.f("ix_legal_holds_evidence_id"), "legal_holds", ["evidence_id"], unique=False)
    op.create_table(
        "retention_markers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "coercive_enforcement",
                "disputed_enforcement",
                "obstruction_of_officers",
                "other",
                name="markerkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("marked_by", sa.String(length=128), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_retention_markers_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_retention_markers_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_markers")),
    )
    op.create_index(op.f("ix_retention_markers_case_id"), "retention_markers", ["case_id"], unique=False)
    op.create_index(op.f("ix_retention_markers_evidence_id"), "retention_markers", ["evidence_id"], unique=False)
    op.create_table(
        "retention_reclassifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column(
            "to_class",
            sa.Enum(
                "routine_inspection",
                "default",
                "case_evidence",
                "long_term",
                name="retentionclass",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "rejected", "executed", name="requeststatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_retention_reclassifications_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_reclassifications")),
    )
    op.create_index(
        op.f("ix_retention_reclassifications_evidence_id"), "retention_reclassifications", ["evidence_id"], unique=False
    )
    op.create_table(
        "retention_states",
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column(
            "retention_class",
            sa.Enum(
                "routine_inspection",
                "default",
                "case_evidence",
                "long_term",
                name="retentionclass",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "explicit_class",
            sa.Enum(
                "routine_inspection",
                "default",
                "case_evidence",
                "long_term",
                name="retentionclass",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("floor_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("floor_permanent", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column(
            "queue_state",
            sa.Enum("active", "due", "proposed", "disposed", name="queuestate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reminded_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fixity_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fixity_ok", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_retention_states_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("evidence_id", name=op.f("pk_retention_states")),
    )
    op.create_index(
        "ix_retention_states_due", "retention_states", ["queue_state", "held", "retain_until"], unique=False
    )
    op.create_index(
        op.f("ix_retention_states_fixity_checked_at"), "retention_states", ["fixity_checked_at"], unique=False
    )

    _make_append_only(APPEND_ONLY_TABLES)


def _make_append_only(tables: tuple[str, ...]) -> None:
    """Have the database itself refuse UPDATE, DELETE (and TRUNCATE) of disposal certificates and policy history."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION evault_refuse_retention_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'retention records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
    for table in tables:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION evault_refuse_retention_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION evault_refuse_retention_change()"
            )
        else:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'retention records are append-only: {verb} refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_index(op.f("ix_retention_states_fixity_checked_at"), table_name="retention_states")
    op.drop_index("ix_retention_states_due", table_name="retention_states")
    op.drop_table("retention_states")
    op.drop_index(op.f("ix_retention_reclassifications_evidence_id"), table_name="retention_reclassifications")
    op.drop_table("retention_reclassifications")
    op.drop_index(op.f("ix_retention_markers_evidence_id"), table_name="retention_markers")
    op.drop_index(op.f("ix_retention_markers_case_id"), table_name="retention_markers")
    op.drop_table("retention_markers")
    op.drop_index(op.f("ix_legal_holds_evidence_id"), table_name="legal_holds")
    op.drop_index(op.f("ix_legal_holds_case_id"), table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index(op.f("ix_disposal_requests_evidence_id"), table_name="disposal_requests")
    op.drop_table("disposal_requests")
    op.drop_index(op.f("ix_retention_policy_versions_effective_from"), table_name="retention_policy_versions")
    op.drop_table("retention_policy_versions")
    op.drop_table("retention_cursors")
    op.drop_table("job_leases")
    op.drop_table("disposal_certificates")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS evault_refuse_retention_change()")
