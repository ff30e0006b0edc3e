"""/metrics (issue 16, observability): who may scrape it, and the values a monitoring person watches move after an
upload, a playback, a failed store call and a scheduled job's runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from evault.app import create_app
from evault.scheduler import default_jobs, execute_once
from tests.conftest import Person
from tests.ingest.conftest import tus_upload
from tests.media import make_video
from tests.outage import client_during_outage
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.db import utcnow
from vault.identities.models import Role

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SCRAPE_TOKEN = "prometheus-scrape-" + "k3y" * 8


def scrape(client: TestClient, person: Person) -> Samples:
    answer = client.get("/metrics", headers=person.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mp4", seconds=1.0, size="160x120", creation_time="2025-03-30T06:00:00Z")


@pytest.fixture
def auditor(make_person: Callable[..., Person]) -> Person:
    return make_person(Role.AUDITOR, name="auditor-zhou")


def grant_view(context: VaultContext, reviewer: Person, approver: Person, evidence_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    with context.sessions() as session:
        asked = request_access(session=session, actor=reviewer.actor, evidence_ids=[evidence_id],
                               purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=2,
                               reason="法制审核 of the inspection footage", now=now, max_hours=720)
        approve_request(session=session, actor=approver.actor, request_id=asked.id, now=now)
        session.commit()


def test_only_the_scrape_token_admins_and_auditors_may_read_metrics(
    client: TestClient, settings: Settings, store: object, make_person: Callable[..., Person], tmp_path: Path,
) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").json()["error"]["code"] == "unauthenticated"
    for role in (Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER):
        refused = client.get("/metrics", headers=make_person(role).headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied", role
    for role in (Role.ADMIN, Role.AUDITOR):
        assert client.get("/metrics", headers=make_person(role).headers).status_code == 200, role

    token_file = tmp_path / "metrics-token"
    token_file.write_text(SCRAPE_TOKEN + "\n")
    with_token = build_context(settings.model_copy(update={"metrics_token_file": token_file}), store=store)  # type: ignore[arg-type]
    with TestClient(create_app(with_token), raise_server_exceptions=False) as scraper:
        answer = scraper.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert answer.status_code == 200 and "evault_http_request_duration_seconds" in answer.text
        assert scraper.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
        token_file.write_text("short")  # too short to be a secret: refused, not accepted
        assert scraper.get("/metrics", headers={"Authorization": "Bearer short"}).status_code == 401


def test_an_upload_and_a_playback_move_bytes_ingest_steps_and_route_latency(
    client: TestClient, context: VaultContext, make_person: Callable[..., Person], auditor: Person, clip: Path,
) -> None:
    officer = make_person(Role.OFFICER, certificate="C001")
    reviewer, approver = make_person(Role.REVIEWER), make_person(Role.APPROVER)
    before = scrape(client, auditor)
    size = clip.stat().st_size

    done = tus_upload(client, officer, clip, chunk=size // 3 + 1)
    assert done.status_code == 204, done.text
    evidence_id = uuid.UUID(done.headers["Evault-Evidence-Id"])
    after_upload = scrape(client, auditor)
    assert value(after_upload, "evault_ingested_bytes_total") - value(before, "evault_ingested_bytes_total") == size
    patch = {"method": "PATCH", "route": "/api/uploads/{upload_id}"}
    assert value(after_upload, "evault_http_request_duration_seconds_count", status="204", **patch) == 3
    assert value(after_upload, "evault_http_request_body_bytes_total", **patch) == size
    for step in ("store", "probe", "register", "lock"):
        assert value(after_upload, "evault_ingest_step_duration_seconds_count", step=step) == 1, step
    assert not any(str(evidence_id) in dict(labels).get("route", "") for _, labels in after_upload)  # templates only

    grant_view(context, reviewer, approver, evidence_id)
    played = client.get(f"/api/evidence/{evidence_id}/play", headers=reviewer.headers)
    assert played.status_code == 200 and len(played.content) == size
    after_play = scrape(client, auditor)
    assert value(after_play, "evault_served_bytes_total") - value(after_upload, "evault_served_bytes_total") == size
    play = {"method": "GET", "route": "/api/evidence/{evidence_id}/play"}
    assert value(after_play, "evault_http_request_duration_seconds_count", status="200", **play) == 1
    assert value(after_play, "evault_ingested_bytes_total") == value(after_upload, "evault_ingested_bytes_total")
    # The upload's custody events were signed into a checkpoint and anchored when they committed.
    assert value(after_play, "evault_custody_last_anchored_tree_size") > 0
    assert value(after_play, "evault_custody_unanchored_checkpoints") == 0
    assert ("evault_custody_last_anchored_checkpoint_age_seconds", frozenset()) in after_play


def test_a_store_outage_shows_as_store_errors_and_a_failed_job(
    client: TestClient, settings: Settings, context: VaultContext, auditor: Person,
) -> None:
    jobs = {spec.name: spec for spec in default_jobs()}
    assert execute_once(context, jobs["reconcile"], worker="test:1") is not None
    healthy = scrape(client, auditor)
    assert value(healthy, "evault_job_runs_total", job="reconcile", outcome="succeeded") == 1
    assert value(healthy, "evault_job_state", job="reconcile", state="ok") == 1
    assert value(healthy, "evault_job_state", job="fixity_audit", state="never") == 1
    assert value(healthy, "evault_reconcile_findings", kind="store_locked_orphans") == 0
    assert ("evault_reconcile_findings", frozenset({("kind", "store_checked")})) in healthy
    assert value(healthy, "evault_job_next_due_timestamp_seconds", job="reconcile") > datetime.now(UTC).timestamp()
    assert value(healthy, "evault_job_period_seconds", job="reconcile") == 900
    assert value(healthy, "evault_job_last_success_timestamp_seconds", job="reconcile") > 0
    assert value(healthy, "evault_catalog_up") == 1

    with client_during_outage(settings, "closed_port", timeout_seconds=1.0) as down:
        outage: VaultContext = down.app.state.vault  # type: ignore[attr-defined]
        assert down.get("/ready").status_code == 503
        next_slot = utcnow() + timedelta(minutes=15)
        assert execute_once(outage, jobs["reconcile"], worker="test:2", now=next_slot) is None  # failed, recorded
        during = scrape(down, auditor)
    assert value(during, "evault_store_errors_total", operation="check") == 1
    assert value(during, "evault_store_errors_total", operation="list_versions") >= 1  # the reconciler's listing
    assert value(during, "evault_job_runs_total", job="reconcile", outcome="failed") == 1
    assert value(during, "evault_job_runs_total", job="reconcile", outcome="succeeded") == 1
    assert value(during, "evault_job_state", job="reconcile", state="failed") == 1
    assert value(during, "evault_job_failures_in_a_row", job="reconcile") == 1
    # The findings stay those of the last pass that succeeded, and say when it ran.
    assert value(during, "evault_reconcile_last_pass_timestamp_seconds") == value(
        healthy, "evault_reconcile_last_pass_timestamp_seconds") > 0
    assert value(during, "evault_catalog_up") == 1  # the catalog answered; only the store was away
    assert value(scrape(client, auditor), "evault_store_errors_total", operation="check") == 0  # per process
