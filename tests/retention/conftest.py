"""Retention fixtures: people of each role, records on a real store, and a local store with a movable clock."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.cases.models import Case, CaseType
from vault.cases.service import add_case
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.models import Role
from vault.storage.base import BlobStore
from vault.storage.local import LocalBlobStore

CASE_NUMBER = "阜应急罚字〔2023〕40号"


@dataclass
class Clock:
    """A clock tests move by hand; the clocked store asks it for the time."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward and return the new time."""
        self.now += timedelta(**delta)
        return self.now


@dataclass
class People:
    """One user of each role retention deals with."""

    officer: Person
    manager: Person
    second_manager: Person
    approver: Person
    auditor: Person


@pytest.fixture
def people(make_person: Callable[..., Person]) -> People:
    """Return an officer, two records managers, an approver and an auditor."""
    return People(officer=make_person(Role.OFFICER, certificate="14010219001"),
                  manager=make_person(Role.RECORDS_MANAGER), second_manager=make_person(Role.RECORDS_MANAGER),
                  approver=make_person(Role.APPROVER), auditor=make_person(Role.AUDITOR))


@pytest.fixture
def clock() -> Clock:
    """Return a clock starting at the real current time (stores refuse locks in their own past)."""
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def clocked_context(settings: Settings, clock: Clock) -> Iterator[VaultContext]:
    """Return a vault context on a local store that enforces its locks by the test's clock (time travel)."""
    ctx = build_context(settings, store=LocalBlobStore(settings.objects_dir / "clocked", clock=clock))
    yield ctx
    ctx.close()


RecordMaker = Callable[..., Evidence]


def put_record(
    session: Session, store: BlobStore, officer: Person, *, captured: datetime, lock_until: datetime,
    case: Case | None = None, activity: str | None = None, uploaded: datetime | None = None,
) -> Evidence:
    """Store a few random bytes write-once and register them as a record captured at `captured`."""
    blob = store.put_stream(io.BytesIO(os.urandom(2048)), retain_until=lock_until)
    return register_evidence(
        session=session, actor=officer.actor, blob=blob, store_name=store.name, store_retain_until=lock_until,
        original_name="DSCF0001.MP4", media_type="video/mp4",
        tags=EvidenceTags(case=case, activity=activity, capture_start=captured, capture_end=captured),
        now=uploaded or captured)


def new_case(session: Session, manager: Person, *, case_type: CaseType = CaseType.GENERAL_PROCEDURE_PENALTY,
             number: str = CASE_NUMBER, opened: datetime | None = None) -> Case:
    """Create an open case."""
    return add_case(session=session, actor=manager.actor, case_number=number, case_type=case_type,
                    opened_at=opened)


def due_records(session: Session, store: BlobStore, people: People, count: int) -> list[Evidence]:
    """Store routine inspection records whose retention has ended and whose store lock runs out in 2 seconds."""
    now = datetime.now(UTC)
    lock = now + timedelta(seconds=2)
    records = [put_record(session, store, people.officer, captured=now - timedelta(days=400), lock_until=lock,
                          activity="inspection") for _ in range(count)]
    session.commit()
    while datetime.now(UTC) <= lock + timedelta(milliseconds=200):
        time.sleep(0.2)
    return records
