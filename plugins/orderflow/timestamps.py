"""The one reader of ISO-8601 date-times that come from Best Buy (Mirakl) or from our copies of them.

The rule, from Mirakl's OpenAPI (every date field is ``format: date-time``, i.e. RFC 3339, which
requires a zone) and its API sheet ("ISO-8601 UTC with ``Z``; some fields carry millis"):

- ``Z`` or a ``±hh:mm`` offset, with or without fractions of a second: accepted, returned aware in UTC;
- no zone (a naive time, or a date alone): refused. A naive time would be read in whatever zone the
  reading process or database session has, silently shifting deadlines and watermarks;
- ``None`` or ``""``: absent (``parse_timestamp`` returns None, ``require_timestamp`` refuses it);
- anything else (not text, not ISO-8601): refused.

An aware ``datetime`` passes through (in UTC); a naive one is refused like naive text. Every refusal is a
``TimestampError`` (a ``ValueError``) whose ``reason`` reads after a field name: "created_date has no
time zone: '2024-03-23T17:47:54'".
"""

from __future__ import annotations

from datetime import UTC, datetime

# How much of a bad value an error shows (a stuck field can hold kilobytes).
_SHOWN = 40


class TimestampError(ValueError):
    """A value that is not a Mirakl date-time; ``reason`` completes a sentence about the field."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"timestamp {reason}")


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime, or None for an absent value (``None``, ``""``). Raises ``TimestampError``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif not isinstance(value, str):
        raise TimestampError(value, f"is not a string ({type(value).__name__})")
    else:
        try:
            parsed = datetime.fromisoformat(value)  # Python 3.11+ reads a 'Z' suffix itself
        except ValueError:
            raise TimestampError(value, f"is not an ISO-8601 date: {value[:_SHOWN]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TimestampError(value, f"has no time zone: {str(value)[:_SHOWN]!r}")
    return parsed.astimezone(UTC)


def require_timestamp(value: object) -> datetime:
    """Like ``parse_timestamp``, but an absent value is refused ("is missing")."""
    parsed = parse_timestamp(value)
    if parsed is None:
        raise TimestampError(value, "is missing")
    return parsed


__all__ = ["TimestampError", "parse_timestamp", "require_timestamp"]
