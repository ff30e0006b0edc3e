"""Call-up fixtures: the export world (a case, records, people) and a filing-review export to fulfil with."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from tests.vault.exports.conftest import World, approve, build
from tests.vault.exports.conftest import media as media
from tests.vault.exports.conftest import world as world
from vault.access.models import AccessPurpose
from vault.context import VaultContext
from vault.exports.models import ExportPurpose

MakeExport = Callable[..., uuid.UUID]


@pytest.fixture
def make_export(context: VaultContext, world: World, tmp_path: Path) -> MakeExport:
    """Approve and build one bundle of the world's case as the records manager; return its export id."""

    def make(at: datetime, *, purpose: ExportPurpose = ExportPurpose.FILING_REVIEW,
             records: list[uuid.UUID] | None = None) -> uuid.UUID:
        grant_purpose = {ExportPurpose.FILING_REVIEW: AccessPurpose.FILING_REVIEW,
                         ExportPurpose.COURT: AccessPurpose.LITIGATION}[purpose]
        approve(context, world, records or [*world.records, world.secret], at, purpose=grant_purpose)
        plan, _ = build(context, world, tmp_path / f"{uuid.uuid4()}.zip", at, purpose=purpose, records=records)
        return plan.export_id

    return make
