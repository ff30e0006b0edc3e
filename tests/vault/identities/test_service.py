"""Users, tokens and the handler registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from vault.identities.actor import SYSTEM
from vault.identities.certificates import certificate_valid_at
from vault.identities.models import ApiToken, CertificateStatus, Role
from vault.identities.service import (
    HandlerInput,
    add_handler,
    authenticate_token,
    bootstrap_admin,
    create_user,
    find_handler,
    import_handlers_csv,
    issue_token,
    parse_handler,
    parse_role,
    revoke_token,
)

CSV = """certificate_number,name,unit,category,valid_from,valid_until,status
14010219001,张伟,阜阳市应急管理局,安全生产,2022-01-01,2026-12-31,valid
14010219002,李娜,阜阳市应急管理局,安全生产,2021-06-01,2024-05-31,valid
14010219003,王强,阜阳市应急管理局,安全生产,2022-01-01,2027-12-31,suspended
"""


def test_token_is_stored_hashed_and_authenticates(session: Session) -> None:
    bootstrap = bootstrap_admin(session=session)
    assert bootstrap is not None
    admin, secret = bootstrap
    session.commit()
    assert authenticate_token(session=session, secret=secret).id == admin.id
    stored = session.scalars(select(ApiToken.token_sha256)).all()
    assert secret not in stored and all(len(digest) == 64 for digest in stored)


def test_bootstrap_admin_happens_once(session: Session) -> None:
    assert bootstrap_admin(session=session) is not None
    assert bootstrap_admin(session=session) is None


def test_unknown_and_revoked_tokens_are_refused(session: Session, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    with pytest.raises(Unauthenticated):
        authenticate_token(session=session, secret="evt_not-a-token")
    token = session.scalars(select(ApiToken).where(ApiToken.user_id == admin.user.id)).one()
    revoke_token(session=session, actor=admin.actor, token_id=token.id)
    session.commit()
    with pytest.raises(Unauthenticated):
        authenticate_token(session=session, secret=admin.token)


def test_only_admins_create_users(session: Session, make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER)
    with pytest.raises(PermissionDenied):
        create_user(session=session, actor=officer.actor, name="x", role=Role.ADMIN)


def test_user_names_are_unique(session: Session) -> None:
    create_user(session=session, actor=SYSTEM, name="zhang", role=Role.OFFICER)
    with pytest.raises(Conflict):
        create_user(session=session, actor=SYSTEM, name="zhang", role=Role.REVIEWER)


def test_unknown_role_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match="records_manager"):
        parse_role("superuser")


def test_user_links_to_a_registered_handler(session: Session) -> None:
    handler = add_handler(session=session, actor=SYSTEM, data=HandlerInput("1401", "张伟", date(2022, 1, 1),
                                                                            date(2026, 12, 31)))
    user = create_user(session=session, actor=SYSTEM, name="zw", role=Role.OFFICER, handler_certificate="1401")
    assert user.handler_id == handler.id
    with pytest.raises(NotFound, match="执法证号"):
        create_user(session=session, actor=SYSTEM, name="nobody", role=Role.OFFICER, handler_certificate="9999")


def test_csv_import_registers_every_row_with_validity(session: Session) -> None:
    handlers = import_handlers_csv(session=session, actor=SYSTEM, text="\ufeff" + CSV)
    assert [h.name for h in handlers] == ["张伟", "李娜", "王强"]
    zhang, li, wang = handlers
    assert certificate_valid_at(zhang, date(2025, 3, 1))
    assert not certificate_valid_at(li, date(2025, 3, 1))  # expired
    assert certificate_valid_at(li, date(2024, 5, 31))
    assert wang.status == CertificateStatus.SUSPENDED and not certificate_valid_at(wang, date(2025, 3, 1))


def test_csv_with_a_bad_date_imports_nothing(session: Session) -> None:
    bad = CSV + "14010219004,赵敏,阜阳市应急管理局,安全生产,2022-13-01,2027-12-31,valid\n"
    with pytest.raises(InvalidInput, match="line 5"):
        import_handlers_csv(session=session, actor=SYSTEM, text=bad)
    session.rollback()
    with pytest.raises(NotFound):
        find_handler(session=session, certificate_number="14010219001")


@pytest.mark.parametrize(("row", "message"), [
    ({"certificate_number": "1", "name": "a", "valid_from": "2024-01-01", "valid_until": "2023-01-01"}, "before"),
    ({"certificate_number": "1", "name": "a", "valid_from": "01/01/2024", "valid_until": "2025-01-01"}, "YYYY-MM-DD"),
    ({"certificate_number": "", "name": "a", "valid_from": "2024-01-01", "valid_until": "2025-01-01"}, "required"),
    ({"certificate_number": "1", "name": "a", "valid_from": "2024-01-01", "valid_until": "2025-01-01",
      "status": "lost"}, "status"),
])
def test_malformed_handler_rows_are_refused(row: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_handler(row)


def test_duplicate_certificate_number_conflicts(session: Session) -> None:
    data = HandlerInput("1401", "张伟", date(2022, 1, 1), date(2026, 12, 31))
    add_handler(session=session, actor=SYSTEM, data=data)
    with pytest.raises(Conflict):
        add_handler(session=session, actor=SYSTEM, data=data)


def test_users_may_issue_their_own_tokens_but_not_others(session: Session,
                                                         make_person: Callable[..., Person]) -> None:
    officer, other = make_person(Role.OFFICER), make_person(Role.REVIEWER)
    assert issue_token(session=session, actor=officer.actor, user=officer.user).startswith("evt_")
    with pytest.raises(PermissionDenied):
        issue_token(session=session, actor=officer.actor, user=other.user)
