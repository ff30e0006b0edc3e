"""Working days (工作日) follow the official holiday calendar with make-up days, and fall back to weekends only."""

from __future__ import annotations

from datetime import date

from retention.calendar import (
    NoticeYear,
    WorkingCalendar,
    add_working_days,
    calendar_covers,
    fallback_years,
    is_working_day,
    working_days_between,
)


def test_national_day_week_is_off_and_the_make_up_saturday_is_a_working_day() -> None:
    assert not is_working_day(date(2024, 10, 1))  # National Day (国庆节), a Tuesday
    assert not is_working_day(date(2024, 10, 7))  # Monday, still part of the holiday
    assert is_working_day(date(2024, 10, 12))  # Saturday, a make-up working day (调休)


def test_thirty_working_days_after_closing_skip_spring_festival() -> None:
    # Closed on 2025-01-20; the Spring Festival (春节) week 1-28 .. 2-4 is off, 1-26 and 2-8 are make-up days.
    deadline = add_working_days(date(2025, 1, 20), 30)
    assert deadline == date(2025, 3, 7)  # counting Monday-Friday only would wrongly give 2025-03-03
    assert working_days_between(date(2025, 1, 20), deadline) == 30


def test_years_beyond_the_library_fall_back_to_weekends_and_say_so() -> None:
    far = date(2099, 1, 1)
    assert not calendar_covers(far.year)
    assert is_working_day(date(2099, 1, 1))  # a Thursday; New Year is unknown to the fallback
    assert not is_working_day(date(2099, 1, 3))  # a Saturday
    assert add_working_days(date(2099, 1, 2), 1) == date(2099, 1, 5)
    assert fallback_years(date(2098, 12, 1), date(2099, 2, 1)) == [2098, 2099]


# `003` 第十九条: records are archived within 30 working days (工作日) of the case closing. chinese_calendar stops at
# 2026, so a deadline in 2027 must come from the agency's loaded notice, or be marked provisional.
TEST_NOTICE_2027 = NoticeYear(  # made-up test data in the notice's shape, not the real 2027 notice
    holidays=frozenset({date(2027, 1, 1), *(date(2027, 2, d) for d in range(5, 12))}),
    working_days=frozenset({date(2027, 2, 13)}), source="test notice for 2027")


def test_a_deadline_in_a_year_nothing_knows_is_provisional_and_says_why() -> None:
    calendar = WorkingCalendar()
    deadline = calendar.add_working_days(date(2026, 11, 25), 30)
    assert deadline == date(2027, 1, 6)  # New Year's Day 2027 counted as a working day: weekdays only
    assert calendar.provisional_years(date(2026, 11, 25), deadline) == [2027]
    reason = calendar.provisional_reason(date(2026, 11, 25), deadline)
    assert reason is not None and reason.startswith("provisional: no holiday calendar for 2027")
    assert calendar.provisional_reason(date(2026, 1, 5), date(2026, 2, 27)) is None  # 2026 is in chinese_calendar


def test_a_loaded_notice_moves_2027_deadlines_over_its_holidays_and_make_up_days() -> None:
    calendar = WorkingCalendar({2027: TEST_NOTICE_2027})
    assert calendar.add_working_days(date(2026, 11, 25), 30) == date(2027, 1, 7)  # 1 January is off
    assert not calendar.is_working_day(date(2027, 2, 8))  # a Monday inside the holiday
    assert calendar.is_working_day(date(2027, 2, 13))  # a Saturday, make-up working day (调休)
    assert calendar.add_working_days(date(2027, 2, 4), 2) == date(2027, 2, 13)
    assert calendar.working_days_between(date(2027, 2, 4), date(2027, 2, 15)) == 3  # 12th, 13th, 15th
    assert calendar.provisional_reason(date(2026, 11, 25), date(2027, 12, 31)) is None
    assert calendar.source_of(2027) == "holiday notice loaded by the agency: test notice for 2027"
