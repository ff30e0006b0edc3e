"""identities: a history of each enforcement certificate (执法证), from which validity on any day is computed

Revision ID: 0014_people
Revises: 0001
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014_people"
down_revision = "0001"
branch_labels = ("people",)
depends_on = None

_KINDS = ("issued", "suspended", "reinstated", "revoked", "renewed", "corrected")

_handlers = sa.table(
    "handlers",
    sa.column("id", sa.Uuid()),
    sa.column("valid_from", sa.Date()),
    sa.column("valid_until", sa.Date()),
    sa.column("status", sa.String(16)),
)


def upgrade() -> None:
    events = op.create_table(
        "certificate_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("handler_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum(*_KINDS, name="certificatechange", native_enum=False, length=16), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("voids_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["handler_id"], ["handlers.id"], name=op.f("fk_certificate_events_handler_id_handlers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_events")),
        sa.UniqueConstraint("handler_id", "sequence", name=op.f("uq_certificate_events_handler_id")),
    )
    with op.batch_alter_table("certificate_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_certificate_events_handler_id"), ["handler_id"], unique=False)
    _backfill(events)


def _backfill(events: sa.Table) -> None:
    # Before this revision a status applied on every day of the window, so a suspended or revoked certificate
    # gets that change effective from its first day: validity on past days stays what it was.
    now = datetime.now(UTC)
    rows = []
    for handler_id, valid_from, valid_until, status in op.get_bind().execute(
        sa.select(_handlers.c.id, _handlers.c.valid_from, _handlers.c.valid_until, _handlers.c.status)
    ):
        common = {"handler_id": handler_id, "effective_on": valid_from, "recorded_by_id": None,
                  "recorded_by": "system", "recorded_at": now, "voids_id": None}
        rows.append({**common, "id": uuid.uuid4(), "sequence": 1, "kind": "issued", "valid_from": valid_from,
                     "valid_until": valid_until, "reason": "registered before certificate history was kept"})
        if status != "valid":
            rows.append({**common, "id": uuid.uuid4(), "sequence": 2, "kind": status, "valid_from": None,
                         "valid_until": None, "reason": f"registered as {status} before certificate history was kept"})
    if rows:
        op.bulk_insert(events, rows)


def downgrade() -> None:
    with op.batch_alter_table("certificate_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_events_handler_id"))
    op.drop_table("certificate_events")
