"""Watermarks: how far a sweep of Best Buy has read (OR11 by update date, RT11 returns...), by name.

A watermark only moves forward (set_watermark.sql keeps the later value), so two overlapping sweeps
never move it back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orderflow.store.base import StoreBase


class WatermarksMixin(StoreBase):
    def get_watermark(self, name: str) -> datetime | None:
        row = self.fetch_one("get_watermark", {"name": name})
        return row["value"] if row else None

    def set_watermark(self, name: str, value: datetime) -> None:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        self.execute("set_watermark", {"name": name, "value": value})
