"""Refusals on pages: the same codes and statuses as the API, shown as a page (or a redirect to sign in)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from evault.web.auth import SignInRequired
from evault.web.templating import render_page
from vault.api.errors import ERROR_RESPONSES

NOT_PAGES = ("/api/", "/static/", "/health", "/ready", "/openapi.json", "/metrics")

ApiHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def is_page(request: Request) -> bool:
    """Return whether a path belongs to the web app rather than the API."""
    return not request.url.path.startswith(NOT_PAGES)


def _page_aware(api_handler: ApiHandler) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        if is_page(request) and isinstance(exc, SignInRequired):
            return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
        response = await api_handler(request, exc)
        if not is_page(request):
            return response
        error = json.loads(bytes(response.body))["error"]
        return render_page(request, "error.html", status_code=response.status_code, error=error,
                           status=response.status_code, person=None)

    return handler


def install_page_errors(app: FastAPI) -> None:
    """Answer refusals on page paths with an error page carrying the shared code; the API keeps its JSON."""
    for exception_class, api_handler in ERROR_RESPONSES:
        app.add_exception_handler(exception_class, _page_aware(api_handler))
