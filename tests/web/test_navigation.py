"""Every role's top bar leads only to pages that role can open (issue 14: "every role's daily work")."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from evault.web.navigation import NAVIGATION, links_for
from tests.web.conftest import WebPerson, sign_in
from vault.cases.models import CaseType
from vault.cases.service import add_case
from vault.context import VaultContext
from vault.identities.actor import SYSTEM
from vault.identities.models import Role


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_each_link_of_a_roles_top_bar_opens(client: TestClient, person: Callable[..., WebPerson], role: Role) -> None:
    who = person(role)
    assert sign_in(client, who.name, who.password) == 303
    home = client.get("/")
    for link in links_for(role.value):
        assert f'href="{link.path}"' in home.text, link.path
        answer = client.get(link.path)
        assert answer.status_code == 200, (link.path, answer.status_code)
    for link in NAVIGATION:
        if role.value not in link.roles:
            assert f'href="{link.path}"' not in home.text.split("</nav>")[0], link.path


@pytest.mark.parametrize(("role", "shown"), [(Role.RECORDS_MANAGER, True), (Role.REVIEWER, False)])
def test_a_case_page_leads_records_managers_to_edit_it_and_to_hold_it(
    client: TestClient, person: Callable[..., WebPerson], context: VaultContext, role: Role, shown: bool
) -> None:
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number="阜应急罚字〔2025〕7号",
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        session.commit()
        case_id = case.id
    who = person(role)
    sign_in(client, who.name, who.password)
    page = client.get(f"/cases/{case_id}").text
    assert (f'href="/cases/{case_id}/edit"' in page) is shown
    assert ('href="/retention/holds?case=' in page) is shown
    if shown:
        assert client.get(f"/cases/{case_id}/edit").status_code == 200
        assert client.get("/retention/holds", params={"case": "阜应急罚字〔2025〕7号"}).status_code == 200


@pytest.mark.parametrize(("role", "target"), [(Role.OFFICER, "/uploads?flagged=true"), (Role.OFFICER, "/upload"),
                                              (Role.RECORDS_MANAGER, "/retention")])
def test_the_home_page_leads_to_the_days_work(client: TestClient, person: Callable[..., WebPerson], role: Role,
                                              target: str) -> None:
    who = person(role)
    sign_in(client, who.name, who.password)
    body = client.get("/").text.split("</nav>", 1)[1]  # below the top bar
    assert f'href="{target}"' in body
    assert client.get(target).status_code == 200
