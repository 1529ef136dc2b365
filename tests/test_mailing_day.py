"""Mailing days and the cut-off (pure): a label joins the first mailing day whose cut-off is still ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.mailing_day import CutOff, cutoff_at, group_id, last_closed_day, mailing_date, next_mailing_day

TORONTO = ZoneInfo("America/Toronto")
DEFAULT = CutOff()


def at(day: str, hhmm: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=TORONTO)


def test_before_and_after_the_cutoff_and_the_weekend() -> None:
    assert mailing_date(at("2026-12-03", "15:59"), DEFAULT) == date(2026, 12, 3)  # Thursday
    assert mailing_date(at("2026-12-03", "16:00"), DEFAULT) == date(2026, 12, 4)  # at the cut-off: Friday
    assert mailing_date(at("2026-12-04", "18:00"), DEFAULT) == date(2026, 12, 7)  # Friday evening: Monday
    assert mailing_date(at("2026-12-05", "10:00"), DEFAULT) == date(2026, 12, 7)  # Saturday: Monday
    assert last_closed_day(at("2026-12-03", "16:00"), DEFAULT) == date(2026, 12, 3)
    assert last_closed_day(at("2026-12-03", "15:00"), DEFAULT) == date(2026, 12, 2)
    assert last_closed_day(at("2026-12-07", "09:00"), DEFAULT) == date(2026, 12, 4)  # Monday morning: Friday
    assert group_id(date(2026, 12, 3), 1) == "20261203-1" and len(group_id(date(2026, 12, 3), 999)) == 12
    with pytest.raises(ValueError):
        group_id(date(2026, 12, 3), 1000)
    with pytest.raises(ValueError):
        mailing_date(datetime(2026, 12, 3, 12), DEFAULT)  # naive
    assert DEFAULT.cron() == "0 16 * * 1,2,3,4,5"
    assert CutOff(time(9, 30), days=frozenset({6})).cron() == "30 9 * * 0"


def test_daylight_saving_days_keep_the_local_cutoff() -> None:
    # 2026-03-08: clocks go forward in Toronto; the cut-off is still 16:00 local (20:00 UTC).
    assert cutoff_at(date(2026, 3, 9), DEFAULT) == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    assert cutoff_at(date(2026, 3, 6), DEFAULT) == datetime(2026, 3, 6, 21, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    hour=st.integers(0, 23), minute=st.integers(0, 59),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    zone=st.sampled_from(["America/Toronto", "America/Vancouver", "America/Halifax", "Asia/Tokyo"]),
)
def test_a_label_joins_the_first_mailing_day_whose_cutoff_is_ahead(moment, hour, minute, days, zone) -> None:
    cut = CutOff(time(hour, minute), zone, days)
    day = mailing_date(moment, cut)
    assert day.weekday() in days
    assert cutoff_at(day, cut) > moment  # never a day already closed
    local = moment.astimezone(ZoneInfo(zone)).date()
    assert all(d.weekday() not in days or cutoff_at(d, cut) <= moment
               for d in (local + timedelta(days=i) for i in range(-1, (day - local).days)))  # none earlier open
    closed = last_closed_day(moment, cut)
    assert closed.weekday() in days and cutoff_at(closed, cut) <= moment < cutoff_at(next_mailing_day(closed, cut), cut)
    assert next_mailing_day(closed, cut) == day
