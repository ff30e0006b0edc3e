"""core catalog

Revision ID: 0001
Revises:
Create Date: 2026-11-23 05:52:11.747715
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_number", sa.String(length=128), nullable=False),
        sa.Column(
            "case_type",
            sa.Enum(
                "routine_inspection",
                "simple_procedure",
                "general_procedure_penalty",
                "administrative_coercion",
                "licensing",
                "complaint_verification",
                name="casetype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "closed", "archived", name="casestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("case_number", name=op.f("uq_cases_case_number")),
    )
    op.create_table(
        "custody_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_custody_checkpoints")),
    )
    op.create_table(
        "custody_events",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_custody_events")),
    )
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_custody_events_action"), ["action"], unique=False)
        batch_op.create_index("ix_custody_events_actor", ["actor_id"], unique=False)
        batch_op.create_index("ix_custody_events_case", ["case_id"], unique=False)
        batch_op.create_index("ix_custody_events_subject", ["subject_type", "subject_id"], unique=False)

    op.create_table(
        "handlers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("certificate_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=256), nullable=False),
        sa.Column("category", sa.String(length=128), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("valid", "suspended", "revoked", name="certificatestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handlers")),
        sa.UniqueConstraint("certificate_number", name=op.f("uq_handlers_certificate_number")),
    )
    op.create_table(
        "parties",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("person", "organisation", name="partykind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("legal_representative", sa.String(length=128), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("address_enc", sa.Text(), nullable=True),
        sa.Column("bank_account_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
    )
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parties_name"), ["name"], unique=False)

    op.create_table(
        "case_parties",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_parties_case_id_cases")),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_case_parties_party_id_parties")),
        sa.PrimaryKeyConstraint("case_id", "party_id", name=op.f("pk_case_parties")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "officer",
                "reviewer",
                "approver",
                "records_manager",
                "auditor",
                "admin",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("handler_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handler_id"], ["handlers.id"], name=op.f("fk_users_handler_id_handlers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "evidence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("original_name", sa.String(length=512), nullable=False),
        sa.Column("storage_backend", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("version_id", sa.String(length=256), nullable=False),
        sa.Column("store_retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capture_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("capture_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorder_serial", sa.String(length=128), nullable=True),
        sa.Column("uploader_id", sa.Uuid(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("party_id", sa.Uuid(), nullable=True),
        sa.Column("activity", sa.String(length=64), nullable=True),
        sa.Column("party_informed", sa.Boolean(), nullable=False),
        sa.Column(
            "confidentiality",
            sa.Enum(
                "none",
                "state_secret",
                "trade_secret",
                "personal_privacy",
                name="confidentiality",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("media_info", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("stored", "disposed", name="evidencestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_evidence_case_id_cases")),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_evidence_party_id_parties")),
        sa.ForeignKeyConstraint(["uploader_id"], ["users.id"], name=op.f("fk_evidence_uploader_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
        sa.UniqueConstraint("sha256", name=op.f("uq_evidence_sha256")),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_evidence_recorder_capture", ["recorder_serial", "capture_start"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_uploader_id"), ["uploader_id"], unique=False)

    op.create_table(
        "derivatives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("thumbnail", "proxy", name="derivativekind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("version_id", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("derived", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_derivatives_evidence_id_evidence")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derivatives")),
    )
    with op.batch_alter_table("derivatives", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_derivatives_evidence_id"), ["evidence_id"], unique=False)

    op.create_table(
        "evidence_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("flag", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_evidence_flags_evidence_id_evidence")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_flags")),
    )
    with op.batch_alter_table("evidence_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_flags_evidence_id"), ["evidence_id"], unique=False)
        batch_op.create_index("ix_evidence_flags_flag_open", ["flag", "cleared_at"], unique=False)

    op.create_table(
        "evidence_handlers",
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("handler_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_evidence_handlers_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(["handler_id"], ["handlers.id"], name=op.f("fk_evidence_handlers_handler_id_handlers")),
        sa.PrimaryKeyConstraint("evidence_id", "handler_id", name=op.f("pk_evidence_handlers")),
    )

    _make_append_only(APPEND_ONLY_TABLES)


APPEND_ONLY_TABLES = ("custody_events", "custody_checkpoints")


def _make_append_only(tables: tuple[str, ...]) -> None:
    """Have the database itself refuse UPDATE, DELETE (and TRUNCATE) on the custody log."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION evault_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the custody log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
    for table in tables:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION evault_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION evault_refuse_change()"
            )
        else:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the custody log is append-only: {verb} refused'); END"
                )


def downgrade() -> None:

    op.drop_table("evidence_handlers")
    with op.batch_alter_table("evidence_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_flags_flag_open")
        batch_op.drop_index(batch_op.f("ix_evidence_flags_evidence_id"))

    op.drop_table("evidence_flags")
    with op.batch_alter_table("derivatives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_derivatives_evidence_id"))

    op.drop_table("derivatives")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_uploader_id"))
        batch_op.drop_index("ix_evidence_recorder_capture")
        batch_op.drop_index(batch_op.f("ix_evidence_case_id"))

    op.drop_table("evidence")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("case_parties")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parties_name"))

    op.drop_table("parties")
    op.drop_table("handlers")
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.drop_index("ix_custody_events_subject")
        batch_op.drop_index("ix_custody_events_case")
        batch_op.drop_index("ix_custody_events_actor")
        batch_op.drop_index(batch_op.f("ix_custody_events_action"))

    op.drop_table("custody_events")
    op.drop_table("custody_checkpoints")
    op.drop_table("cases")
