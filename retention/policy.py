"""Retention policy values and the pure function that turns a record's facts into its retain-until."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from retention.models import MarkerKind, RetentionClass
from vault.cases.models import CASE_TYPE_LABELS, CaseStatus, CaseType

SHIPPED_CASE_FILE_YEARS: dict[str, int | None] = {
    CaseType.SIMPLE_PROCEDURE.value: 10,
    CaseType.GENERAL_PROCEDURE_PENALTY.value: 30,
    CaseType.ADMINISTRATIVE_COERCION.value: 30,
    CaseType.LICENSING.value: 30,
    CaseType.COMPLAINT_VERIFICATION.value: 10,
}
"""Case-file retention (案卷保存期限) per case type in years; None = permanent; absent = no case-file rule."""

MARKER_LABELS: dict[MarkerKind, str] = {
    MarkerKind.COERCIVE_ENFORCEMENT: "coercive enforcement against the party (强制执行)",
    MarkerKind.DISPUTED_ENFORCEMENT: "the party disputes the on-site enforcement (对现场执法有异议)",
    MarkerKind.OBSTRUCTION_OF_OFFICERS: (
        "refusal, obstruction, abuse or assault of officers (拒绝、阻挠、辱骂、殴打执法人员)"
    ),
    MarkerKind.OTHER: "other case needing long-term preservation (其他需要长期保存的情形)",
}

INSPECTION_ACTIVITIES = frozenset({"inspection"})


@dataclass(frozen=True)
class RetentionPolicy:
    """One version of the agency's retention rules; every number is a shipped default an agency can change."""

    version: int = 0
    effective_from: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    routine_inspection_months: int = 6
    default_years: int = 5
    case_file_years: Mapping[str, int | None] = field(default_factory=lambda: dict(SHIPPED_CASE_FILE_YEARS))
    reminder_days: int = 30
    fixity_cycle_days: int = 90
    # An indefinite retention is held at the store by a rolling COMPLIANCE lock this many years ahead,
    # renewed by the reconciliation job; a 100-year lock could never be undone once the case is archived.
    indefinite_store_years: int = 10
    archiving_working_days: int = 30

    def rules(self) -> dict[str, Any]:
        """Return the rule values as JSON for the policy table."""
        return {
            "routine_inspection_months": self.routine_inspection_months,
            "default_years": self.default_years,
            "case_file_years": dict(self.case_file_years),
            "reminder_days": self.reminder_days,
            "fixity_cycle_days": self.fixity_cycle_days,
            "indefinite_store_years": self.indefinite_store_years,
            "archiving_working_days": self.archiving_working_days,
        }

    @classmethod
    def from_rules(cls, version: int, effective_from: datetime, rules: Mapping[str, Any]) -> RetentionPolicy:
        """Build a policy from stored rules, shipped defaults filling anything missing.

        Case types shipped after the rules were saved get their shipped case-file retention underneath.
        """
        known = {k: v for k, v in rules.items() if k in cls.__dataclass_fields__ and k not in {"version"}}
        if isinstance(known.get("case_file_years"), Mapping):
            known["case_file_years"] = {**SHIPPED_CASE_FILE_YEARS, **known["case_file_years"]}
        return replace(cls(), version=version, effective_from=effective_from, **known)


SHIPPED_POLICY = RetentionPolicy()


@dataclass(frozen=True)
class CaseFacts:
    """What retention needs to know about the record's case."""

    case_number: str
    case_type: str
    status: str
    archived_at: datetime | None = None
    markers: tuple[MarkerKind, ...] = ()


@dataclass(frozen=True)
class RecordFacts:
    """Everything a record's retention depends on, as plain values."""

    evidence_id: uuid.UUID
    clock_start: datetime
    activity: str | None = None
    case: CaseFacts | None = None
    markers: tuple[MarkerKind, ...] = ()
    explicit_class: RetentionClass | None = None
    floor_until: datetime | None = None
    floor_permanent: bool = False
    store_retain_until: datetime | None = None


@dataclass(frozen=True)
class RetentionDecision:
    """The outcome: retain_until None means indefinite (open case) or permanent."""

    retention_class: RetentionClass
    retain_until: datetime | None
    permanent: bool
    reason: str
    policy_version: int


@dataclass(frozen=True)
class _Rule:
    until: datetime | None  # None: indefinite
    basis: str
    permanent: bool = False


def add_months(moment: datetime, months: int) -> datetime:
    """Return moment plus calendar months; a missing day rolls forward to the next month, never back."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    try:
        return moment.replace(year=year, month=month)
    except ValueError:
        first_next = moment.replace(year=year + month // 12, month=month % 12 + 1, day=1)
        return first_next


def add_years(moment: datetime, years: int) -> datetime:
    """Return moment plus calendar years (29 February rolls forward to 1 March)."""
    return add_months(moment, 12 * years)


def _day(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def base_class(facts: RecordFacts, policy: RetentionPolicy) -> RetentionClass:
    """Return the record's class before long-term markers: explicit, case evidence, inspection or default."""
    if facts.explicit_class is not None:
        return facts.explicit_class
    if facts.case is not None and facts.case.case_type in policy.case_file_years:
        return RetentionClass.CASE_EVIDENCE
    inspection_case = facts.case is not None and facts.case.case_type == CaseType.ROUTINE_INSPECTION.value
    if inspection_case or (facts.activity or "").lower() in INSPECTION_ACTIVITIES:
        return RetentionClass.ROUTINE_INSPECTION
    return RetentionClass.DEFAULT


def _class_rule(klass: RetentionClass, facts: RecordFacts, policy: RetentionPolicy, zone: tzinfo) -> _Rule:
    started = _day(facts.clock_start, zone).isoformat()
    if klass is RetentionClass.ROUTINE_INSPECTION:
        months = policy.routine_inspection_months
        until = add_months(facts.clock_start, months)
        return _Rule(until, f"routine inspection footage (日常检查), recorded {started}, {months} months")
    if klass is RetentionClass.LONG_TERM:
        return _Rule(None, "reclassified for long-term preservation (长期保存)", permanent=True)
    years = policy.default_years
    return _Rule(add_years(facts.clock_start, years), f"default class, recorded {started}, {years} years")


def _case_rule(case: CaseFacts, policy: RetentionPolicy, zone: tzinfo) -> _Rule | None:
    if case.case_type not in policy.case_file_years:
        return None
    years = policy.case_file_years[case.case_type]
    head = f"case {case.case_number}, {CASE_TYPE_LABELS.get(case.case_type, case.case_type)}"  # type: ignore[call-overload]
    if case.status != CaseStatus.ARCHIVED.value or case.archived_at is None:
        return _Rule(None, f"{head}, {case.status}: the case file's retention (案卷保存期限) counts from archiving")
    archived = _day(case.archived_at, zone).isoformat()
    if years is None:
        return _Rule(None, f"{head}, archived {archived}, permanent case file", permanent=True)
    return _Rule(add_years(case.archived_at, years), f"{head}, archived {archived}, {years} years")


def _marker_rules(facts: RecordFacts) -> list[_Rule]:
    rules = [_Rule(None, f"{MARKER_LABELS[m]} marked on the record", permanent=True) for m in facts.markers]
    if facts.case is not None:
        rules += [
            _Rule(None, f"{MARKER_LABELS[m]} marked on case {facts.case.case_number}", permanent=True)
            for m in facts.case.markers
        ]
    return rules


def _floor_rules(facts: RecordFacts, zone: tzinfo) -> list[_Rule]:
    rules: list[_Rule] = []
    if facts.floor_permanent:
        rules.append(_Rule(None, "earlier long-term preservation; only an approved reclassification ends it", True))
    if facts.floor_until is not None:
        rules.append(_Rule(facts.floor_until, "an earlier retention already promised; retention never shortens itself"))
    if facts.store_retain_until is not None:
        until = _day(facts.store_retain_until, zone).isoformat()
        rules.append(_Rule(facts.store_retain_until, f"the store's own lock (Object Lock) runs until {until}"))
    return rules


def compute_retention(
    facts: RecordFacts, policy: RetentionPolicy, now: datetime, *, zone: tzinfo = UTC
) -> RetentionDecision:
    """Return the longest retention of every rule that applies to the record, and why (pure: no I/O)."""
    klass = base_class(facts, policy)
    rules = [_class_rule(klass, facts, policy, zone)]
    if facts.case is not None and (case_rule := _case_rule(facts.case, policy, zone)) is not None:
        rules.append(case_rule)
    rules += _marker_rules(facts) + _floor_rules(facts, zone)
    permanent = [r for r in rules if r.permanent]
    if permanent:
        reason = "kept permanently (长期保存) because: " + "; ".join(r.basis for r in permanent)
        return RetentionDecision(RetentionClass.LONG_TERM, None, True, reason, policy.version)
    indefinite = [r for r in rules if r.until is None]
    if indefinite:
        reason = "kept indefinitely because: " + "; ".join(r.basis for r in indefinite)
        return RetentionDecision(klass, None, False, reason, policy.version)
    longest = max(rules, key=lambda r: r.until or now)
    assert longest.until is not None
    reason = f"kept until {_day(longest.until, zone).isoformat()} because: {longest.basis}"
    return RetentionDecision(klass, longest.until, False, reason, policy.version)


@dataclass(frozen=True)
class ClassRule:
    """One line of the policy table: a retention class (or case type), its period, what it counts from, its source."""

    key: str
    setting: str | None  # the rule value that sets the period; None: not a number (long-term preservation)
    case_type: str | None
    period: int | None  # None with a setting: permanent
    unit: str  # "months", "years" or "permanent"
    counts_from: str  # "recording", "archiving" or "marking"
    source: str
    minimum: int | None = None


def describe_classes(policy: RetentionPolicy, minimums: Mapping[str, int]) -> list[ClassRule]:
    """Return the policy's retention classes in the order the regulations list them, with their sources."""
    rows = [ClassRule("routine_inspection", "routine_inspection_months", None, policy.routine_inspection_months,
                      "months", "recording", "000 第十一条", minimums.get("routine_inspection_months"))]
    for case_type, years in policy.case_file_years.items():
        rows.append(ClassRule(f"case_evidence.{case_type}", "case_file_years", case_type, years,
                              "permanent" if years is None else "years", "archiving", "000 第十一条"))
    rows.append(ClassRule("long_term", None, None, None, "permanent", "marking", "003 第二十二条"))
    rows.append(ClassRule("default", "default_years", None, policy.default_years, "years", "recording",
                          "003 第二十三条", minimums.get("default_years")))
    return rows
