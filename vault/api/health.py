"""Liveness and readiness probes, and the administrator's view of the same checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.api.deps import ContextDep
from vault.api.errors import error_body, error_responses
from vault.context import VaultContext
from vault.custody.models import Checkpoint
from vault.custody.service import latest_checkpoint
from vault.custody.verification_models import LogVerification
from vault.errors import VaultError
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

router = APIRouter(tags=["health"])

OK = "ok"


def readiness_checks(context: VaultContext) -> tuple[dict[str, str], VaultError | None]:
    """Probe the database, the blob store and the custody log; return each one's "ok" or refusal, and the first."""
    checks: dict[str, str] = {}
    failure: VaultError | None = None
    for name, probe in (("database", context.check_database), ("store", context.check_store),
                        ("custody_log", context.check_custody_log)):
        try:
            probe()
            checks[name] = OK
        except VaultError as exc:
            checks[name] = exc.message
            failure = failure or exc
    return checks, failure


@dataclass(frozen=True)
class HealthReport:
    """The readiness checks with what an administrator needs beside them: which database and store, and the log."""

    checks: dict[str, str]
    dialect: str
    store_kind: str
    server_side_locks: bool  # S3 Object Lock: the store itself refuses early deletes
    last_checkpoint: Checkpoint | None
    last_verification: LogVerification | None

    def ok(self, name: str) -> bool:
        """Return whether one check passed."""
        return self.checks.get(name) == OK


def health_report(*, context: VaultContext, session: Session, actor: Actor) -> HealthReport:
    """Run the readiness checks and add the database dialect, store kind and custody log's last states (admin)."""
    require(actor, Permission.MANAGE_USERS)
    checks, _failure = readiness_checks(context)
    database_up = checks["database"] == OK
    verification = (session.scalars(select(LogVerification).order_by(LogVerification.at.desc()).limit(1)).first()
                    if database_up else None)
    return HealthReport(
        checks=checks, dialect=context.engine.dialect.name, store_kind=context.store.name,
        server_side_locks=context.store.capabilities.server_side_locks,
        last_checkpoint=latest_checkpoint(session) if database_up else None, last_verification=verification,
    )


@router.get("/health")
def health() -> dict[str, str]:
    """Say the process is up."""
    return {"status": "ok"}


@router.get("/ready", response_model=None, responses=error_responses(503))
def ready(context: ContextDep) -> dict[str, Any] | JSONResponse:
    """Say whether the database and the blob store answer, and the custody log still matches its anchors."""
    checks, failure = readiness_checks(context)
    if failure is not None:
        body = error_body("not_ready", "the vault is not ready", checks)
        return JSONResponse(body, status_code=503)
    return {"status": "ready", "checks": checks, "store": context.store.name}
