"""The handover deadline (003 第十八条) in the agency's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.rules import IngestRules, handover_deadline
from vault.config import Settings

RULES = IngestRules(zone=ZoneInfo("Asia/Shanghai"))


def test_same_day_deadline_is_local_midnight_after_capture() -> None:
    # 23:30 in Shanghai on the 30th is 15:30 UTC; the deadline is midnight Shanghai, 16:00 UTC on the 30th.
    capture = datetime(2025, 3, 30, 15, 30, tzinfo=UTC)
    assert handover_deadline(capture_end=capture, field_return_at=None, rules=RULES) == datetime(
        2025, 3, 30, 16, 0, tzinfo=UTC)
    # 00:30 Shanghai on the 31st (16:30 UTC on the 30th) belongs to the next local day.
    later = capture + timedelta(hours=1)
    assert handover_deadline(capture_end=later, field_return_at=None, rules=RULES) == datetime(
        2025, 3, 31, 16, 0, tzinfo=UTC)


def test_field_work_deadline_is_24_hours_after_return_and_configurable() -> None:
    back = datetime(2025, 3, 30, 20, 0, tzinfo=UTC)
    assert handover_deadline(capture_end=None, field_return_at=back, rules=RULES) == back + timedelta(hours=24)
    rules = IngestRules.of(Settings(field_handover_hours=48, timezone="Asia/Urumqi", continuity_tolerance_seconds=2))
    assert handover_deadline(capture_end=None, field_return_at=back, rules=rules) == back + timedelta(hours=48)
    assert rules.continuity_tolerance == timedelta(seconds=2) and str(rules.zone) == "Asia/Urumqi"


def test_no_capture_time_means_no_deadline() -> None:
    assert handover_deadline(capture_end=None, field_return_at=None, rules=RULES) is None
