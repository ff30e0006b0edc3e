"""The retention dashboard, legal holds and the two-person queues (disposal, reclassification)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
