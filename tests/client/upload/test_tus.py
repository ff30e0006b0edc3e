"""The tus glue: the resumable-URL store shared by workers and runs, and retries with backoff."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evault_client.upload.errors import Interrupted, ServerRefused
from evault_client.upload.tus import ResumeStore, SendOptions, backoff, retrying


def test_resume_store_survives_parallel_workers_and_is_shared_between_runs(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tus-uploads.json"
    first, second = ResumeStore(path), ResumeStore(path)

    def put(n: int) -> None:
        (first if n % 2 else second).set_item(f"key-{n}", f"http://vault/api/uploads/{n}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(40)))
    assert all(second.get_item(f"key-{n}") == f"http://vault/api/uploads/{n}" for n in range(40))
    first.remove_item("key-7")
    assert second.get_item("key-7") is None and ResumeStore(path).get_item("key-8") is not None


def failing(errors: list[ServerRefused]) -> tuple[list[int], Callable[[int], str]]:
    attempts: list[int] = []

    def action(attempt: int) -> str:
        attempts.append(attempt)
        if errors:
            raise errors.pop(0)
        return "done"

    return attempts, action


def test_transient_failures_are_retried_with_growing_waits() -> None:
    waits: list[float] = []
    attempts, action = failing([ServerRefused(None, "network_error", "dropped"), ServerRefused(503, "x", "busy"),
                                ServerRefused(460, "checksum_mismatch", "chunk damaged")])
    assert retrying(action, SendOptions(sleep=waits.append)) == "done"
    assert attempts == [0, 1, 2, 3] and waits == [0.5, 1.0, 2.0]


def test_refusals_are_not_retried() -> None:
    attempts, action = failing([ServerRefused(415, "unsupported_media", "not media")])
    with pytest.raises(ServerRefused, match="not media"):
        retrying(action, SendOptions(sleep=lambda s: None))
    assert attempts == [0]


def test_retries_give_up_and_stop_requests_are_honoured() -> None:
    attempts, action = failing([ServerRefused(None, "network_error", "down")] * 5)
    with pytest.raises(ServerRefused, match="down"):
        retrying(action, SendOptions(retries=2, sleep=lambda s: None))
    assert attempts == [0, 1, 2]
    _, action = failing([ServerRefused(None, "network_error", "down")])
    with pytest.raises(Interrupted):
        retrying(action, SendOptions(should_stop=lambda: True, sleep=lambda s: None))


def test_backoff_is_capped() -> None:
    assert [backoff(n) for n in (0, 1, 5, 20)] == [0.5, 1.0, 16.0, 30.0]


def test_upload_urls_stored_by_a_tuspy_client_still_resume(tmp_path: Path) -> None:
    # The layout tuspy's FileStorage (TinyDB) wrote, so an upload interrupted under an older client resumes.
    path = tmp_path / "tus-uploads.json"
    path.write_text(json.dumps({"_default": {"1": {"key": "old", "url": "http://vault/api/uploads/1"}}}))
    store = ResumeStore(path)
    assert store.get_item("old") == "http://vault/api/uploads/1"
    store.set_item("new", "http://vault/api/uploads/2")
    store.remove_item("old")
    assert json.loads(path.read_text()) == {"_default": {"2": {"key": "new", "url": "http://vault/api/uploads/2"}}}
