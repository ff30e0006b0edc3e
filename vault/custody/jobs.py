"""The custody log's scheduled job, every minute: anchor, then have witnesses cosign and a TSA stamp (daily)."""

from __future__ import annotations

from typing import Any

import httpx

from vault.context import VaultContext
from vault.custody.service import anchor_latest_checkpoint
from vault.custody.witness import parse_witnesses
from vault.custody.witnessing import timestamp_checkpoint, timestamp_due, witness_checkpoint
from vault.db import transaction, utcnow
from vault.timestamping import TimestampInvalid, TimestampUnavailable


def anchor_checkpoints(context: VaultContext) -> dict[str, Any]:
    """Sign what is unsigned, anchor the newest checkpoint if nothing did, send it to witnesses and daily to the TSA."""
    settings, summary = context.settings, dict[str, Any]()
    witnesses = parse_witnesses(settings.witnesses)
    if context.checkpoint_signer is not None:
        context.checkpoint_signer.sign_now()  # entries a process killed inside its signing window left unsigned
    with httpx.Client(timeout=settings.tsa_timeout_seconds) as client:
        with transaction(context.sessions) as session:  # witnesses' consistency proofs read the log's leaves
            anchored = anchor_latest_checkpoint(session=session, anchors=context.anchors)
            summary["anchored_tree_size"] = anchored.tree_size if anchored else None
            if anchored is not None and witnesses:
                summary["witnesses"] = witness_checkpoint(session=session, anchors=context.anchors,
                                                          anchored=anchored, witnesses=witnesses, client=client)
        if anchored is not None and settings.tsa_url and timestamp_due(context.anchors, utcnow()):
            ca_pem = settings.tsa_certificates_file.read_bytes() if settings.tsa_certificates_file else None
            try:
                summary["timestamp"] = timestamp_checkpoint(anchors=context.anchors, anchored=anchored,
                                                            url=settings.tsa_url, ca_pem=ca_pem, client=client)
            except (TimestampUnavailable, TimestampInvalid) as exc:
                summary["timestamp"] = f"failed: {exc.message}"
    return summary
