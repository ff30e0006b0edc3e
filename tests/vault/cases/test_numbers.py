"""A case number (案号) written with other brackets, widths or spaces names the same case.

Every stored record is labelled with its case number (`000` 第十一条), so `阜应急罚字〔2026〕7号`, `[2026]` and
`（2026）` must be one case, stored once in the regulations' spelling and found by any variant.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.cases.models import CaseType
from vault.cases.numbers import canonical_case_number
from vault.cases.service import add_case, find_case
from vault.errors import Conflict
from vault.identities.models import Role

CANONICAL = "阜应急罚字〔2026〕7号"
VARIANTS = [CANONICAL, "阜应急罚字[2026]7号", "阜应急罚字（2026）7号", "阜应急罚字(2026)7号", "阜应急罚字【2026】7号",
            "阜应急罚字［2026］7号", " 阜应急罚字 〔 2026 〕 7号 ", "阜应急罚字〔２０２６〕７号",
            "阜应急罚字\u3000[2026]7号"]


@pytest.mark.parametrize("given", VARIANTS)
def test_a_case_is_stored_in_the_regulations_spelling_and_every_variant_finds_it(
        session: Session, make_person: Callable[..., Person], given: str) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    case = add_case(session=session, actor=manager.actor, case_number=given, case_type=CaseType.LICENSING)
    session.commit()
    assert case.case_number == CANONICAL
    for variant in VARIANTS:
        assert find_case(session=session, case_number=variant).id == case.id
        with pytest.raises(Conflict, match="already exists"):
            add_case(session=session, actor=manager.actor, case_number=variant, case_type=CaseType.LICENSING)


def test_only_the_year_brackets_digits_and_spaces_change() -> None:
    assert canonical_case_number("(阜)应急检（2025）第００12号") == "(阜)应急检〔2025〕第0012号"
    assert canonical_case_number("皖阜应急强〔2024〕3号") == "皖阜应急强〔2024〕3号"
    assert canonical_case_number("阜应急罚字(26)7号") == "阜应急罚字(26)7号"  # not a year: left as written


def test_every_lookup_over_http_accepts_any_variant(client: TestClient, make_person: Callable[..., Person]) -> None:
    manager, auditor = make_person(Role.RECORDS_MANAGER), make_person(Role.AUDITOR)
    made = client.post("/api/cases", headers=manager.headers,
                       json={"case_number": "阜应急罚字[2026]7号", "case_type": "licensing"})
    assert made.status_code == 201 and made.json()["case_number"] == CANONICAL
    again = client.post("/api/cases", headers=manager.headers,
                        json={"case_number": "阜应急罚字（2026）7号", "case_type": "licensing"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    found = client.get("/api/cases", headers=manager.headers, params={"case_number": "阜应急罚字【2026】7号"})
    assert [c["id"] for c in found.json()] == [made.json()["id"]]
    party = client.post("/api/parties", headers=manager.headers,
                        json={"kind": "organisation", "name": "某某公司", "case_number": "阜应急罚字(2026)7号"})
    assert party.status_code == 201, party.text
    for path, who in (("/api/evidence", manager), ("/api/exports", manager), ("/api/access/trail", auditor),
                      ("/api/access/trail.csv", auditor), ("/api/ingest/gaps", manager)):
        response = client.get(path, headers=who.headers, params={"case_number": "阜应急罚字［２０２６］７号"})
        assert response.status_code == 200, (path, response.text)
    trail = client.get("/api/access/trail.html", headers=auditor.headers, params={"case_number": "阜应急罚字[2026]7号"})
    assert trail.status_code == 200 and CANONICAL in trail.text
