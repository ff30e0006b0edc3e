"""Footage for the client's tests: a clip made once with ffmpeg, an officer, a case with a party and handlers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.ingest.conftest import CaseFile
from tests.media import make_video
from vault.cases.models import CaseType, PartyKind
from vault.cases.service import PartyInput, add_case, add_party
from vault.context import VaultContext
from vault.identities.actor import SYSTEM
from vault.identities.service import HandlerInput, add_handler

CASE = "阜应急罚字〔2023〕40号"


def make_clip(folder: Path, *, seconds: float = 2.0) -> Path:
    """Make a short recorder clip captured 2025-03-30 06:00 UTC."""
    return make_video(folder / "clip.mp4", seconds=seconds, creation_time="2025-03-30T06:00:00Z")


def make_case_file(context: VaultContext) -> CaseFile:
    """Create the case with party 某某化工有限公司 and handlers C002 (valid) and C009 (expired)."""
    party = "某某化工有限公司"
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=CASE, case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case,
                  data=PartyInput(kind=PartyKind.ORGANISATION, name=party))
        add_handler(session=session, actor=SYSTEM, data=HandlerInput("C002", "李四", date(2023, 1, 1),
                                                                     date(2030, 12, 31)))
        add_handler(session=session, actor=SYSTEM, data=HandlerInput("C009", "王五", date(2020, 1, 1),
                                                                     date(2024, 12, 31)))
        session.commit()
    return CaseFile(CASE, party)
