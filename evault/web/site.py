"""The web app mounted on the API: its pages, their static assets, page-aware errors and security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from evault.web.errors import install_page_errors
from evault.web.pages import (
    access,
    admin,
    api_docs,
    audit,
    docks,
    exports,
    policy,
    records,
    redaction,
    retention,
    search,
    sign_in,
    sign_in_oidc,
    statistics,
    upload,
    uploads,
)
from evault.web.security import SecurityHeadersMiddleware
from evault.web.templating import WebTemplates
from vault.config import Settings

STATIC_DIR = Path(__file__).parent / "static"

# Fixed paths (/cases/new) come before the search pages' /cases/{case}.
PAGE_ROUTERS: tuple[APIRouter, ...] = (
    records.router,
    upload.router,
    uploads.router,
    docks.router,
    retention.router,
    policy.router,
    exports.router,
    redaction.router,
    statistics.router,
    admin.router,
    access.router,
    api_docs.router,
    audit.router,
    search.router,
    sign_in.router,
    sign_in_oidc.router,
)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add the pages, their static assets, page-aware errors and the security headers to the app."""
    app.state.web_templates = WebTemplates.load(zone=settings.zone, agency_name=settings.agency_name)
    install_page_errors(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in PAGE_ROUTERS:
        app.include_router(router)
