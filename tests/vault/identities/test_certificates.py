"""Certificate (执法证) history: dated suspensions, revocations, renewals and corrections, replayed for validity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import Conflict, InvalidInput, PermissionDenied
from vault.identities.actor import SYSTEM
from vault.identities.certificates import (
    CertificateChangeInput,
    certificate_state,
    certificate_valid_at,
    change_certificate,
)
from vault.identities.models import CertificateChange, CertificateStatus, Handler, Role
from vault.identities.service import HandlerInput, add_handler, import_handlers_csv

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
Kind = CertificateChange


@pytest.fixture
def handler(session: Session) -> Handler:
    """Return 张伟, certificate 1401 valid 2022-01-01..2026-12-31."""
    made = add_handler(session=session, actor=SYSTEM,
                       data=HandlerInput("1401", "张伟", date(2022, 1, 1), date(2026, 12, 31)))
    session.commit()
    return made


def change(session: Session, handler: Handler, kind: CertificateChange, on: date, **fields: object) -> None:
    data = CertificateChangeInput(kind=kind, effective_on=on, reason=str(fields.pop("reason", "依规办理")),
                                  **fields)  # type: ignore[arg-type]
    change_certificate(session=session, actor=SYSTEM, handler=handler, change=data, now=NOW)


def valid_days(handler: Handler, *days: date) -> list[bool]:
    return [certificate_valid_at(handler, day) for day in days]


def test_a_suspension_holds_from_its_effective_day_until_reinstated(session: Session, handler: Handler) -> None:
    # A certificate can be suspended; a handler without a valid certificate may not act (`001` 第十五、十六条).
    change(session, handler, Kind.SUSPENDED, date(2025, 3, 1), reason="涉嫌违规执法，暂扣执法证")
    change(session, handler, Kind.REINSTATED, date(2025, 4, 1))
    assert valid_days(handler, date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 31), date(2025, 4, 1)) == [
        True, False, False, True]
    assert handler.status == CertificateStatus.VALID  # the latest recorded state
    state = certificate_state(handler, date(2025, 3, 15))
    assert state is not None and state.status == CertificateStatus.SUSPENDED


def test_a_revocation_is_final_and_leaves_earlier_days_valid(session: Session, handler: Handler) -> None:
    # A certificate can be revoked (`001` 第十五、十六条); recordings made before still had a valid certificate.
    change(session, handler, Kind.REVOKED, date(2025, 5, 1), reason="调离执法岗位，收回执法证")
    assert valid_days(handler, date(2025, 4, 30), date(2025, 5, 1), date(2026, 6, 1)) == [True, False, False]
    assert handler.status == CertificateStatus.REVOKED
    renewal = {"valid_until": date(2030, 1, 1)}
    for kind, fields in ((Kind.REINSTATED, {}), (Kind.SUSPENDED, {}), (Kind.RENEWED, renewal)):
        with pytest.raises(Conflict, match="already revoked"):
            change(session, handler, kind, date(2025, 6, 1), **fields)


def test_a_backdated_revocation_is_not_undone_by_a_later_reinstatement(session: Session, handler: Handler) -> None:
    change(session, handler, Kind.SUSPENDED, date(2025, 3, 1))
    change(session, handler, Kind.REINSTATED, date(2025, 4, 1))
    change(session, handler, Kind.REVOKED, date(2025, 3, 10), reason="暂扣期间查实，吊销")
    assert valid_days(handler, date(2025, 3, 5), date(2025, 4, 2)) == [False, False]


def test_a_renewal_opens_a_new_window_from_its_effective_day(session: Session, handler: Handler) -> None:
    # A certificate can expire (`001` 第十五条); a renewal (换证) starts a new validity window.
    change(session, handler, Kind.RENEWED, date(2027, 1, 1), valid_until=date(2031, 12, 31), reason="期满换证")
    assert valid_days(handler, date(2026, 12, 31), date(2027, 6, 1), date(2032, 1, 1)) == [True, True, False]
    assert (handler.valid_from, handler.valid_until) == (date(2027, 1, 1), date(2031, 12, 31))
    with pytest.raises(InvalidInput, match="valid_until"):
        change(session, handler, Kind.RENEWED, date(2027, 1, 1))


def test_a_renewal_after_expiry_leaves_the_gap_invalid(session: Session, handler: Handler) -> None:
    change(session, handler, Kind.RENEWED, date(2027, 3, 1), valid_until=date(2031, 12, 31))
    assert valid_days(handler, date(2027, 2, 1), date(2027, 3, 1)) == [False, True]


def test_a_correction_fixes_the_window_and_voids_an_entry_made_in_error(session: Session, handler: Handler) -> None:
    change(session, handler, Kind.CORRECTED, date(2022, 1, 1), valid_until=date(2025, 12, 31),
           reason="登记错误：有效期至2025-12-31")
    assert valid_days(handler, date(2025, 12, 31), date(2026, 1, 1)) == [True, False]
    change(session, handler, Kind.SUSPENDED, date(2025, 3, 1), reason="误录")
    wrong = handler.certificate_changes[-1]
    change(session, handler, Kind.CORRECTED, date(2025, 3, 1), voids=wrong.id, reason="暂扣系误录，予以更正")
    assert valid_days(handler, date(2025, 3, 15)) == [True]
    with pytest.raises(Conflict, match="already voided"):
        change(session, handler, Kind.CORRECTED, date(2025, 3, 1), voids=wrong.id)
    with pytest.raises(InvalidInput, match="issue entry"):
        change(session, handler, Kind.CORRECTED, date(2022, 1, 1), voids=handler.certificate_changes[0].id)
    with pytest.raises(InvalidInput, match="voids"):
        change(session, handler, Kind.CORRECTED, date(2022, 1, 1))


@pytest.mark.parametrize(("kind", "on", "fields", "error", "message"), [
    (Kind.SUSPENDED, date(2025, 3, 1), {"reason": "  "}, InvalidInput, "reason"),
    (Kind.ISSUED, date(2025, 3, 1), {}, InvalidInput, "registering"),
    (Kind.SUSPENDED, date(2021, 3, 1), {}, Conflict, "not yet issued"),
    (Kind.REINSTATED, date(2025, 3, 1), {}, Conflict, "was not suspended"),
    (Kind.RENEWED, date(2025, 3, 1), {"valid_from": date(2025, 3, 1), "valid_until": date(2025, 1, 1)},
     InvalidInput, "before"),
])
def test_changes_that_cannot_apply_are_refused(session: Session, handler: Handler, kind: CertificateChange, on: date,
                                               fields: dict[str, object], error: type[Exception],
                                               message: str) -> None:
    with pytest.raises(error, match=message):
        change(session, handler, kind, on, **fields)
    assert len(handler.certificate_changes) == 1


def test_a_second_suspension_while_suspended_is_refused(session: Session, handler: Handler) -> None:
    change(session, handler, Kind.SUSPENDED, date(2025, 3, 1))
    with pytest.raises(Conflict, match="already suspended"):
        change(session, handler, Kind.SUSPENDED, date(2025, 3, 5))


def test_every_change_is_in_the_history_and_the_custody_log(session: Session, handler: Handler) -> None:
    change(session, handler, Kind.SUSPENDED, date(2025, 3, 1), reason="暂扣")
    session.commit()
    kinds = [(e.kind, e.effective_on, e.reason, e.recorded_by) for e in handler.certificate_changes]
    assert kinds == [(Kind.ISSUED, date(2022, 1, 1), "registered", "system"),
                     (Kind.SUSPENDED, date(2025, 3, 1), "暂扣", "system")]
    logged = session.scalars(select(CustodyEvent).where(
        CustodyEvent.action == CustodyAction.HANDLER_CERTIFICATE_CHANGED.value)).one()
    assert logged.details["kind"] == "suspended" and logged.details["effective_on"] == "2025-03-01"
    assert logged.details["reason"] == "暂扣" and logged.details["certificate_number"] == "1401"


@pytest.mark.parametrize("role", [r for r in Role if r != Role.ADMIN])
def test_only_admins_change_certificates(session: Session, handler: Handler, make_person: Callable[..., Person],
                                         role: Role) -> None:
    person = make_person(role)
    with pytest.raises(PermissionDenied):
        change_certificate(session=session, actor=person.actor, handler=handler, now=NOW,
                           change=CertificateChangeInput(Kind.SUSPENDED, date(2025, 3, 1), "暂扣"))


def test_admins_change_certificates(session: Session, handler: Handler, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    event = change_certificate(session=session, actor=admin.actor, handler=handler, now=NOW,
                               change=CertificateChangeInput(Kind.SUSPENDED, date(2025, 3, 1), "暂扣"))
    assert event.recorded_by == admin.user.name and event.recorded_by_id == admin.user.id


def test_a_status_given_at_registration_holds_from_the_first_day(session: Session) -> None:
    (wang,) = import_handlers_csv(session=session, actor=SYSTEM, text=(
        "certificate_number,name,valid_from,valid_until,status\n1403,王强,2022-01-01,2027-12-31,suspended\n"))
    assert [e.kind for e in wang.certificate_changes] == [Kind.ISSUED, Kind.SUSPENDED]
    assert valid_days(wang, date(2022, 1, 1), date(2025, 3, 1)) == [False, False]
    change(session, wang, Kind.REINSTATED, date(2025, 1, 1))
    assert valid_days(wang, date(2024, 12, 31), date(2025, 1, 1)) == [False, True]
