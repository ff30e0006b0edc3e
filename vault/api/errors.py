"""One error body shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vault.errors import VaultError

log = structlog.get_logger(__name__)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """Return the error body every endpoint uses; text it echoes from the request is made encodable first."""
    return {"error": {"code": code, "message": _encodable(message), "details": _encodable(details)}}


def _encodable(value: Any) -> Any:
    """Escape lone surrogates a refusal may quote from the request, so the refusal itself can be sent as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to the shared body; never leak a traceback."""

    @app.exception_handler(VaultError)
    async def _vault_error(request: Request, exc: VaultError) -> JSONResponse:
        log.info("request.refused", code=exc.code, status=exc.status, path=request.url.path)
        headers = {"X-Request-ID": _request_id(request) or ""}
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "the request is malformed", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("request.database_unavailable", path=request.url.path, error=type(exc.orig).__name__)
        body = error_body("database_unavailable", "the catalog database is busy or unreachable; retry shortly")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("request.failed", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return JSONResponse(
            error_body(
                "internal_error", "the vault failed to handle this request", {"request_id": _request_id(request)}
            ),
            status_code=500,
        )
