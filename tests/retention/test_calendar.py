"""Working days (工作日) follow the official holiday calendar with make-up days, and fall back to weekends only."""

from __future__ import annotations

from datetime import date

from retention.calendar import add_working_days, calendar_covers, fallback_years, is_working_day, working_days_between


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
