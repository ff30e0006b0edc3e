"""Store a derived file beside its original: written, cataloged with its custody event, then locked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import transaction
from vault.evidence.models import Derivative, DerivativeKind, Evidence
from vault.identities.actor import Actor
from vault.storage.base import FileSource, StoreArea


def store_derivative(
    context: VaultContext, *, evidence_id: uuid.UUID, kind: DerivativeKind, path: Path, media_type: str,
    retain_until: datetime, actor: Actor, details: dict[str, Any] | None = None,
    also: Callable[[Session, Derivative], bool] | None = None,
) -> Derivative | None:
    """Store a derived file and catalog it in one commit; `also` may add to that commit or say False to drop it.

    Written unlocked, cataloged and committed, and only then locked: a crash in between leaves an unlocked object the
    reconciler locks (if committed) or removes (if not), never a locked orphan. A derived file goes to the store's
    derivatives area with a GOVERNANCE lock of its own, not its original's.
    """
    pending = context.store.begin_put(content_type=media_type, area=StoreArea.DERIVATIVES,
                                      source=FileSource(path=path, size=path.stat().st_size))
    blob = pending.finish()
    try:
        with transaction(context.sessions) as session:
            evidence = session.get(Evidence, evidence_id)
            if evidence is None:
                pending.discard()
                return None
            item = Derivative(evidence_id=evidence.id, kind=kind, sha256=blob.sha256, size=blob.size,
                              media_type=media_type, storage_key=blob.key, version_id=blob.version_id,
                              derived=True, retain_until=retain_until)
            session.add(item)
            session.flush()
            if also is not None and not also(session, item):
                session.rollback()
                pending.discard()
                return None
            record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DERIVATIVE_CREATED,
                         subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id,
                         details={"kind": kind.value, "derivative_id": str(item.id), "sha256": blob.sha256,
                                  "size": blob.size, "derived_from": evidence.sha256, "key": blob.key,
                                  "retain_until": retain_until.isoformat(), **(details or {})})
            session.expunge(item)
    except BaseException:
        pending.discard()
        raise
    pending.lock(retain_until)
    return item
