"""Migrations that rewrite stored rows: what they change, and what they refuse to guess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, select
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
