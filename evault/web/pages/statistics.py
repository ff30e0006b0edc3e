"""Statistics for annual reports: a period and a unit, tables, charts, and CSV and XLSX downloads."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
