"""One error body shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
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


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable code, a message for people, and structured details."""

    code: str = Field(description="machine-readable reason, e.g. `upload_offset_mismatch`")
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every refusal and failure."""

    error: ErrorDetail


_MEANING = {
    400: "A header, parameter or body cannot be parsed",
    401: "No valid API token or OpenID Connect token",
    403: "The signed-in user's role or grant does not allow this",
    404: "No such thing, or not visible to this user",
    409: "Conflicts with what is stored (a duplicate, a wrong offset, a state that does not allow it)",
    410: "The record was disposed of",
    412: "The tus version is missing or not supported",
    413: "Larger than the configured maximum",
    415: "Not a recording or photo, or the wrong content type",
    416: "The requested byte range is outside the file",
    422: "The request body, a parameter or upload metadata is invalid",
    423: "Another request is writing to this upload; retry shortly",
    460: "The bytes do not match the declared checksum",
    503: "The catalog database, the object store or a service it needs is unavailable; retry shortly",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI `responses` that declare each status with the shared error body."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


# What any route that needs a signed-in user can answer (400: a body FastAPI cannot parse at all).
SIGNED_IN = error_responses(400, 401, 403, 422, 503)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def vault_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Answer a domain error with its status and code."""
    assert isinstance(exc, VaultError)
    log.info("request.refused", code=exc.code, status=exc.status, path=request.url.path)
    headers = {"X-Request-ID": _request_id(request) or ""}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


async def validation_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Answer a request FastAPI could not validate."""
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    return JSONResponse(error_body("invalid_request", "the request is malformed", details), status_code=422)


async def http_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Answer an HTTP-level refusal (no such route, wrong method)."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def database_busy_response(request: Request, exc: Exception) -> JSONResponse:
    """Answer 503 when the catalog database is busy or away."""
    assert isinstance(exc, OperationalError)
    log.warning("request.database_unavailable", path=request.url.path, error=type(exc.orig).__name__)
    body = error_body("database_unavailable", "the catalog database is busy or unreachable; retry shortly")
    return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})


async def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Answer 500 without leaking a traceback; log it."""
    log.error("request.failed", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "the vault failed to handle this request", {"request_id": _request_id(request)}),
        status_code=500,
    )


ERROR_RESPONSES = (
    (VaultError, vault_error_response),
    (RequestValidationError, validation_error_response),
    (StarletteHTTPException, http_error_response),
    (OperationalError, database_busy_response),
    (Exception, unexpected_error_response),
)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to the shared body; never leak a traceback."""
    for exception_class, handler in ERROR_RESPONSES:
        app.add_exception_handler(exception_class, handler)
