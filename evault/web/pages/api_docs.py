"""The API reference (Swagger UI), served entirely by the vault so it works on an isolated network."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from evault.web.templating import render_page

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def api_docs(request: Request) -> Response:
    """Show the interactive API reference for /openapi.json."""
    return render_page(request, "api_docs.html", person=None)
