"""Mailing days and the cut-off (pure: no I/O, no settings read at import).

A contract label joins the group of its mailing day: the day it is bought if that is a mailing day
and the cut-off (default 16:00 in the seller's time zone, America/Toronto) has not passed, else the
next mailing day. The close of day transmits the groups of every mailing day whose cut-off has
passed. Group ids are ``YYYYMMDD-N``: N counts the groups of one mailing day (a supervisor may close
the day early; a label after that joins the day's next group, never the one being transmitted), and
at most 12 characters, so the id also fits the transmit's ``customer-reference`` and comes back in
the manifest's details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from orderflow.settings import Settings

MAX_GROUPS_PER_DAY = 999  # YYYYMMDD-999 is 12 characters


@dataclass(frozen=True)
class CutOff:
    at: time = time(16, 0)
    timezone: str = "America/Toronto"
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # mailing days, Monday = 0

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)
        if not self.days or any(not 0 <= d <= 6 for d in self.days):
            raise ValueError(f"mailing days are 0 (Monday) .. 6 (Sunday), at least one: {sorted(self.days)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> CutOff:
        return cls(settings.eod_cutoff, settings.eod_timezone, frozenset(int(d) for d in settings.mailing_days))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def cron(self) -> str:
        """The close-of-day schedule (in :attr:`timezone`): at the cut-off on every mailing day."""
        days = ",".join(str((d + 1) % 7) for d in sorted(self.days))  # cron: Sunday = 0
        return f"{self.at.minute} {self.at.hour} * * {days}"


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"moment must be timezone-aware, got naive {moment!r}")
    return moment


def next_mailing_day(day: date, cutoff: CutOff) -> date:
    """The first mailing day strictly after ``day``."""
    day += timedelta(days=1)
    while day.weekday() not in cutoff.days:
        day += timedelta(days=1)
    return day


def mailing_date(moment: datetime, cutoff: CutOff) -> date:
    """The mailing day of a label bought at ``moment``."""
    local = _aware(moment).astimezone(cutoff.tz)
    if local.weekday() in cutoff.days and local.time() < cutoff.at:
        return local.date()
    return next_mailing_day(local.date(), cutoff)


def cutoff_at(day: date, cutoff: CutOff) -> datetime:
    """The cut-off of ``day`` (UTC)."""
    return datetime.combine(day, cutoff.at, tzinfo=cutoff.tz).astimezone(UTC)


def last_closed_day(moment: datetime, cutoff: CutOff) -> date:
    """The latest mailing day whose cut-off is at or before ``moment`` (what a scheduled close closes)."""
    day = _aware(moment).astimezone(cutoff.tz).date()
    while day.weekday() not in cutoff.days or cutoff_at(day, cutoff) > moment:
        day -= timedelta(days=1)
    return day


def group_id(day: date, seq: int) -> str:
    if not 1 <= seq <= MAX_GROUPS_PER_DAY:
        raise ValueError(f"group number {seq} out of 1..{MAX_GROUPS_PER_DAY}")
    return f"{day:%Y%m%d}-{seq}"
