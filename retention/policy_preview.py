"""What a policy change would do, before anything is saved: the difference setting by setting, and the records
whose kept-until it would move earlier.

The preview checks the change with the very rules `set_policy` applies, so what it refuses submit refuses too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.models import RetentionClass, RetentionState
from retention.policy import RecordFacts, RetentionDecision, RetentionPolicy, compute_retention
from retention.service import (
    RETENTION_SETTINGS,
    checked_change,
    is_held,
    is_shorter_setting,
    record_facts,
)
from vault.cases.models import Case
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

PREVIEW_LIMIT = 50
# The settings a record's kept-until depends on; the others (reminders, store lock horizon) move no record.
PERIOD_SETTINGS = frozenset({"routine_inspection_months", "default_years", "case_file_years"})


@dataclass(frozen=True)
class RuleChange:
    """One setting (or one case type's case-file retention) before and after; None is permanent."""

    setting: str
    case_type: str | None
    old: int | None
    new: int | None
    shorter: bool


@dataclass(frozen=True)
class ShortenedRecord:
    """A record whose kept-until the change moves earlier; old_until None: kept indefinitely or permanently."""

    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    retention_class: RetentionClass
    old_until: datetime | None
    new_until: datetime
    due_at_once: bool
    held: bool


@dataclass(frozen=True)
class PolicyPreview:
    """The change as it would be submitted, and what it shortens; nothing of it is stored."""

    current: RetentionPolicy
    proposed: RetentionPolicy
    effective_from: datetime
    changes: list[RuleChange]
    needs_approval: bool
    shortened: list[ShortenedRecord]
    shortened_count: int
    due_count: int
    kept_by_promise: int

    @property
    def shortened_settings(self) -> list[RuleChange]:
        """Return the settings the change shortens."""
        return [c for c in self.changes if c.shorter]


def rule_changes(old: RetentionPolicy, new: RetentionPolicy) -> list[RuleChange]:
    """Return every setting that differs between two policies, case-file retention per case type."""
    before, after = old.rules(), new.rules()
    found: list[RuleChange] = []
    for name, value in after.items():
        if name == "case_file_years":
            found += [RuleChange(name, case_type, before[name].get(case_type), years,
                                 is_shorter_setting(before[name].get(case_type), years))
                      for case_type, years in value.items()
                      if case_type not in before[name] or before[name][case_type] != years]
        elif before.get(name) != value:
            found.append(RuleChange(name, None, before.get(name), value, is_shorter_setting(before.get(name), value)))
    return found


def _earlier(old: RetentionDecision, new: RetentionDecision) -> bool:
    if new.retain_until is None:
        return False
    return old.retain_until is None or new.retain_until < old.retain_until


def _both(facts: RecordFacts, base: RetentionPolicy, proposed: RetentionPolicy, at: datetime,
          zone: tzinfo) -> tuple[RetentionDecision, RetentionDecision]:
    return (compute_retention(facts, base, at, zone=zone), compute_retention(facts, proposed, at, zone=zone))


def _rules_alone(facts: RecordFacts) -> RecordFacts:
    """Return the facts without what was already promised (earlier retention, the store's lock)."""
    return replace(facts, floor_until=None, floor_permanent=False, store_retain_until=None)


def _live_records(session: Session) -> list[tuple[Evidence, RetentionState | None, str | None]]:
    query = (select(Evidence, RetentionState, Case.case_number)
             .outerjoin(RetentionState, RetentionState.evidence_id == Evidence.id)
             .outerjoin(Case, Case.id == Evidence.case_id)
             .where(Evidence.status != EvidenceStatus.DISPOSED).order_by(Evidence.uploaded_at, Evidence.id))
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def preview_policy_change(
    *, session: Session, actor: Actor, changes: dict[str, Any], effective_from: datetime, now: datetime,
    zone: tzinfo = UTC, limit: int = PREVIEW_LIMIT,
) -> PolicyPreview:
    """Check a change as set_policy would and work out what it shortens, storing and logging nothing.

    Each stored record is computed under the current and the proposed policy from the moment the change takes
    effect. A record whose retention was already computed keeps what it was promised (retention never shortens
    itself); those the rules alone would shorten are counted as kept_by_promise.
    """
    require(actor, Permission.MANAGE_RETENTION)
    base, rules = checked_change(session, changes, effective_from, now)
    proposed = RetentionPolicy.from_rules(base.version, effective_from, rules)
    shortened_names = {k for k, v in changes.items() if is_shorter_setting(base.rules().get(k), v)}
    moved: list[ShortenedRecord] = []
    kept = 0
    for evidence, state, case_number in _live_records(session) if set(changes) & PERIOD_SETTINGS else []:
        facts = record_facts(session, evidence, state)
        old, new = _both(facts, base, proposed, effective_from, zone)
        if _earlier(old, new):
            assert new.retain_until is not None
            moved.append(ShortenedRecord(evidence.id, evidence.original_name, case_number, old.retention_class,
                                         old.retain_until, new.retain_until, new.retain_until <= effective_from,
                                         is_held(session, evidence)))
        elif _earlier(*_both(_rules_alone(facts), base, proposed, effective_from, zone)):
            kept += 1
    moved.sort(key=lambda r: (r.new_until, str(r.evidence_id)))
    return PolicyPreview(current=base, proposed=proposed, effective_from=effective_from,
                         changes=rule_changes(base, proposed),
                         needs_approval=bool(shortened_names & RETENTION_SETTINGS), shortened=moved[:limit],
                         shortened_count=len(moved), due_count=sum(r.due_at_once for r in moved),
                         kept_by_promise=kept)


def requested_changes(base: RetentionPolicy, changes: dict[str, Any]) -> list[RuleChange]:
    """Return what a stored change request would change in base, setting by setting (no checks: for display)."""
    rules = {**base.rules(), **changes}
    rules["case_file_years"] = {**base.case_file_years, **(changes.get("case_file_years") or {})}
    return rule_changes(base, RetentionPolicy.from_rules(base.version, base.effective_from, rules))


def version_changes(versions: list[tuple[int, datetime, dict[str, Any]]]) -> dict[int, list[RuleChange]]:
    """Return, per stored version (number, effective_from, rules), what it changed from the one before it."""
    found, previous = {}, RetentionPolicy()
    for number, effective_from, rules in versions:
        policy = RetentionPolicy.from_rules(number, effective_from, rules)
        found[number], previous = rule_changes(previous, policy), policy
    return found
