"""Migrations that rewrite stored rows: what they change, and what they refuse to guess."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from evault.migrate import alembic_config, upgrade_database
from retention.disposition import approve_disposal, propose_disposal
from retention.models import DisposalRequest
from tests.conftest import Person
from tests.retention.conftest import People, due_records
from vault.cases.models import Case, CaseType
from vault.context import VaultContext
from vault.db import make_engine, utcnow
from vault.errors import Conflict
from vault.identities.certificates import certificate_valid_at
from vault.identities.models import CertificateChange, Handler, Role
from vault.storage.base import BlobStore


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Return an engine on a catalog whose cases branch is one step short of canonical case numbers."""
    made = make_engine(database_url)
    config = alembic_config(database_url)
    with made.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008_case_number_canonical-1")
    yield made
    made.dispose()


def _store_as_typed(engine: Engine, *numbers: str) -> None:
    with Session(engine) as session:
        session.add_all(Case(case_number=n, case_type=CaseType.LICENSING) for n in numbers)
        session.commit()


def _numbers(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(Case.case_number)))


def test_existing_case_numbers_are_rewritten_in_the_canonical_spelling(engine: Engine) -> None:
    # Records are labelled with their case number (`000` 第十一条): one case, one spelling.
    _store_as_typed(engine, "阜应急罚字[2026]7号", "阜应急罚字（２０２６）8号", "阜应急罚字〔2026〕9号",
                    "(阜)应急检〔2025〕第0012号")
    upgrade_database(engine)
    assert _numbers(engine) == ["(阜)应急检〔2025〕第0012号", "阜应急罚字〔2026〕7号", "阜应急罚字〔2026〕8号",
                                "阜应急罚字〔2026〕9号"]


def test_two_cases_that_would_become_one_stop_the_upgrade_naming_both(engine: Engine) -> None:
    _store_as_typed(engine, "阜应急罚字〔2026〕7号", "阜应急罚字[2026]7号", "阜应急罚字(2026)8号")
    with pytest.raises(Conflict) as refused:
        upgrade_database(engine)
    assert "'阜应急罚字〔2026〕7号'" in refused.value.message and "'阜应急罚字[2026]7号'" in refused.value.message
    assert _numbers(engine) == ["阜应急罚字(2026)8号", "阜应急罚字[2026]7号", "阜应急罚字〔2026〕7号"]  # untouched


def test_the_disposal_window_downgrades_to_waiting_for_approval_and_back(
    context: VaultContext, session: Session, store: BlobStore, make_person: Callable[..., Person]
) -> None:
    # An older release would destroy an approved disposal at once: in its schema it waits for approval again.
    people = People(officer=make_person(Role.OFFICER, certificate="14010219001"),
                    manager=make_person(Role.RECORDS_MANAGER), second_manager=make_person(Role.RECORDS_MANAGER),
                    approver=make_person(Role.APPROVER), auditor=make_person(Role.AUDITOR))
    [record] = due_records(session, store, people, 1)
    request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                               now=utcnow(), store=store)
    approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=utcnow(), store=store,
                     signer=context.signer, recovery_days=7)
    session.commit()
    session.close()
    url = context.settings.resolved_database_url
    config = alembic_config(url)
    with context.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015_disposal_window-1")
    with context.engine.connect() as connection:
        row = connection.execute(text("SELECT status, approved_by FROM disposal_requests")).one()
        state = connection.execute(text("SELECT queue_state FROM retention_states")).scalar_one()
    assert (tuple(row), state) == (("pending", None), "proposed")
    upgrade_database(context.engine)
    assert session.get(DisposalRequest, request.id).destroy_after is None  # type: ignore[union-attr]


def test_existing_handlers_get_a_history_that_keeps_their_validity(database_url: str) -> None:
    # A handler without a valid certificate at capture time is flagged (`001` 第十五、十六条): upgrading must not
    # make a suspended or revoked certificate valid on any day, nor a valid one invalid.
    made = make_engine(database_url)
    config = alembic_config(database_url)
    with made.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014_people-1")
    with made.begin() as connection:
        for number, status in (("1401", "valid"), ("1402", "suspended"), ("1403", "revoked")):
            connection.execute(Handler.__table__.insert().values(
                id=uuid.uuid4(), certificate_number=number, name="张伟", unit="", category="", status=status,
                valid_from=date(2022, 1, 1), valid_until=date(2026, 12, 31), created_at=datetime.now(UTC)))
    upgrade_database(made)
    with Session(made) as session:
        handlers = {h.certificate_number: h for h in session.scalars(select(Handler))}
        assert [e.kind for e in handlers["1402"].certificate_changes] == [CertificateChange.ISSUED,
                                                                           CertificateChange.SUSPENDED]
        assert [certificate_valid_at(handlers[n], date(2025, 3, 1)) for n in ("1401", "1402", "1403")] == [
            True, False, False]
        assert not certificate_valid_at(handlers["1401"], date(2027, 1, 1))
    made.dispose()


def test_callups_migration_down_and_up_keeps_retained_copies_write_once(database_url: str) -> None:
    # The retained copy (复制留存, `000` 第十三条) stays write-once through adding and dropping withheld_ids.
    made = make_engine(database_url)
    before = _triggers(made)
    assert before
    config = alembic_config(database_url)
    with made.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013_callups-1")
    assert _triggers(made) == before
    assert "withheld_ids" not in {c["name"] for c in inspect(made).get_columns("export_copies")}
    assert "callups" not in inspect(made).get_table_names()
    upgrade_database(made)
    assert "withheld_ids" in {c["name"] for c in inspect(made).get_columns("access_requests")}
    assert _triggers(made) == before
    made.dispose()


def _triggers(engine: Engine) -> set[str]:
    query = ("SELECT tgname FROM pg_trigger WHERE tgrelid = 'export_copies'::regclass AND NOT tgisinternal"
             if engine.dialect.name == "postgresql"
             else "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'export_copies'")
    with engine.connect() as connection:
        return set(connection.scalars(text(query)))


def test_the_dock_tables_go_with_a_downgrade_and_come_back(database_url: str) -> None:
    made = make_engine(database_url)
    config = alembic_config(database_url)
    with made.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0023_dock_stations-1")
    assert not {"dock_stations", "dock_recorder_days"} & set(inspect(made).get_table_names())
    upgrade_database(made)
    assert {"dock_stations", "dock_recorder_days"} <= set(inspect(made).get_table_names())
    made.dispose()
