"""retention: job leases carry a heartbeat and an attempt number, so a killed worker's run is taken over

Revision ID: 0006_job_lease_heartbeat
Revises: 0003_retention
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_job_lease_heartbeat"
down_revision = "0003_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_leases") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint("uq_job_leases_job_slot", type_="unique")
        batch.create_unique_constraint("uq_job_leases_job_slot_attempt", ["job_name", "slot", "attempt"])
    # A run left "running" by an older release has no heartbeat: its start time stands in for one.
    op.execute("UPDATE job_leases SET heartbeat_at = started_at WHERE heartbeat_at IS NULL")


def downgrade() -> None:
    op.execute("DELETE FROM job_leases WHERE attempt > 1")
    with op.batch_alter_table("job_leases") as batch:
        batch.drop_constraint("uq_job_leases_job_slot_attempt", type_="unique")
        batch.create_unique_constraint("uq_job_leases_job_slot", ["job_name", "slot"])
        batch.drop_column("heartbeat_at")
        batch.drop_column("attempt")
