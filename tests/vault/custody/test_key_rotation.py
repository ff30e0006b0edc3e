"""Rotating the signing key: the log keeps its origin, and what the retired key signed still verifies."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from evault.app import create_app
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.custody.models import CustodyAction
from vault.custody.service import latest_checkpoint, record_event
from vault.custody.verification import verify_anchored_log
from vault.identities.actor import SYSTEM
from vault.keys import RETIRED_KEYS_DIR, rotate_signing_key
from vault.storage.base import BlobStore


def _append(context: VaultContext, count: int, label: str) -> None:
    with context.sessions() as session:
        for i in range(count):
            record_event(session=session, actor=SYSTEM, action=CustodyAction.POLICY_CHANGED, subject_type="policy",
                         subject_id=f"{label}{i}", details={"i": i, "note": "保存期限 调整"})
        session.commit()


def _rotated(context: VaultContext, settings: Settings, store: BlobStore) -> VaultContext:
    rotate_signing_key(settings.keys_dir, origin=context.anchors.origin)
    return build_context(settings, store=store)


def test_checkpoints_of_the_retired_key_still_verify_after_rotation(context: VaultContext, settings: Settings,
                                                                    store: BlobStore) -> None:
    _append(context, 3, "before")
    old_key, origin = context.signer.key_id, context.anchors.origin
    rotated = _rotated(context, settings, store)
    try:
        assert rotated.signer.key_id != old_key
        assert rotated.anchors.origin == origin  # witnesses and verifiers follow one log, not a new one
        _append(rotated, 2, "after")
        with rotated.sessions() as session:
            newest = latest_checkpoint(session)
            assert newest is not None and newest.key_id == rotated.signer.key_id
            verdict = verify_anchored_log(session=session, anchors=rotated.anchors)
        assert verdict.ok, verdict.problems
        assert verdict.entries == 5 and verdict.checkpoints >= 2
        assert len(verdict.anchored) >= 2  # anchors signed by both keys were read back and checked
    finally:
        rotated.close()


def test_without_the_retired_public_key_the_old_checkpoints_fail(context: VaultContext, settings: Settings,
                                                                 store: BlobStore) -> None:
    _append(context, 2, "before")
    rotated = _rotated(context, settings, store)
    rotated.close()
    shutil.rmtree(settings.keys_dir / RETIRED_KEYS_DIR)
    stripped = build_context(settings, store=store)
    try:
        with stripped.sessions() as session:
            verdict = verify_anchored_log(session=session, anchors=stripped.anchors)
        assert not verdict.ok
        assert any("invalid signature" in problem for problem in verdict.problems)
        assert any("not signed by this vault's key" in problem for problem in verdict.problems)
    finally:
        stripped.close()


def test_the_public_key_endpoint_lists_retired_keys(context: VaultContext, settings: Settings,
                                                    store: BlobStore) -> None:
    old_key = context.signer.key_id
    rotated = _rotated(context, settings, store)
    try:
        with TestClient(create_app(rotated)) as client:
            body = client.get("/api/custody/public-key").json()
        assert body["key_id"] == rotated.signer.key_id
        assert [key["key_id"] for key in body["retired"]] == [old_key]
        assert body["retired"][0]["pem"] == context.signer.public_pem()
    finally:
        rotated.close()
