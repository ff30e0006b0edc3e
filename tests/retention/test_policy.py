"""compute_retention is pure: time travel across every class and every order of events, with an injected now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from retention.models import MarkerKind, RetentionClass
from retention.policy import (
    SHIPPED_POLICY,
    CaseFacts,
    RecordFacts,
    RetentionPolicy,
    add_months,
    add_years,
    compute_retention,
)

CAPTURED = datetime(2024, 9, 30, 1, 0, tzinfo=UTC)
ARCHIVED = datetime(2025, 3, 31, 2, 0, tzinfo=UTC)
NOW = datetime(2025, 4, 1, tzinfo=UTC)
NUMBER = "阜应急罚字〔2023〕40号"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def facts(**kwargs: object) -> RecordFacts:
    return RecordFacts(evidence_id=uuid.uuid4(), clock_start=CAPTURED, **kwargs)  # type: ignore[arg-type]


def penalty_case(status: str, archived_at: datetime | None = None, markers: tuple[MarkerKind, ...] = ()) -> CaseFacts:
    return CaseFacts(case_number=NUMBER, case_type="general_procedure_penalty", status=status,
                     archived_at=archived_at, markers=markers)


def test_routine_inspection_is_kept_six_months_from_capture() -> None:
    decision = compute_retention(facts(activity="inspection"), SHIPPED_POLICY, NOW)
    assert decision.retention_class is RetentionClass.ROUTINE_INSPECTION
    assert decision.retain_until == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert decision.reason.startswith("kept until 2025-03-30 because: routine inspection footage (日常检查)")


def test_everything_else_is_kept_five_years() -> None:
    decision = compute_retention(facts(activity="questioning"), SHIPPED_POLICY, NOW)
    assert decision.retention_class is RetentionClass.DEFAULT
    assert decision.retain_until == datetime(2029, 9, 30, 1, 0, tzinfo=UTC)


def test_case_evidence_is_indefinite_while_the_case_is_open_or_closed_unarchived() -> None:
    for status in ("open", "closed"):
        decision = compute_retention(facts(case=penalty_case(status)), SHIPPED_POLICY, NOW)
        assert decision.retention_class is RetentionClass.CASE_EVIDENCE
        assert decision.retain_until is None and not decision.permanent
        assert "counts from archiving" in decision.reason


def test_archived_case_counts_its_case_file_retention_from_archiving_with_the_reason_shown() -> None:
    decision = compute_retention(facts(case=penalty_case("archived", ARCHIVED)), SHIPPED_POLICY, NOW,
                                 zone=SHANGHAI)
    assert decision.retain_until == datetime(2055, 3, 31, 2, 0, tzinfo=UTC)
    assert decision.reason == (
        f"kept until 2055-03-31 because: case {NUMBER}, general procedure penalty (普通程序行政处罚), "
        "archived 2025-03-31, 30 years")


@pytest.mark.parametrize("where", ["record", "case"])
@pytest.mark.parametrize("kind", list(MarkerKind))
def test_long_term_markers_on_record_or_case_make_it_permanent(where: str, kind: MarkerKind) -> None:
    case = penalty_case("archived", ARCHIVED, markers=(kind,) if where == "case" else ())
    decision = compute_retention(facts(case=case, markers=(kind,) if where == "record" else ()), SHIPPED_POLICY,
                                 NOW)
    assert decision.permanent and decision.retain_until is None
    assert decision.retention_class is RetentionClass.LONG_TERM
    assert decision.reason.startswith("kept permanently (长期保存)")


def test_the_longest_rule_wins_whatever_order_the_events_came_in() -> None:
    # A routine inspection video later tagged to a case, which is closed, archived, reopened, archived again.
    timeline = [
        (facts(activity="inspection"), datetime(2025, 3, 30, 1, 0, tzinfo=UTC)),
        (facts(activity="inspection", case=penalty_case("open")), None),
        (facts(activity="inspection", case=penalty_case("closed")), None),
        (facts(activity="inspection", case=penalty_case("archived", ARCHIVED)), datetime(2055, 3, 31, 2, tzinfo=UTC)),
        (facts(activity="inspection", case=penalty_case("open")), None),
    ]
    for record, expected in timeline:
        assert compute_retention(record, SHIPPED_POLICY, NOW).retain_until == expected


def test_explicit_class_and_case_rule_both_apply_and_the_longer_wins() -> None:
    short_case = CaseFacts(case_number="K-1", case_type="simple_procedure", status="archived",
                           archived_at=datetime(2025, 1, 1, tzinfo=UTC))
    decision = compute_retention(facts(case=short_case, explicit_class=RetentionClass.DEFAULT), SHIPPED_POLICY, NOW)
    assert decision.retain_until == datetime(2035, 1, 1, tzinfo=UTC)  # 10-year case file beats 5 years from capture
    assert decision.retention_class is RetentionClass.DEFAULT


def test_earlier_promise_and_store_lock_are_floors_retention_never_shortens_itself() -> None:
    promised = datetime(2031, 1, 1, tzinfo=UTC)
    decision = compute_retention(facts(activity="inspection", floor_until=promised), SHIPPED_POLICY, NOW)
    assert decision.retain_until == promised and "never shortens itself" in decision.reason
    locked = datetime(2026, 1, 1, tzinfo=UTC)
    decision = compute_retention(facts(activity="inspection", store_retain_until=locked), SHIPPED_POLICY, NOW)
    assert decision.retain_until == locked and "Object Lock" in decision.reason
    assert compute_retention(facts(floor_permanent=True), SHIPPED_POLICY, NOW).permanent


def test_policy_values_are_configurable_per_agency() -> None:
    policy = RetentionPolicy(version=3, routine_inspection_months=12, default_years=8,
                             case_file_years={"general_procedure_penalty": None})
    assert compute_retention(facts(activity="inspection"), policy, NOW).retain_until == add_years(CAPTURED, 1)
    assert compute_retention(facts(), policy, NOW).retain_until == add_years(CAPTURED, 8)
    archived = compute_retention(facts(case=penalty_case("archived", ARCHIVED)), policy, NOW)
    assert archived.permanent and archived.policy_version == 3
    # A case type without a case-file rule adds nothing: the record keeps its own class.
    assert compute_retention(facts(case=CaseFacts("K-2", "licensing", "open")), policy, NOW).retain_until == \
        add_years(CAPTURED, 8)


def test_policy_round_trips_through_its_stored_rules() -> None:
    policy = RetentionPolicy(version=2, default_years=7, reminder_days=10)
    assert RetentionPolicy.from_rules(2, policy.effective_from, policy.rules()) == policy


def test_calendar_arithmetic_never_rolls_backwards() -> None:
    assert add_months(datetime(2024, 8, 31, tzinfo=UTC), 6) == datetime(2025, 3, 1, tzinfo=UTC)
    assert add_years(datetime(2024, 2, 29, tzinfo=UTC), 1) == datetime(2025, 3, 1, tzinfo=UTC)
    assert add_months(datetime(2024, 12, 15, tzinfo=UTC), 1) == datetime(2025, 1, 15, tzinfo=UTC)
