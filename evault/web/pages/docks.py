"""Docking stations: each station's last contact and the recorders it ingested today, and silent ones."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
