"""Officers upload in the browser: a recorder folder over tus, tags for the batch, verified receipts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
