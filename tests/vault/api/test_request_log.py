"""The `http.request` event (issue 16): the route template, the user who signed in (by token or by the web app's
cookie), the client's address and the bytes each way, and never the credential itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from tests.conftest import GOOD_PASSWORD, Person, with_password
from tests.web.conftest import sign_in
from vault.context import VaultContext
from vault.identities.models import Role


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Start from structlog's defaults: a host command run in-process before this test may have raised the level."""
    structlog.reset_defaults()


def request_events(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "http.request"]


def test_request_events_name_the_token_user_the_client_and_the_bytes(
    client: TestClient, make_person: Callable[..., Person],
) -> None:
    admin = make_person(Role.ADMIN, name="admin-wu")
    body = json.dumps({"name": "li.na", "role": "officer"}).encode()
    with capture_logs() as logs:
        created = client.post("/api/users", headers={**admin.headers, "Content-Type": "application/json"},
                              content=body)
        anonymous = client.get("/api/cases/00000000-0000-0000-0000-000000000000")
    assert created.status_code == 201, created.text
    made, refused = request_events(logs)
    assert made["user"] == "admin-wu" and made["client"] == "testclient" and made["route"] == "/api/users"
    assert made["bytes_in"] == len(body) and made["bytes_out"] == len(created.content) and made["status"] == 201
    assert refused["user"] is None and refused["status"] == anonymous.status_code == 401
    assert refused["route"] == "/api/cases/{case_id}" and refused["path"].endswith("0000")
    assert admin.token not in repr(logs)


def test_a_web_page_request_names_the_person_signed_in_by_cookie(
    client: TestClient, context: VaultContext, make_person: Callable[..., Person],
) -> None:
    auditor = make_person(Role.AUDITOR, name="auditor-zhou")
    assert sign_in(client, with_password(context, auditor), GOOD_PASSWORD) == 303
    with capture_logs() as logs:
        page = client.get("/audit/log")
    assert page.status_code == 200
    (event,) = request_events(logs)
    assert event["user"] == "auditor-zhou" and event["bytes_out"] == len(page.content) > 0
    cookie = next(iter(client.cookies.values()))
    assert cookie not in repr(logs) and GOOD_PASSWORD not in repr(logs)
