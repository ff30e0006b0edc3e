"""The agency's holiday calendar as loaded: one row per year of the State Council's notice (节假日安排)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime


class HolidayCalendarYear(Base):
    """One year of the State Council's holiday notice (节假日安排) as the agency loaded it; a reload replaces it."""

    __tablename__ = "holiday_calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSON)
    working_days: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    loaded_by: Mapped[str] = mapped_column(String(128))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
