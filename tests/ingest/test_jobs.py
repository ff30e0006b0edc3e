"""Background jobs: SM3 digests of originals, thumbnails and browser proxies (called directly here)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ffmpeg
import pytest
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient

from ingest import jobs
from ingest.probe import probe_media
from ingest.uploads.recovery import sweep_staging
from tests.conftest import Person
from tests.ingest.conftest import events_of, ingest_file, tus_create
from tests.media import make_video
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.db import utcnow
from vault.errors import StorageError
from vault.evidence.models import DerivativeKind, Evidence
from vault.reconciliation.service import reconcile_store
from vault.storage.base import LockMode, StoreArea

ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)


def sm3_of(path: Path) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(path.read_bytes())
    return digest.finalize().hex()


def test_backfill_sm3_records_each_digest_once(context: VaultContext, officer: Person,
                                               media: dict[str, Path]) -> None:
    first = ingest_file(context, officer, media["clip"], now=ON_TIME).evidence.id
    second = ingest_file(context, officer, media["photo"], now=ON_TIME).evidence.id
    assert jobs.backfill_sm3(context, limit=1) == 1
    assert jobs.backfill_sm3(context) == 1
    assert jobs.backfill_sm3(context) == 0
    with context.sessions() as session:
        clip, photo = session.get(Evidence, first), session.get(Evidence, second)
        assert clip is not None and photo is not None
        assert (clip.sm3, photo.sm3) == (sm3_of(media["clip"]), sm3_of(media["photo"]))
    events = events_of(context, first, CustodyAction.EVIDENCE_DIGEST_RECORDED)
    assert len(events) == 1 and events[0].details == {"algorithm": "SM3", "digest": sm3_of(media["clip"]),
                                                      "sha256": clip.sha256}


def _stored(context: VaultContext, key: str, version_id: str, target: Path) -> Path:
    target.write_bytes(b"".join(context.store.open_range(key, version_id)))
    return target


def test_thumbnails_for_all_and_proxies_only_for_what_browsers_cannot_play(
        context: VaultContext, officer: Person, media: dict[str, Path], tmp_path: Path) -> None:
    playable = ingest_file(context, officer, media["clip"], now=ON_TIME).evidence.id
    hevc = ingest_file(context, officer, media["hevc"], now=ON_TIME).evidence.id
    assert jobs.make_derivatives(context) == 3
    assert jobs.make_derivatives(context) == 0
    with context.sessions() as session:
        clip, original = session.get(Evidence, playable), session.get(Evidence, hevc)
        assert clip is not None and original is not None
        assert [d.kind for d in clip.derivatives] == [DerivativeKind.THUMBNAIL]
        kinds = {d.kind: d for d in original.derivatives}
        assert set(kinds) == {DerivativeKind.THUMBNAIL, DerivativeKind.PROXY}
        proxy = kinds[DerivativeKind.PROXY]
        assert proxy.derived and proxy.media_type == "video/mp4" and proxy.sha256 != original.sha256
        stored = _stored(context, proxy.storage_key, proxy.version_id, tmp_path / "proxy")
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == proxy.sha256 and proxy.size == stored.stat().st_size
        thumb = _stored(context, kinds[DerivativeKind.THUMBNAIL].storage_key,
                        kinds[DerivativeKind.THUMBNAIL].version_id, tmp_path / "thumb")
        original_sha = original.sha256
    summary = probe_media(stored)
    assert (summary.info["video_codec"], summary.info["height"], summary.info["browser_playable"]) == (
        "h264", 240, True)  # a 320x240 original: never scaled up
    head = stored.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    assert probe_media(thumb).media_type == "image/jpeg"
    events = events_of(context, hevc, CustodyAction.EVIDENCE_DERIVATIVE_CREATED)
    assert {e.details["kind"] for e in events} == {"thumbnail", "proxy"}
    assert all(e.details["derived_from"] == original_sha for e in events)


def test_a_crashing_ffmpeg_is_logged_and_nothing_stored(context: VaultContext, officer: Person,
                                                        media: dict[str, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    evidence_id = ingest_file(context, officer, media["avi"], now=ON_TIME).evidence.id

    def crash(*args: object, **kwargs: object) -> None:
        raise ffmpeg.Error("ffmpeg", b"", b"segfault")

    monkeypatch.setattr(jobs, "render", crash)
    assert jobs.make_derivatives(context) == 0
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None and evidence.derivatives == []
    assert not any(p.name.startswith("derive-") for p in context.settings.home.iterdir())


def test_sweep_removes_only_old_orphaned_staging_files(client: TestClient, context: VaultContext,
                                                       officer: Person) -> None:
    folder = context.settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / "single-0123"
    orphan.write_bytes(b"half a recording")
    location = tus_create(client, officer, 100, filename="a.mp4").headers["Location"]
    owned = folder / location.rsplit("/", 1)[1]
    assert owned.exists()
    assert sweep_staging(context, older_than=timedelta(days=2)) == 0  # too young
    later = datetime.now(UTC) + timedelta(days=3)
    assert sweep_staging(context, older_than=timedelta(days=2), now=later) == 1
    assert not orphan.exists() and owned.exists()


@pytest.mark.parametrize(("size", "expected"), [("640x360", (640, 360)), ("1280x720", (852, 480)),
                                                ("360x640", (270, 480)), ("200x100", (200, 100))])
def test_a_proxy_is_never_larger_than_its_original_and_keeps_its_shape(
        context: VaultContext, officer: Person, tmp_path: Path, size: str, expected: tuple[int, int]) -> None:
    # Issue 12, item 8: a proxy is never larger than its original (640x360 became 854x480).
    source = make_video(tmp_path / f"hevc-{size}.mp4", seconds=1.0, size=size, codec="libx265")
    evidence_id = ingest_file(context, officer, source, now=ON_TIME).evidence.id
    assert jobs.make_derivatives(context) == 2
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        proxy = next(d for d in evidence.derivatives if d.kind == DerivativeKind.PROXY)
        thumb = next(d for d in evidence.derivatives if d.kind == DerivativeKind.THUMBNAIL)
        proxy_file = _stored(context, proxy.storage_key, proxy.version_id, tmp_path / "proxy.mp4")
        thumb_file = _stored(context, thumb.storage_key, thumb.version_id, tmp_path / "thumb.jpg")
    info = probe_media(proxy_file).info
    assert (info["width"], info["height"]) == expected
    width = probe_media(thumb_file).info["width"]
    assert width <= min(320, int(size.split("x")[0]))


def test_derived_files_are_stored_apart_with_their_own_short_lock(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    # Issue 12, item 8 (`000` 第十六条): thumbnails and proxies under their own prefix, with their own retention,
    # never the original's COMPLIANCE lock; the catalog marks them derived.
    evidence_id = ingest_file(context, officer, media["hevc"], now=ON_TIME).evidence.id
    before = utcnow()
    assert jobs.make_derivatives(context) == 2
    days = context.settings.derivative_retention_days
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None and len(evidence.derivatives) == 2
        original = context.store.stat(evidence.storage_key, evidence.version_id)
        for derivative in evidence.derivatives:
            assert derivative.derived and derivative.storage_key.startswith("derivatives/")
            assert derivative.retain_until is not None
            assert before + timedelta(days=days) <= derivative.retain_until <= utcnow() + timedelta(days=days)
            stat = context.store.stat(derivative.storage_key, derivative.version_id)
            assert stat.lock_mode == LockMode.GOVERNANCE and stat.retain_until is not None
            assert abs((stat.retain_until - derivative.retain_until).total_seconds()) < 1
            assert original.retain_until is not None and stat.retain_until < original.retain_until
        assert not evidence.storage_key.startswith("derivatives/")
    events = events_of(context, evidence_id, CustodyAction.EVIDENCE_DERIVATIVE_CREATED)
    assert all(e.details["key"].startswith("derivatives/") and e.details["retain_until"] for e in events)


def test_a_derived_file_committed_but_not_locked_gets_its_own_lock_from_the_reconciler(
        context: VaultContext, officer: Person, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12, item 8: after a crash between commit and lock, the reconciler locks a derived file for its own
    # retention (GOVERNANCE), not for the original's.
    evidence_id = ingest_file(context, officer, media["photo"], now=ON_TIME).evidence.id

    def crash(self: object, retain_until: datetime) -> None:
        raise StorageError("the process died before the lock")

    monkeypatch.setattr(type(context.store.begin_put(area=StoreArea.DERIVATIVES)), "lock", crash)
    assert jobs.make_derivatives(context) == 0  # logged as failed; the row was committed
    monkeypatch.undo()
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None and len(evidence.derivatives) == 1
        thumb = evidence.derivatives[0]
        report = reconcile_store(session=session, store=context.store, now=utcnow(), grace=timedelta(0),
                                 lookback=None, export_copy_days=1)
        assert report.locked == 1 and report.locked_orphans == []
        stat = context.store.stat(thumb.storage_key, thumb.version_id)
        assert thumb.retain_until is not None and stat.retain_until is not None
        assert abs((stat.retain_until - thumb.retain_until).total_seconds()) < 1
        assert stat.lock_mode == LockMode.GOVERNANCE
