"""The export wizard (coverage before building, progress, download, retained copy) and the call-up register."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
