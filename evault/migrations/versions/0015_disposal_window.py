"""retention: an approved disposal waits out a recovery window (pending destruction) and may be cancelled meanwhile

Revision ID: 0015_disposal_window
Revises: 0006_job_lease_heartbeat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_disposal_window"
down_revision = "0006_job_lease_heartbeat"
branch_labels = None
depends_on = None

_OLD_STATUSES = ("pending", "approved", "rejected", "executed")
_STATUSES = (*_OLD_STATUSES, "pending_destruction", "cancelled")
_OLD_QUEUE = ("active", "due", "proposed", "disposed")
_QUEUE = (*_OLD_QUEUE, "pending_destruction", "kept")


def _status(values: tuple[str, ...], length: int) -> sa.Enum:
    return sa.Enum(*values, name="disposalstatus", native_enum=False, length=length)


def _queue(values: tuple[str, ...], length: int) -> sa.Enum:
    return sa.Enum(*values, name="queuestate", native_enum=False, length=length)


def upgrade() -> None:
    # "pending_destruction" is longer than the 16 characters both columns had.
    with op.batch_alter_table("disposal_requests") as batch:
        batch.alter_column("status", existing_type=_status(_OLD_STATUSES, 16), type_=_status(_STATUSES, 32),
                           existing_nullable=False)
        batch.add_column(sa.Column("destroy_after", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch.create_index("ix_disposal_requests_due", ["status", "destroy_after"], unique=False)
    with op.batch_alter_table("retention_states") as batch:
        batch.alter_column("queue_state", existing_type=_queue(_OLD_QUEUE, 16), type_=_queue(_QUEUE, 32),
                           existing_nullable=False)


def downgrade() -> None:
    # A request still in its window goes back to waiting for approval: an older release would destroy it at once.
    op.execute("UPDATE disposal_requests SET status = 'pending', approved_by_id = NULL, approved_by = NULL, "
               "approved_at = NULL WHERE status = 'pending_destruction'")
    op.execute("UPDATE disposal_requests SET status = 'rejected' WHERE status = 'cancelled'")
    op.execute("UPDATE retention_states SET queue_state = 'proposed' WHERE queue_state = 'pending_destruction'")
    op.execute("UPDATE retention_states SET queue_state = 'active' WHERE queue_state = 'kept'")
    with op.batch_alter_table("retention_states") as batch:
        batch.alter_column("queue_state", existing_type=_queue(_QUEUE, 32), type_=_queue(_OLD_QUEUE, 16),
                           existing_nullable=False)
    with op.batch_alter_table("disposal_requests") as batch:
        batch.drop_index("ix_disposal_requests_due")
        batch.drop_column("cancel_reason")
        batch.drop_column("cancelled_at")
        batch.drop_column("cancelled_by")
        batch.drop_column("destroy_after")
        batch.alter_column("status", existing_type=_status(_STATUSES, 32), type_=_status(_OLD_STATUSES, 16),
                           existing_nullable=False)
