"""Cases (案件) and parties (当事人)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.cases.masking import mask_address, mask_bank_account, mask_id_number, mask_phone
from vault.cases.models import CaseStatus, CaseType, Party, PartyKind
from vault.cases.service import (
    PartyInput,
    add_case,
    add_party,
    change_case_status,
    find_case,
    masked_personal_data,
    parse_case_type,
)
from vault.context import VaultContext
from vault.errors import Conflict, InvalidInput
from vault.identities.models import Role

CASE_NUMBERS = ["阜应急罚字〔2023〕40号", "皖阜应急强〔2024〕3号", "(阜)应急检〔2025〕第0012号"]


@pytest.mark.parametrize("number", CASE_NUMBERS)
def test_unicode_case_numbers_round_trip(session: Session, make_person: Callable[..., Person], number: str) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    add_case(session=session, actor=manager.actor, case_number=f"  {number} ", case_type=CaseType.LICENSING)
    session.commit()
    assert find_case(session=session, case_number=number).case_number == number


def test_duplicate_case_number_conflicts(session: Session, make_person: Callable[..., Person]) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    add_case(session=session, actor=manager.actor, case_number=CASE_NUMBERS[0], case_type=CaseType.LICENSING)
    with pytest.raises(Conflict, match="already exists"):
        add_case(session=session, actor=manager.actor, case_number=CASE_NUMBERS[0],
                 case_type=CaseType.SIMPLE_PROCEDURE)


@pytest.mark.parametrize("bad", ["", "   ", "x" * 129, "阜应急\n罚字"])
def test_bad_case_numbers_are_refused(session: Session, make_person: Callable[..., Person], bad: str) -> None:
    with pytest.raises(InvalidInput, match="案号"):
        add_case(session=session, actor=make_person(Role.RECORDS_MANAGER).actor, case_number=bad,
                 case_type=CaseType.LICENSING)


def test_every_required_case_type_exists() -> None:
    for name in ("routine_inspection", "simple_procedure", "general_procedure_penalty", "administrative_coercion",
                 "licensing", "complaint_verification"):
        assert parse_case_type(name).value == name
    with pytest.raises(InvalidInput):
        parse_case_type("parking")


def test_case_lifecycle_records_close_and_archive_times(session: Session,
                                                        make_person: Callable[..., Person]) -> None:
    actor = make_person(Role.RECORDS_MANAGER).actor
    case = add_case(session=session, actor=actor, case_number="C-1", case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
    with pytest.raises(Conflict):
        change_case_status(session=session, actor=actor, case=case, status=CaseStatus.ARCHIVED)
    change_case_status(session=session, actor=actor, case=case, status=CaseStatus.CLOSED)
    change_case_status(session=session, actor=actor, case=case, status=CaseStatus.ARCHIVED)
    assert case.closed_at is not None and case.archived_at is not None


def test_personal_data_is_encrypted_at_rest_and_masked_on_display(
    context: VaultContext, session: Session, make_person: Callable[..., Person]
) -> None:
    actor = make_person(Role.RECORDS_MANAGER).actor
    party = add_party(session=session, actor=actor, cipher=context.cipher, data=PartyInput(
        kind=PartyKind.PERSON, name="陈某", id_number="341202198805061234", phone="13812345678",
        address="安徽省阜阳市颍州区清河路88号", bank_account="6222021234567890123"))
    session.commit()
    raw = session.execute(text("SELECT id_number_enc, phone_enc, address_enc FROM parties")).one()
    # Whole plaintexts only: a short digit run such as "138" turns up in random ciphertext by chance.
    plaintexts = ("341202198805061234", "13812345678", "安徽省阜阳市颍州区清河路88号", "清河路")
    assert all(plain not in value for value in raw for plain in plaintexts)
    shown = masked_personal_data(session.scalars(select(Party)).one(), context.cipher)
    assert shown == {"id_number": "341***********1234", "phone": "138****5678", "address": "安徽省阜阳市****",
                     "bank_account": "***************0123"}
    assert party.name == "陈某"


def test_masks_never_reveal_short_values() -> None:
    assert mask_id_number("1234") == "****"
    assert mask_phone("110") == "***"
    assert mask_address("北京") == "****"
    assert mask_bank_account("12") == "**"
