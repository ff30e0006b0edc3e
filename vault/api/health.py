"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vault.api.deps import ContextDep
from vault.api.errors import error_body, error_responses
from vault.errors import VaultError

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """Say the process is up."""
    return {"status": "ok"}


@router.get("/ready", response_model=None, responses=error_responses(503))
def ready(context: ContextDep) -> dict[str, Any] | JSONResponse:
    """Say whether the database and the blob store answer, and the custody log still matches its anchors."""
    checks: dict[str, str] = {}
    failure: VaultError | None = None
    for name, probe in (("database", context.check_database), ("store", context.check_store),
                        ("custody_log", context.check_custody_log)):
        try:
            probe()
            checks[name] = "ok"
        except VaultError as exc:
            checks[name] = exc.message
            failure = failure or exc
    if failure is not None:
        body = error_body("not_ready", "the vault is not ready", checks)
        return JSONResponse(body, status_code=503)
    return {"status": "ready", "checks": checks, "store": context.store.name}
