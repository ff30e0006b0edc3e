"""The composition root's web application: every package's routers on one FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import APIRouter, FastAPI

from evault.jobs_routes import router as jobs_router
from evault.metrics import UPLOAD_ROUTES, CatalogCollector
from evault.metrics import router as metrics_router
from evault.scheduler import default_jobs
from evault.statistics.routes import router as statistics_router
from evault.web.site import install_web
from ingest.routes import router as ingest_router
from retention.routes import router as retention_router
from vault.access.jobs import flush_playback, flush_playback_every
from vault.access.routes import content_router as access_content_router
from vault.access.routes import router as access_router
from vault.api.errors import install_error_handlers
from vault.api.health import router as health_router
from vault.api.middleware import RequestContextMiddleware
from vault.callups.routes import router as callups_router
from vault.cases.routes import router as cases_router
from vault.context import VaultContext
from vault.custody.routes import router as custody_router
from vault.custody.witness_routes import router as witness_router
from vault.evidence.routes import router as evidence_router
from vault.exports.routes import router as exports_router
from vault.identities.routes import router as identities_router
from vault.identities.session_routes import router as sign_in_router
from vault.redaction.routes import router as edits_router

# Starlette tries routes in order and a player sends a request per range: the content routes come first (no
# other router's path has their shape, /api/evidence/{id}/play and the like).
ROUTERS: tuple[APIRouter, ...] = (
    access_content_router,
    health_router,
    identities_router,
    sign_in_router,
    cases_router,
    evidence_router,
    custody_router,
    access_router,
    ingest_router,
    retention_router,
    exports_router,
    callups_router,
    witness_router,
    statistics_router,
    edits_router,
    jobs_router,
    metrics_router,
)

DESCRIPTION = (
    "Write-once store for enforcement audio-visual records (执法音像记录): ingest, retention (保存期限), "
    "approved access (查阅审批), tamper-evident custody log, evidence bundles for reconsideration and court."
)


def create_app(context: VaultContext) -> FastAPI:
    """Build the API around an open vault context."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        flusher = asyncio.create_task(flush_playback_every(context))
        try:
            yield
        finally:
            flusher.cancel()
            with suppress(asyncio.CancelledError):
                await flusher
            flush_playback(context)  # a stopping server writes the playback ranges it still holds
            context.close()

    app = FastAPI(title="Evidence Vault", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # the web app serves /docs from vendored assets
    app.state.vault = context
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_web(app, context.settings)
    context.metrics.register(CatalogCollector(context, default_jobs()))
    app.add_middleware(RequestContextMiddleware, metrics=context.metrics, upload_routes=UPLOAD_ROUTES)
    return app
