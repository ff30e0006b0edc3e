"""What each full verification of the custody log found, kept beside the log rather than in it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime


class LogVerification(Base):
    """One full verification run: when, how far it reached, its verdict and who ran it.

    A table, not a custody event: a failing verdict must be kept exactly when the log refuses appends (a log that
    disagrees with its anchors signs no checkpoint), and a verification that appended to the log it checked would
    report a size already one short.
    """

    __tablename__ = "audit_verifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # when the run started
    seconds: Mapped[float] = mapped_column()
    ran_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    ran_by: Mapped[str] = mapped_column(String(128))
    via: Mapped[str] = mapped_column(String(16))  # cli, api, web or scheduler
    entries: Mapped[int] = mapped_column(BigInteger)
    checkpoints: Mapped[int] = mapped_column(Integer)
    anchored: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
