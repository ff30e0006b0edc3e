"""Statistics for annual reports (issue 14, `004`): a seeded vault's counts, expected from the seed list itself."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from sqlalchemy.orm import Session

from evault.statistics import labels
from evault.statistics.periods import PeriodKind, make_period
from evault.statistics.service import Report, build_report
from evault.web.i18n import read_catalog
from evault.web.vocabulary import (
    ACCESS_PURPOSE_NAMES,
    ACTIVITY_NAMES,
    CASE_TYPE_NAMES,
    EXPORT_PURPOSE_NAMES,
    REQUEST_STATUS_NAMES,
    RETENTION_CLASS_NAMES,
)
from ingest.models import IngestRecord
from retention.models import DisposalCertificate, QueueState, RetentionClass, RetentionState
from tests.conftest import Person
from vault.access.models import AccessMode, AccessPurpose, AccessRequest, AccessRequestRecord, RequestStatus
from vault.cases.models import Case, CaseType
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import PermissionDenied
from vault.evidence.models import Evidence, EvidenceStatus
from vault.exports.models import ExportCopy, ExportPurpose
from vault.identities.models import Handler, Role

ZONE = ZoneInfo("Asia/Shanghai")
UNIT_A, UNIT_B = "执法一大队", "执法二大队"
HANDLERS = {"h1": ("张伟", "13010001", UNIT_A), "h2": ("李娜", "13010002", UNIT_A),
            "h3": ("王强", "13010003", UNIT_B), "h4": ("赵敏", "13010004", UNIT_B)}
CASES = {"c1": ("阜应急罚字〔2025〕1号", CaseType.GENERAL_PROCEDURE_PENALTY),
         "c2": ("阜应急检〔2025〕2号", CaseType.ROUTINE_INSPECTION),
         "c3": ("阜应急强〔2025〕3号", CaseType.ADMINISTRATIVE_COERCION)}


@dataclass(frozen=True)
class Seed:
    """One seeded record: local capture start, length, handlers, case, tags, retention."""

    key: str
    captured: str  # "YYYY-MM-DD HH:MM" in the agency's zone
    seconds: int
    handlers: tuple[str, ...]
    case: str | None
    activity: str | None
    informed: bool
    klass: str | None
    serial: str | None = None
    late: bool = False
    photo: bool = False
    due_in_days: int | None = None
    held: bool = False
    disposed_on: str | None = None  # local day its original was destroyed


SEEDS = (
    Seed("r1", "2025-01-01 00:30", 600, ("h1", "h2"), "c2", "inspection", True, "routine_inspection", "DSJ-A1"),
    Seed("r2", "2025-01-15 10:00", 1200, ("h1", "h2"), "c1", "questioning", True, "case_evidence", late=True),
    Seed("r3", "2025-03-04 09:00", 600, ("h1", "h2"), "c1", "inspection", True, "case_evidence", "DSJ-A2",
         due_in_days=10, held=True),
    Seed("r4", "2025-03-04 09:15", 600, ("h1", "h2"), "c1", "inspection", False, "case_evidence", "DSJ-A2"),
    Seed("r5", "2025-03-20 14:00", 0, ("h1",), "c1", "inspection", True, "case_evidence", photo=True),
    Seed("r6", "2025-06-10 08:00", 1800, ("h3", "h4"), "c3", "coercion", True, "long_term", late=True),
    Seed("r7", "2025-06-11 08:00", 900, ("h3", "h4"), None, "inspection", False, "routine_inspection", "DSJ-B1",
         due_in_days=30),
    Seed("r8", "2025-06-11 08:20", 900, ("h3", "h4"), None, "inspection", True, "routine_inspection", "DSJ-B1",
         due_in_days=60),
    Seed("r9", "2025-09-30 23:50", 300, ("h3",), "c3", "seizure", True, "long_term"),
    Seed("r10", "2025-12-31 23:30", 600, ("h3", "h4"), None, "other", True, "default", "DSJ-B2", late=True),
    Seed("r11", "2026-01-01 00:10", 600, ("h3", "h4"), None, "other", True, "default", "DSJ-B2"),
    Seed("r12", "2024-12-31 23:50", 600, ("h1", "h2"), "c2", "inspection", True, "routine_inspection",
         due_in_days=20),
    Seed("r13", "2024-05-01 10:00", 600, ("h1",), "c2", "inspection", True, "routine_inspection",
         disposed_on="2025-02-01"),
    Seed("r14", "2025-07-01 10:00", 600, ("h1", "h3"), "c1", "hearing", True, None, due_in_days=120),
    Seed("r15", "2025-08-08 08:08", 600, (), None, None, False, "default"),
    Seed("r16", "2024-03-01 10:00", 600, ("h4",), "c2", "inspection", True, "routine_inspection",
         disposed_on="2026-01-05"),
)
# (local filing time, purpose, decision, records)
REQUESTS = (
    ("2025-02-01 09:00", "legal_review", "approved", ("r2",)),
    ("2025-04-01 09:00", "reconsideration", "denied", ("r3",)),
    ("2025-07-01 09:00", "party_copy", "refused_by_rule", ("r6",)),
    ("2025-11-30 09:00", "litigation", "approved", ("r6", "r7")),
    ("2025-12-31 23:00", "filing_review", "pending", ("r10",)),
    ("2024-12-31 23:59", "investigation", "approved", ("r12",)),
)
# (local completion time, purpose, case, records)
EXPORTS = (
    ("2025-05-05 16:00", "court", "c1", ("r2", "r3")),
    ("2025-08-01 16:00", "party-copy", "c3", ("r6",)),
    ("2025-10-10 16:00", "reconsideration", "c1", ("r3", "r4", "r5")),
    ("2026-01-02 16:00", "court", "c1", ("r2",)),
)


def local(text: str) -> datetime:
    """Return a local "YYYY-MM-DD HH:MM" as an aware UTC time."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE).astimezone(UTC)


def record_id(key: str) -> uuid.UUID:
    """Return the seeded record's id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"statistics-seed/{key}")


def _evidence(seed: Seed, uploader: uuid.UUID, cases: dict[str, Case], handlers: dict[str, Handler]) -> Evidence:
    start = local(seed.captured)
    end = start + timedelta(seconds=seed.seconds)
    uploaded = end + (timedelta(days=3) if seed.late else timedelta(minutes=2))
    return Evidence(
        id=record_id(seed.key), sha256=hashlib.sha256(seed.key.encode()).hexdigest(), size=1000,
        media_type="image/jpeg" if seed.photo else "video/mp4", original_name=f"{seed.key}.mp4",
        storage_backend="local", storage_key=f"seed/{seed.key}", version_id="1",
        store_retain_until=end + timedelta(days=200), capture_start=start, capture_end=end,
        recorder_serial=seed.serial, uploader_id=uploader, uploaded_at=uploaded,
        case_id=cases[seed.case].id if seed.case else None, activity=seed.activity, party_informed=seed.informed,
        media_info={} if seed.photo else {"duration": float(seed.seconds), "video_codec": "h264"},
        status=EvidenceStatus.DISPOSED if seed.disposed_on else EvidenceStatus.STORED,
        handlers=[handlers[h] for h in seed.handlers])


def _retention(seed: Seed, now: datetime) -> RetentionState | None:
    if seed.klass is None:
        return None
    permanent = seed.klass == "long_term"
    until = None if permanent else now + timedelta(days=seed.due_in_days if seed.due_in_days else 400)
    return RetentionState(evidence_id=record_id(seed.key), retention_class=RetentionClass(seed.klass),
                          retain_until=until, permanent=permanent, held=seed.held,
                          queue_state=QueueState.DISPOSED if seed.disposed_on else QueueState.ACTIVE)


def _certificate(seed: Seed) -> DisposalCertificate:
    assert seed.disposed_on and seed.klass
    at = local(f"{seed.disposed_on} 10:00")
    return DisposalCertificate(
        evidence_id=record_id(seed.key), sha256=hashlib.sha256(seed.key.encode()).hexdigest(), size=1000,
        retention_class=seed.klass, retention_basis="6 个月", policy_version=1, proposed_by="records",
        proposed_at=at - timedelta(days=20), approved_by="approver", approved_at=at - timedelta(days=10),
        disposed_at=at, body="{}", key_id="k", signature="s")


def _export(number: int, row: tuple[str, str, str, tuple[str, ...]], cases: dict[str, Case]) -> ExportCopy:
    at, purpose, case, keys = row
    return ExportCopy(
        id=uuid.uuid4(), case_id=cases[case].id, purpose=ExportPurpose(purpose), recipient="某某人民法院",
        actor_name="records", created_at=local(at) - timedelta(minutes=5), completed_at=local(at),
        evidence_ids=[str(record_id(k)) for k in keys], record_count=len(keys), payload_bytes=1000,
        bundle_sha256=hashlib.sha256(f"bundle-{number}".encode()).hexdigest(), bundle_size=2000,
        bundle_name=f"bundle-{number}.zip", manifests={}, explanation_text="制作说明", signature="s", key_id="k",
        checkpoint_size=1, retained_key=f"exports/{number}", retained_version_id="1")


def seed_vault(context: VaultContext, uploader: Person, requester: Person, now: datetime) -> None:
    """Write the seed into the catalog (statistics read rows; the footage itself is not their subject)."""
    with context.sessions() as session:
        handlers = {key: Handler(certificate_number=cert, name=name, unit=unit, valid_from=date(2023, 1, 1),
                                 valid_until=date(2030, 12, 31)) for key, (name, cert, unit) in HANDLERS.items()}
        cases = {key: Case(case_number=number, case_type=kind) for key, (number, kind) in CASES.items()}
        session.add_all([*handlers.values(), *cases.values()])
        session.flush()
        for seed in SEEDS:
            evidence = _evidence(seed, uploader.user.id, cases, handlers)
            session.add(evidence)
            session.flush()
            if seed.key != "r15":  # r15 came without ingest's record: no handover deadline known
                assert evidence.capture_end is not None
                deadline = datetime.combine(evidence.capture_end.astimezone(ZONE).date() + timedelta(days=1),
                                            datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
                session.add(IngestRecord(evidence_id=evidence.id, handover_deadline=deadline))
            state = _retention(seed, now)
            if state is not None:
                session.add(state)
            if seed.disposed_on:
                session.add(_certificate(seed))
        for at, purpose, decision, keys in REQUESTS:
            session.add(AccessRequest(
                requester_id=requester.user.id, purpose=AccessPurpose(purpose), mode=AccessMode.VIEW,
                duration_hours=4, reason="统计测试", status=RequestStatus(decision), created_at=local(at),
                items=[AccessRequestRecord(evidence_id=record_id(k)) for k in keys]))
        session.add_all([_export(n, row, cases) for n, row in enumerate(EXPORTS)])
        session.commit()


def in_period(text: str, first: str, last: str) -> bool:
    """Return whether a local time's day lies in [first, last] (days as "YYYY-MM-DD")."""
    return first <= text[:10] <= last


def expected(first: str, last: str, unit: str | None = None, zone_now: datetime | None = None) -> dict[str, Any]:
    """Compute the report's numbers from the seed list alone."""
    units_of = {s.key: {HANDLERS[h][2] for h in s.handlers} for s in SEEDS}
    ours = {s.key for s in SEEDS if unit is None or unit in units_of[s.key]}
    records = [s for s in SEEDS if in_period(s.captured, first, last) and s.key in ours]
    keys = {s.key for s in records}
    gaps: list[float] = []
    for serial in {s.serial for s in SEEDS if s.serial}:
        line = sorted((s for s in SEEDS if s.serial == serial and not s.disposed_on), key=lambda s: s.captured)
        for before, after in pairwise(line):
            gap = (local(after.captured) - local(before.captured)).total_seconds() - before.seconds
            if gap > 1 and after.key in keys:
                gaps.append(gap)
    requests = [r for r in REQUESTS if in_period(r[0], first, last) and ours.intersection(r[3])]
    exports = [e for e in EXPORTS if in_period(e[0], first, last) and ours.intersection(e[3])]
    disposals = [s for s in SEEDS if s.disposed_on and in_period(s.disposed_on, first, last) and s.key in ours]
    due = [s for s in SEEDS if s.due_in_days is not None and s.due_in_days <= 90 and not s.held
           and not s.disposed_on and s.klass not in (None, "long_term") and s.key in ours]
    late = sum(s.late for s in records)
    informed = sum(s.informed for s in records)
    hours = round(sum(s.seconds for s in records if not s.photo) / 3600, 2)
    return {
        "summary": {
            "Records": len(records), "Hours of footage": hours, "Late handovers": late,
            "Late handovers (percent of records)": round(100 * late / len(records), 1) if records else 0.0,
            "Party informed": informed,
            "Party informed (percent of records)": round(100 * informed / len(records), 1) if records else 0.0,
            "Recording gaps": len(gaps), "Recording gaps (total seconds)": round(sum(gaps), 1),
            "Access requests": len(requests), "Exports": len(exports), "Disposals carried out": len(disposals),
            "Retention coming due in the next 90 days": len(due),
        },
        "by_class": Counter(s.klass or "none" for s in records),
        "by_case_type": Counter(CASES[s.case][1].value if s.case else "none" for s in records),
        "by_activity": Counter(s.activity or "none" for s in records),
        "by_unit": Counter(u for s in records for u in (units_of[s.key] or {"none"})),
        "by_handler": Counter(HANDLERS[h][0] for s in records for h in s.handlers),
        "by_month": Counter(s.captured[:7] for s in records),
        "access_by_purpose": Counter(r[1] for r in requests),
        "access_by_decision": Counter(r[2] for r in requests),
        "exports_by_purpose": Counter(e[1] for e in exports),
        "exports_records": Counter({e[1]: 0 for e in exports}) + Counter(
            {p: sum(len(e[3]) for e in exports if e[1] == p) for p in {e[1] for e in exports}}),
        "disposals_by_class": Counter(s.klass for s in disposals),
        "due_by_class": Counter(s.klass for s in due),
    }


def _name(mapping: dict[str, str], key: str, missing: str) -> str:
    return missing if key == "none" else mapping[key]


def expected_tables(first: str, last: str, unit: str | None = None) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Return the expected non-zero rows of every table, keyed by row label (message id or name)."""
    found = expected(first, last, unit)
    certificate = {name: cert for name, cert, _unit in HANDLERS.values()}
    unit_of = {name: u for name, _cert, u in HANDLERS.values()}
    tables: dict[str, dict[str, tuple[Any, ...]]] = {
        "summary": {label: (value,) for label, value in found["summary"].items()},
        "by_class": {_name(RETENTION_CLASS_NAMES, k, labels.NOT_CLASSIFIED): (n,)
                     for k, n in found["by_class"].items()},
        "by_case_type": {_name(CASE_TYPE_NAMES, k, labels.NO_CASE): (n,) for k, n in found["by_case_type"].items()},
        "by_activity": {_name(ACTIVITY_NAMES, k, labels.NOT_GIVEN): (n,) for k, n in found["by_activity"].items()},
        "by_unit": {labels.NO_UNIT if k == "none" else k: (n,) for k, n in found["by_unit"].items()},
        "by_handler": {f"{k} ({certificate[k]})": (unit_of[k], n) for k, n in found["by_handler"].items()},
        "access_by_purpose": {ACCESS_PURPOSE_NAMES[k]: (n,) for k, n in found["access_by_purpose"].items()},
        "access_by_decision": {REQUEST_STATUS_NAMES[k]: (n,) for k, n in found["access_by_decision"].items()},
        "exports_by_purpose": {EXPORT_PURPOSE_NAMES[k]: (n, found["exports_records"][k])
                               for k, n in found["exports_by_purpose"].items()},
        "disposals_by_class": {RETENTION_CLASS_NAMES[k]: (n,) for k, n in found["disposals_by_class"].items()},
        "due_by_class": {RETENTION_CLASS_NAMES[k]: (n,) for k, n in found["due_by_class"].items()},
    }
    months = found["by_month"]
    tables["by_month"] = {m: (n, round(sum(s.seconds for s in SEEDS if s.captured.startswith(m) and not s.photo
                                            and (unit is None or unit in {HANDLERS[h][2] for h in s.handlers}))
                                        / 3600, 2)) for m, n in months.items()}
    return tables


def non_zero(report: Report) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Return the report's rows that count something (the summary whole), keyed like expected_tables."""
    return {t.key: {r.label: r.values for r in t.rows
                    if t.key == "summary" or any(v for v in r.values if not isinstance(v, str))}
            for t in report.tables}


@pytest.fixture
def seeded(context: VaultContext, make_person: Callable[..., Person]) -> datetime:
    """Seed the vault; return the 'now' retention coming due was counted from."""
    now = utcnow()
    seed_vault(context, make_person(Role.OFFICER), make_person(Role.REVIEWER), now)
    return now


def report_of(session: Session, actor: Any, kind: PeriodKind, year: int, number: int | None = None,
              unit: str | None = None, now: datetime | None = None) -> Report:
    """Build a report as the page does."""
    return build_report(session=session, actor=actor, period=make_period(kind, year, number), unit=unit,
                        now=now or utcnow(), zone=ZONE, gap_tolerance=timedelta(seconds=1))


@pytest.mark.parametrize(("kind", "number", "first", "last"), [
    (PeriodKind.YEAR, None, "2025-01-01", "2025-12-31"),
    (PeriodKind.QUARTER, 2, "2025-04-01", "2025-06-30"),
    (PeriodKind.QUARTER, 3, "2025-07-01", "2025-09-30"),
    (PeriodKind.MONTH, 3, "2025-03-01", "2025-03-31"),
])
@pytest.mark.parametrize("unit", [None, UNIT_A, UNIT_B])
def test_the_report_counts_what_the_seed_says(
    session: Session, seeded: datetime, make_person: Callable[..., Person], kind: PeriodKind, number: int | None,
    first: str, last: str, unit: str | None,
) -> None:
    auditor = make_person(Role.AUDITOR)
    report = report_of(session, auditor.actor, kind, 2025, number, unit, seeded)
    assert non_zero(report) == expected_tables(first, last, unit)


def test_period_edges_are_the_agencys_days(session: Session, seeded: datetime,
                                           make_person: Callable[..., Person]) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    year = report_of(session, manager.actor, PeriodKind.YEAR, 2025, now=seeded)
    months = {r.label: r.values[0] for r in year.table("by_month").rows}
    # 23:30 on 31 December (15:30 UTC) is 2025's; 00:30 on 1 January (16:30 UTC on 31 Dec 2024) too.
    assert months["2025-12"] == 1 and months["2025-01"] == 2
    assert list(months) == [f"2025-{m:02d}" for m in range(1, 13)]
    # The gap from r10 into r11 (30 minutes across midnight) belongs to 2026, whose record comes after it.
    summary = {r.label: r.values[0] for r in year.table("summary").rows}
    assert (summary["Records"], summary["Recording gaps"], summary["Recording gaps (total seconds)"]) == (12, 2, 600.0)
    assert (summary["Late handovers"], summary["Late handovers (percent of records)"]) == (3, 25.0)
    next_year = report_of(session, manager.actor, PeriodKind.YEAR, 2026, now=seeded)
    assert next_year.table("summary").value("Recording gaps (total seconds)") == 1800.0
    assert next_year.table("summary").value("Records") == 1


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.ADMIN])
def test_only_records_managers_and_auditors_see_statistics(session: Session, make_person: Callable[..., Person],
                                                           role: Role) -> None:
    with pytest.raises(PermissionDenied):
        report_of(session, make_person(role).actor, PeriodKind.YEAR, 2025)


def test_the_reports_words_have_chinese_translations() -> None:
    catalog = read_catalog("zh_CN")
    folder = str(Path(labels.__file__).parent)
    missing = [message for _f, _l, message, _c, _x in extract_from_dir(folder, method_map=[("**.py", "python")])
               if isinstance(message, str) and not (catalog.get(message) and catalog[message].string)]
    assert not missing

