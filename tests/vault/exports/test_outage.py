"""An export during a store outage answers 503 before the archive starts, and no export is recorded."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tests.outage import OUTAGES, client_during_outage
from tests.vault.exports.conftest import CASE_NUMBER, World, approve
from vault.access.models import AccessPurpose
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.db import utcnow

TIMEOUT = 1.0


@pytest.mark.parametrize("outage", OUTAGES)
def test_an_export_during_an_outage_is_a_503_and_leaves_no_export_behind(
    settings: Settings, context: VaultContext, world: World, outage: str
) -> None:
    approve(context, world, world.records, utcnow(), purpose=AccessPurpose.LITIGATION)
    body = {"case_number": CASE_NUMBER, "purpose": "court", "recipient": "阜阳市中级人民法院",
            "evidence_ids": [str(i) for i in world.records]}
    with client_during_outage(settings, outage, timeout_seconds=TIMEOUT) as client:
        started = time.monotonic()
        response = client.post("/api/exports", json=body, headers=world.manager.headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (response.status_code, response.content[:200])
        assert response.json()["error"]["code"] == "storage_unavailable" and "retry-after" in response.headers
        assert elapsed < 3 * TIMEOUT + 2
        assert client.get("/api/exports", headers=world.manager.headers).json() == []
    with context.sessions() as session:  # the records were not logged as exported either
        logged = session.scalar(select(func.count()).select_from(CustodyEvent)
                                .where(CustodyEvent.action == CustodyAction.EVIDENCE_EXPORTED))
    assert logged == 0
