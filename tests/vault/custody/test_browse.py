"""The auditor's log browser: each entry's inclusion proof checked server side, and the last full verification."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text

from evault_client.cli import root
from tests.conftest import Person
from tests.vault.custody.test_service import _append, _disable_guards, _recompute_entry
from tests.vault.exports.conftest import host_env
from vault.config import host_login
from vault.context import VaultContext
from vault.identities.models import Role
from vault.storage.base import BlobStore


@pytest.fixture
def auditor(make_person: Callable[..., Person]) -> Person:
    """Return an auditor."""
    return make_person(Role.AUDITOR, name="auditor-zhou")


def _page(client: TestClient, who: Person, **params: int) -> dict[str, object]:
    response = client.get("/api/custody/log", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, object] = response.json()
    return page


def test_every_entry_proves_its_inclusion_in_the_signed_checkpoint(context: VaultContext, client: TestClient,
                                                                   auditor: Person) -> None:
    # Issue 13, Auditor: browse the custody log with a check of each entry's inclusion proof.
    _append(context, 12)
    page = _page(client, auditor, limit=5)
    entries: list[dict[str, object]] = page["entries"]  # type: ignore[assignment]
    assert page["checkpoint_signed"] is True
    newest = page["size"] - 1  # type: ignore[operator]
    assert [e["log_index"] for e in entries] == list(range(newest, newest - 5, -1))  # newest first
    assert all(e["included"] is True for e in entries)
    assert entries[0]["actor"] == "system" and entries[0]["subject"] == "policy p11"
    older = _page(client, auditor, limit=5, before=page["older"])  # type: ignore[arg-type]
    assert [e["log_index"] for e in older["entries"]] == list(range(newest - 5, newest - 10, -1))  # type: ignore


def test_an_entry_altered_in_place_fails_its_inclusion_check_and_only_it(
    context: VaultContext, client: TestClient, auditor: Person
) -> None:
    # DOMAIN: nobody may alter records (`000` 第十六、十七条); the auditor sees which entry was changed.
    _append(context, 7)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("UPDATE custody_events SET actor_name = 'mallory' WHERE log_index = 4"))
        session.commit()
    checks = {e["log_index"]: e["included"] for e in _page(client, auditor)["entries"]}  # type: ignore[attr-defined]
    assert {i for i, included in checks.items() if not included} == {4}
    assert len(checks) > 7


def test_a_recomputed_leaf_breaks_every_proof_against_the_signed_root(
    context: VaultContext, client: TestClient, auditor: Person
) -> None:
    # DOMAIN (`000` 第十六、十七条): a tamperer who also rewrites the leaf hash cannot make the signed root agree.
    _append(context, 7)
    _recompute_entry(context, 4)
    page = _page(client, auditor)
    assert page["checkpoint_signed"] is True
    assert all(e["included"] is False for e in page["entries"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER, Role.ADMIN])
def test_only_auditors_browse_the_log_or_run_a_verification(client: TestClient, make_person: Callable[..., Person],
                                                            role: Role) -> None:
    # DOMAIN roles: the auditor (监督) reads every log and verifies integrity.
    who = make_person(role)
    for path in ("/api/custody/log", "/api/custody/verifications/latest", "/api/custody/verify"):
        assert client.get(path, headers=who.headers).status_code == 403, path


def test_each_verification_is_kept_with_its_verdict_and_who_ran_it(
    context: VaultContext, store: BlobStore, client: TestClient, auditor: Person
) -> None:
    # Issue 13, Auditor: the log page shows the state of the last verification.
    _append(context, 3)
    size = _page(client, auditor)["size"]
    assert client.get("/api/custody/verifications/latest", headers=auditor.headers).json() is None
    assert client.get("/api/custody/verify", headers=auditor.headers).json()["ok"] is True
    last = client.get("/api/custody/verifications/latest", headers=auditor.headers).json()
    assert (last["ran_by"], last["via"], last["ok"], last["entries"], last["problems"]) == (
        "auditor-zhou", "api", True, size, [])
    _recompute_entry(context, 1)
    ran = CliRunner().invoke(root, ["verify-log"], env=host_env(context, store))
    assert ran.exit_code == 1
    page = _page(client, auditor)
    last = page["last_verification"]
    assert (last["ran_by"], last["via"], last["ok"]) == (f"host:{host_login()}", "host", False)  # type: ignore[index]
    assert "do not match signed checkpoint" in last["problems"][0]  # type: ignore[index]
