"""What this vault, acting as a witness, remembers of each log it cosigns: the latest cosigned checkpoint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime


class WitnessedLog(Base):
    """The latest checkpoint cosigned for one log origin; a new one must prove consistency with it."""

    __tablename__ = "witnessed_logs"

    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    checkpoint: Mapped[str] = mapped_column(Text)  # the signed note as cosigned, our cosignature included
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
