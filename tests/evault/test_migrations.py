"""Migrations that rewrite stored rows: what they change, and what they refuse to guess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from evault.migrate import alembic_config, upgrade_database
from vault.cases.models import Case, CaseType
from vault.db import make_engine
from vault.errors import Conflict


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
