"""The home page: where a signed-in person starts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from evault.web.auth import SignedInDep
from evault.web.templating import render_page

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, person: SignedInDep) -> Response:
    """Show what is waiting for the signed-in person."""
    return render_page(request, "home.html", person=person)
