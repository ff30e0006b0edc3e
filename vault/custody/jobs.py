"""The custody log's scheduled job: anchor what a failed anchoring left behind, at least once a minute."""

from __future__ import annotations

from typing import Any

from vault.context import VaultContext
from vault.custody.service import anchor_latest_checkpoint
from vault.db import transaction


def anchor_checkpoints(context: VaultContext) -> dict[str, Any]:
    """Anchor the newest catalog checkpoint if the commit that signed it could not reach the store."""
    with transaction(context.sessions) as session:
        anchored = anchor_latest_checkpoint(session=session, anchors=context.anchors)
    return {"anchored_tree_size": anchored.tree_size if anchored else None}
