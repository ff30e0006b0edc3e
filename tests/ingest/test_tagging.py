"""Ingest tags a record with its case whatever brackets, widths or spaces the officer typed the case number
(案号) in: every record is labelled with its case number (`000` 第十一条)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.ingest.conftest import CaseFile, flags_of, ingest_file
from vault.cases.service import find_case
from vault.context import VaultContext

ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)


def test_a_variant_case_number_tags_the_case_at_ingest_and_on_retagging(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        media: dict[str, Path]) -> None:
    assert case_file.number == "阜应急罚字〔2023〕40号"
    evidence = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number="阜应急罚字（２０２３）40号",
                           party=case_file.party).evidence
    with context.sessions() as session:
        case_id = find_case(session=session, case_number=case_file.number).id
    assert evidence.case_id == case_id
    assert "unknown_case" not in flags_of(context, evidence.id)

    other = ingest_file(context, officer, media["clip2"], now=ON_TIME).evidence
    response = client.patch(f"/api/evidence/{other.id}/tags", headers=officer.headers,
                            json={"case_number": "阜应急罚字 [2023] 40号", "reason": "tagged after the inspection"})
    assert response.status_code == 200, response.text
    assert response.json()["case_number"] == case_file.number
    assert not {"unknown_case", "untagged_case"} & set(flags_of(context, other.id))
