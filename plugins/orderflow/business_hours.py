"""Business-hours arithmetic for customer service (pure: no I/O, no settings read at import).

Best Buy asks sellers to answer customer messages within one business day. "Business time" is
the seller's opening hours (e.g. 09:00-17:00, Monday-Friday) in the seller's time zone; time
outside that window does not count toward a reply's age. Used by the auto-reply rules
("only outside business hours") and by the inbox page (age of a conversation, its deadline).

All public functions take timezone-aware datetimes and return aware datetimes in UTC (or hours as
floats). Days are walked in the seller's local calendar, so daylight-saving changes are handled:
a 09:00-17:00 day is 8 hours both in winter and summer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from orderflow.settings import Settings

__all__ = [
    "BusinessHours",
    "add_business_hours",
    "business_hours_between",
    "conversation_age_business_hours",
    "is_business_time",
    "is_outside_business_hours",
    "next_business_open",
    "reply_deadline",
]

@dataclass(frozen=True)
class BusinessHours:
    """Opening hours: ``start``..``end`` local time on ``days`` (Monday = 0) in ``timezone``."""

    start: time
    end: time
    days: frozenset[int]
    timezone: str = "America/Toronto"

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times without tzinfo")
        if not self.start < self.end:
            raise ValueError(f"business hours must start before they end ({self.start} >= {self.end})")
        bad = [d for d in self.days if not 0 <= d <= 6]
        if bad:
            raise ValueError(f"business days are 0 (Monday) .. 6 (Sunday), got {bad}")
        ZoneInfo(self.timezone)  # fail early on an unknown zone name

    @classmethod
    def of(cls, start: time, end: time, days: Iterable[int], timezone: str = "America/Toronto") -> BusinessHours:
        return cls(start, end, frozenset(int(d) for d in days), timezone)

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessHours:
        """From the settings (imported for the checker only, so this module stays import-free)."""
        return cls.of(
            settings.business_hours_start,
            settings.business_hours_end,
            settings.business_days,
            settings.business_timezone,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def day_hours(self) -> float:
        """Length of one business day in hours (wall clock; 8.0 for 09:00-17:00)."""
        start = datetime.combine(date(2000, 1, 3), self.start)
        end = datetime.combine(date(2000, 1, 3), self.end)
        return (end - start).total_seconds() / 3600.0

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The business window of local ``day`` as UTC datetimes, or None on a closed day."""
        if day.weekday() not in self.days:
            return None
        tz = self.tz
        # datetime.combine with a ZoneInfo resolves DST gaps/folds the standard way (fold=0);
        # converting to UTC makes the interval arithmetic below exact across DST changes.
        opens = datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC)
        return opens, closes


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def _windows_from(moment: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Business windows (UTC) whose end is after ``moment``, in order, starting with its local day."""
    if not hours.days:
        return
    # Start a day early: in a far-east zone the local day of a UTC moment may be "tomorrow".
    day = moment.astimezone(hours.tz).date() - timedelta(days=1)
    while True:
        win = hours.window(day)
        day += timedelta(days=1)
        if win is not None and win[1] > moment:
            yield win


def is_business_time(moment: datetime, hours: BusinessHours) -> bool:
    """True when ``moment`` falls inside opening hours (start inclusive, end exclusive)."""
    moment = _aware(moment, "moment")
    win = hours.window(moment.astimezone(hours.tz).date())
    return win is not None and win[0] <= moment < win[1]


def is_outside_business_hours(moment: datetime, hours: BusinessHours) -> bool:
    """True when nobody is expected at the desk at ``moment`` (evenings, nights, closed days)."""
    return not is_business_time(moment, hours)


def next_business_open(moment: datetime, hours: BusinessHours) -> datetime | None:
    """``moment`` itself when inside business hours, else the next opening; None if never open."""
    moment = _aware(moment, "moment")
    for opens, _closes in _windows_from(moment, hours):
        return max(opens, moment)
    return None


def business_hours_between(start: datetime, end: datetime, hours: BusinessHours) -> float:
    """Business hours elapsed from ``start`` to ``end`` (0.0 when ``end <= start``)."""
    start = _aware(start, "start")
    end = _aware(end, "end")
    if end <= start:
        return 0.0
    total = 0.0
    for opens, closes in _windows_from(start, hours):
        if opens >= end:
            break
        lo = max(opens, start)
        hi = min(closes, end)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total / 3600.0


def conversation_age_business_hours(since: datetime | None, now: datetime, hours: BusinessHours) -> float | None:
    """Age of a waiting conversation in business hours (None when nothing is waiting)."""
    if since is None:
        return None
    return business_hours_between(since, now, hours)


def add_business_hours(start: datetime, amount: float, hours: BusinessHours) -> datetime:
    """The moment ``amount`` business hours after ``start`` (UTC).

    A deadline that lands exactly at closing time stays there (17:00, not the next 09:00).
    Raises ValueError when there are no business days at all and ``amount > 0``.
    """
    start = _aware(start, "start")
    if amount < 0:
        raise ValueError("amount must be >= 0")
    remaining = timedelta(hours=amount)
    if remaining == timedelta(0):
        return start
    for opens, closes in _windows_from(start, hours):
        lo = max(opens, start)
        available = closes - lo
        if remaining <= available:
            return lo + remaining
        remaining -= available
    raise ValueError("no business days configured: a business-hours deadline never arrives")


def reply_deadline(since: datetime, hours: BusinessHours, target_business_hours: float | None = None) -> datetime:
    """When an answer is due for a message waiting since ``since``: one business day by default.

    ``target_business_hours`` (``Settings.reply_target_business_hours``) overrides the length of
    "one business day" (the opening hours of one day).
    """
    amount = hours.day_hours if target_business_hours is None else target_business_hours
    return add_business_hours(since, amount, hours)
