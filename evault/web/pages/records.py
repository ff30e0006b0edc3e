"""Cases and parties for records managers: create, edit, link and search, with personal data masked."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
