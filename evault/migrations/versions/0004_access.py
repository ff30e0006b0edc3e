"""access: requests, grants, the records they cover and playback sessions

Revision ID: 0004_access
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_access"
down_revision = "0001"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("whole_case", sa.Boolean(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "investigation",
                "legal_review",
                "reconsideration",
                "litigation",
                "filing_review",
                "party_copy",
                name="accesspurpose",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "mode", sa.Enum("view", "view_download", name="accessmode", native_enum=False, length=16), nullable=False
        ),
        sa.Column("duration_hours", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "approved", "denied", "refused_by_rule", name="requeststatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_access_requests_case_id_cases")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_access_requests_decided_by_id_users")),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"], name=op.f("fk_access_requests_requester_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_requests_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_requests_requester_id"), ["requester_id"], unique=False)

    op.create_table(
        "access_grants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("grantee_id", sa.Uuid(), nullable=False),
        sa.Column("approver_id", sa.Uuid(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "investigation",
                "legal_review",
                "reconsideration",
                "litigation",
                "filing_review",
                "party_copy",
                name="accesspurpose",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "mode", sa.Enum("view", "view_download", name="accessmode", native_enum=False, length=16), nullable=False
        ),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["approver_id"], ["users.id"], name=op.f("fk_access_grants_approver_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_access_grants_case_id_cases")),
        sa.ForeignKeyConstraint(["grantee_id"], ["users.id"], name=op.f("fk_access_grants_grantee_id_users")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["access_requests.id"], name=op.f("fk_access_grants_request_id_access_requests")
        ),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["users.id"], name=op.f("fk_access_grants_revoked_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
        sa.UniqueConstraint("request_id", name=op.f("uq_access_grants_request_id")),
    )
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.create_index("ix_access_grants_grantee_expires", ["grantee_id", "expires_at"], unique=False)

    op.create_table(
        "access_request_records",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_access_request_records_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["access_requests.id"], name=op.f("fk_access_request_records_request_id_access_requests")
        ),
        sa.PrimaryKeyConstraint("request_id", "evidence_id", name=op.f("pk_access_request_records")),
    )
    with op.batch_alter_table("access_request_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_request_records_evidence_id"), ["evidence_id"], unique=False)

    op.create_table(
        "access_grant_records",
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_access_grant_records_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["access_grants.id"], name=op.f("fk_access_grant_records_grant_id_access_grants")
        ),
        sa.PrimaryKeyConstraint("grant_id", "evidence_id", name=op.f("pk_access_grant_records")),
    )
    with op.batch_alter_table("access_grant_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_grant_records_evidence_id"), ["evidence_id"], unique=False)

    op.create_table(
        "access_playback_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=True),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("bytes_served", sa.BigInteger(), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_access_playback_sessions_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["access_grants.id"], name=op.f("fk_access_playback_sessions_grant_id_access_grants")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_access_playback_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_playback_sessions")),
    )
    with op.batch_alter_table("access_playback_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_playback_open", ["user_id", "evidence_id", "variant", "closed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_playback_sessions_evidence_id"), ["evidence_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("access_playback_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_playback_sessions_evidence_id"))
        batch_op.drop_index("ix_access_playback_open")
    op.drop_table("access_playback_sessions")
    with op.batch_alter_table("access_grant_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grant_records_evidence_id"))
    op.drop_table("access_grant_records")
    with op.batch_alter_table("access_request_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_request_records_evidence_id"))
    op.drop_table("access_request_records")
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_access_grants_grantee_expires")
    op.drop_table("access_grants")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_requests_requester_id"))
        batch_op.drop_index(batch_op.f("ix_access_requests_case_id"))
    op.drop_table("access_requests")
