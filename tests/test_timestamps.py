"""The one ISO-8601 date-time reader (orderflow.timestamps): each edge the former copies handled.

The copies were: the store's order parser (accepted naive times and date-only text), the messaging
parser (refused naive times, converted to UTC), ingest's watermark reader, the returns watermark and
the incident page (both ``fromisoformat(value.replace("Z", "+00:00"))``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orderflow.timestamps import TimestampError, parse_timestamp, require_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-23T17:47:54Z", datetime(2024, 3, 23, 17, 47, 54, tzinfo=UTC)),
        ("2024-03-23T14:58:22.460Z", datetime(2024, 3, 23, 14, 58, 22, 460000, tzinfo=UTC)),  # millis
        ("2024-03-23T17:47:54+00:00", datetime(2024, 3, 23, 17, 47, 54, tzinfo=UTC)),
        ("2024-03-23T19:47:54+02:00", datetime(2024, 3, 23, 17, 47, 54, tzinfo=UTC)),  # offset -> UTC
        ("2024-03-23T12:47:54-05:00", datetime(2024, 3, 23, 17, 47, 54, tzinfo=UTC)),
        ("2024-03-23T23:59:59.999Z", datetime(2024, 3, 23, 23, 59, 59, 999000, tzinfo=UTC)),  # shipping_deadline
    ],
)
def test_zulu_and_offsets_give_the_same_instant_in_utc(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize("absent", [None, ""])
def test_absent_is_none_and_required_says_missing(absent):
    assert parse_timestamp(absent) is None
    with pytest.raises(TimestampError, match="is missing"):
        require_timestamp(absent)


@pytest.mark.parametrize("naive", ["2024-03-23T17:47:54", "2024-03-23 17:47:54.123", "2024-03-23"])
def test_naive_text_is_refused(naive):
    # Mirakl's date-time fields carry a zone (RFC 3339); a naive one would shift by the reader's zone.
    with pytest.raises(TimestampError, match="has no time zone"):
        parse_timestamp(naive)


def test_datetimes_pass_through_aware_only():
    eastern = timezone(timedelta(hours=-5))
    assert parse_timestamp(datetime(2026, 11, 20, 5, tzinfo=eastern)) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    with pytest.raises(TimestampError, match="has no time zone"):
        parse_timestamp(datetime(2026, 11, 20, 5))


@pytest.mark.parametrize(
    ("garbage", "why"),
    [
        ("garbage", "is not an ISO-8601 date"),
        ("2024-13-01T00:00:00Z", "is not an ISO-8601 date"),
        ("2024-03-23T17:47:54ZZ", "is not an ISO-8601 date"),
        ("Z2024-03-23T17:47:54", "is not an ISO-8601 date"),  # a 'Z' is a suffix, not anywhere
        (1711216074, "is not a string"),
        ({"date": "2024-03-23T17:47:54Z"}, "is not a string"),
    ],
)
def test_garbage_is_refused_with_the_reason(garbage, why):
    with pytest.raises(TimestampError, match=why) as caught:
        parse_timestamp(garbage)
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError keep working
    assert caught.value.reason.startswith(why)


def test_a_long_bad_value_is_shown_shortened():
    with pytest.raises(TimestampError) as caught:
        parse_timestamp("x" * 500)
    assert len(str(caught.value)) < 120
