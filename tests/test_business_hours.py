"""Business-hours arithmetic: fixed examples (DST included) and Hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.business_hours import (
    BusinessHours,
    add_business_hours,
    business_hours_between,
    conversation_age_business_hours,
    is_business_time,
    is_outside_business_hours,
    next_business_open,
    reply_deadline,
)

TORONTO = ZoneInfo("America/Toronto")
HOURS = BusinessHours.of(time(9), time(17), [0, 1, 2, 3, 4], "America/Toronto")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TORONTO)


def test_inside_and_outside() -> None:
    assert is_business_time(local(2026, 11, 24, 9, 0), HOURS)          # Tuesday, opening minute
    assert is_business_time(local(2026, 11, 24, 16, 59), HOURS)
    assert not is_business_time(local(2026, 11, 24, 17, 0), HOURS)     # closing is exclusive
    assert is_outside_business_hours(local(2026, 11, 24, 8, 59), HOURS)
    assert is_outside_business_hours(local(2026, 11, 28, 12, 0), HOURS)  # Saturday
    # The same instant in UTC gives the same answer.
    assert is_business_time(local(2026, 11, 24, 12, 0).astimezone(UTC), HOURS)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_business_time(datetime(2026, 11, 24, 12, 0), HOURS)


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        BusinessHours.of(time(17), time(9), [0])
    with pytest.raises(ValueError):
        BusinessHours.of(time(9), time(17), [7])


def test_age_over_a_weekend() -> None:
    # Friday 16:00 -> Monday 10:00: one hour on Friday, one on Monday.
    assert business_hours_between(local(2026, 11, 27, 16, 0), local(2026, 11, 30, 10, 0), HOURS) == pytest.approx(2.0)
    assert conversation_age_business_hours(None, local(2026, 11, 30, 10, 0), HOURS) is None
    assert business_hours_between(local(2026, 11, 30, 10), local(2026, 11, 27, 16), HOURS) == 0.0


def test_deadline_is_one_business_day() -> None:
    # A message on Friday evening is due Monday at closing time.
    assert reply_deadline(local(2026, 11, 27, 20, 0), HOURS) == local(2026, 11, 30, 17, 0)
    # Tuesday 15:00 + 8 business hours = Wednesday 15:00.
    assert reply_deadline(local(2026, 11, 24, 15, 0), HOURS) == local(2026, 11, 25, 15, 0)
    # A custom target (4 business hours).
    assert reply_deadline(local(2026, 11, 24, 15, 0), HOURS, 4) == local(2026, 11, 25, 11, 0)
    # Exactly at closing time stays at closing time.
    assert add_business_hours(local(2026, 11, 24, 9, 0), 8, HOURS) == local(2026, 11, 24, 17, 0)


def test_dst_change_keeps_an_eight_hour_day() -> None:
    # Canada leaves DST on Sunday 2026-11-01; springs forward on Sunday 2026-03-08. Fri -> Mon spans both.
    assert business_hours_between(local(2026, 10, 30, 9), local(2026, 11, 2, 17), HOURS) == pytest.approx(16.0)
    assert business_hours_between(local(2026, 3, 6, 9), local(2026, 3, 9, 17), HOURS) == pytest.approx(16.0)
    assert add_business_hours(local(2026, 3, 6, 13), 8, HOURS) == local(2026, 3, 9, 13)


def test_next_open_and_no_business_days() -> None:
    assert next_business_open(local(2026, 11, 28, 12), HOURS) == local(2026, 11, 30, 9)
    assert next_business_open(local(2026, 11, 24, 12), HOURS) == local(2026, 11, 24, 12)
    closed = BusinessHours.of(time(9), time(17), [])
    assert is_outside_business_hours(local(2026, 11, 24, 12), closed)
    assert next_business_open(local(2026, 11, 24, 12), closed) is None
    with pytest.raises(ValueError, match="no business days"):
        add_business_hours(local(2026, 11, 24, 12), 1, closed)


# -- properties ---------------------------------------------------------------------------------
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
hour_configs = st.builds(
    lambda s, length, days, tz: BusinessHours.of(time(s), time(min(23, s + length)), days, tz),
    st.integers(0, 20),
    st.integers(1, 10),
    st.sets(st.integers(0, 6), min_size=1),
    st.sampled_from(["America/Toronto", "America/Vancouver", "America/St_Johns", "UTC", "Asia/Kolkata"]),
).filter(lambda h: h.start < h.end)


@settings(max_examples=150, deadline=None)
@given(moments, st.floats(0, 60, allow_nan=False), hour_configs)
def test_add_then_measure_round_trips(start: datetime, amount: float, hours: BusinessHours) -> None:
    end = add_business_hours(start, amount, hours)
    assert end >= start
    assert business_hours_between(start, end, hours) == pytest.approx(amount, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(moments, moments, moments, hour_configs)
def test_between_is_additive_and_bounded(a: datetime, b: datetime, c: datetime, hours: BusinessHours) -> None:
    a, b, c = sorted((a, b, c))
    ab = business_hours_between(a, b, hours)
    bc = business_hours_between(b, c, hours)
    assert business_hours_between(a, c, hours) == pytest.approx(ab + bc, abs=1e-6)
    assert 0.0 <= ab <= (b - a).total_seconds() / 3600 + 1e-9


@settings(max_examples=150, deadline=None)
@given(moments, hour_configs)
def test_a_deadline_lands_in_business_time_or_at_closing(start: datetime, hours: BusinessHours) -> None:
    due = reply_deadline(start, hours)
    # Either inside a window or exactly at a window's end (a closing time).
    win = hours.window(due.astimezone(hours.tz).date())
    assert is_business_time(due, hours) or (win is not None and due == win[1])
    assert business_hours_between(start, due, hours) == pytest.approx(hours.day_hours, abs=1e-6)
    # Nothing within the first minute after `start` counts unless it is business time.
    step = start + timedelta(minutes=1)
    counted = business_hours_between(start, step, hours)
    if counted > 0:
        assert is_business_time(start, hours) or is_business_time(step - timedelta(microseconds=1), hours)
