"""Structured JSON logs: events with context, never secrets or file bytes.

Every line a vault process writes to stderr is one event: structlog's own, and the standard library's (uvicorn,
APScheduler, Alembic, SQLAlchemy, Python warnings), which go through the same processors and renderer.
"""

from __future__ import annotations

import logging
import sys

import structlog

_HANDLER_NAME = "evault"


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,  # the request id on uvicorn's lines too
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(*, json_output: bool = True, level: str = "INFO") -> None:
    """Route structlog and stdlib logging (uvicorn's included) through one JSON (or console) renderer on stderr."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json_output else structlog.dev.ConsoleRenderer()
    )
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*_shared_processors(), structlog.processors.format_exc_info,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    # Bound to stderr as it is now: a command run in-process later (CliRunner swaps sys.stderr) never gets the
    # server's lines mixed into what it prints.
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),  # extras such as uvicorn's colour codes are left out
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)  # configured again (each command, each test): one handler, not one per call
    root.addHandler(handler)
    root.setLevel(numeric)
    # A library logger with a handler of its own would write a second, plain line: everything goes to the root.
    # SQLAlchemy keeps its own WARNING level (INFO would log every statement).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler", "alembic", "sqlalchemy"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # APScheduler says "Running job ..." for every run at INFO; the scheduler's own events say it with context.
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)  # SQLAlchemy's and others' warnings become `py.warnings` events
