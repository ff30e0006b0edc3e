"""Prometheus instruments of one vault process, in a registry its context owns (never the library's global one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

# Requests range from a health probe (milliseconds) to a whole recording streamed in one PATCH (minutes).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0)
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class StepTimer(Protocol):
    """Something that times the named steps of a piece of work."""

    def step(self, name: str) -> AbstractContextManager[None]:
        """Time the block as one run of the named step."""
        ...


class _NoSteps:
    def step(self, name: str) -> AbstractContextManager[None]:
        return nullcontext()


NO_STEPS: StepTimer = _NoSteps()


class VaultMetrics:
    """The process's counters and histograms; the request middleware, the store wrapper and ingest feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._collector_kinds: set[type] = set()
        registry = self.registry
        self.request_seconds = Histogram(
            "evault_http_request_duration_seconds", "Time to answer a request, by route template and status.",
            ["method", "route", "status"], buckets=REQUEST_BUCKETS, registry=registry)
        self.request_bytes = Counter("evault_http_request_body_bytes", "Request body bytes received, by route.",
                                     ["method", "route"], registry=registry)
        self.response_bytes = Counter("evault_http_response_body_bytes", "Response body bytes sent, by route.",
                                      ["method", "route"], registry=registry)
        self.ingested_bytes = Counter("evault_ingested_bytes",
                                      "Upload bytes received by requests the upload routes accepted (2xx).",
                                      registry=registry)
        self.served_bytes = Counter("evault_served_bytes",
                                    "Evidence bytes sent by the content routes (play, original, proxy, download, "
                                    "bundles).", registry=registry)
        self.store_errors = Counter("evault_store_errors", "Blob store calls that failed (storage_unavailable), "
                                    "by store operation.", ["operation"], registry=registry)
        self.ingest_step_seconds = Histogram(
            "evault_ingest_step_duration_seconds", "Time spent in each step of ingesting one upload.", ["step"],
            buckets=STEP_BUCKETS, registry=registry)

    def register(self, collector: Collector) -> None:
        """Add a collector whose values are read at scrape time (e.g. from the catalog); once per kind."""
        if type(collector) in self._collector_kinds:
            return  # a second app on the same context (tests build several) reads the same catalog
        self._collector_kinds.add(type(collector))
        self.registry.register(collector)

    def render(self) -> bytes:
        """Return every metric in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    @property
    def ingest_steps(self) -> StepTimer:
        """Return the timer of the ingest service's steps."""
        return _HistogramSteps(self.ingest_step_seconds)


class _HistogramSteps:
    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._histogram.labels(step=name).observe(time.perf_counter() - started)
