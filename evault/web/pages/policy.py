"""The retention policy editor: the difference from the current policy, what a change shortens, its approval."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
