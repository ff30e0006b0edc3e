"""docks: docking stations' last status report, and each recorder's totals per agency day

Revision ID: 0023_dock_stations
Revises: 0021_audit_verifications
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_dock_stations"
down_revision = "0021_audit_verifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dock_stations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by_id", sa.Uuid(), nullable=True),
        sa.Column("reported_by", sa.String(length=128), nullable=False),
        sa.Column("client_version", sa.String(length=64), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["reported_by_id"], ["users.id"], name=op.f("fk_dock_stations_reported_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dock_stations")),
        sa.UniqueConstraint("name", name=op.f("uq_dock_stations_name")),
    )
    op.create_table(
        "dock_recorder_days",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recorder", sa.String(length=128), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["dock_stations.id"],
                                name=op.f("fk_dock_recorder_days_station_id_dock_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dock_recorder_days")),
        sa.UniqueConstraint("station_id", "day", "recorder", name=op.f("uq_dock_recorder_days_station_id")),
    )
    op.create_index(op.f("ix_dock_recorder_days_day"), "dock_recorder_days", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dock_recorder_days_day"), table_name="dock_recorder_days")
    op.drop_table("dock_recorder_days")
    op.drop_table("dock_stations")
