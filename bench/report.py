"""Results of a benchmark run: metrics grouped by section, a table on stdout, a JSON file.

A metric is a measured value with its unit and, when the issue sets one, a target. The mark beside
a target (✓/✗) is information for the reader: benchmarks never fail on a time.
"""

from __future__ import annotations

import json
import math
import operator
import platform
import socket
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SECTIONS = ("db_scale", "startup", "baseline", "pipeline", "api_efficiency", "limits", "memory", "nc_lookups",
            "scaling", "scaling_limits")

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass
class Metric:
    name: str
    value: float | int | str | None
    unit: str = ""
    target: str | None = None  # e.g. "< 20" (same unit as value)
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True/False against the target, None when there is no target or no number."""
        if not self.target or not isinstance(self.value, int | float) or isinstance(self.value, bool):
            return None
        op, _, bound = self.target.partition(" ")
        compare = _COMPARE.get(op)
        if compare is None or math.isnan(float(self.value)):
            return None
        return bool(compare(float(self.value), float(bound)))

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["met"] = self.met
        return out


@dataclass
class Section:
    name: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | error | skipped
    error: str | None = None
    seconds: float | None = None

    def add(self, name: str, value: Any, unit: str = "", target: str | None = None, note: str = "") -> Metric:
        metric = Metric(name, value, unit, target, note)
        self.metrics.append(metric)
        return metric

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds") if self.status != "skipped" else None,
            "status": self.status,
            "error": self.error,
            "seconds": None if self.seconds is None else round(self.seconds, 1),
            "metrics": [m.as_dict() for m in self.metrics],
            "details": self.details,
            "notes": self.notes,
        }


def meta(args: dict[str, Any]) -> dict[str, Any]:
    import os

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "args": args,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 0.1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_table(sections: list[Section]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []
    lines: list[str] = []
    for section in sections:
        rows = []
        head = f"== {section.title}"
        if section.seconds is not None:
            head += f"  ({section.seconds:.0f} s)"
        if section.status != "ok":
            head += f"  [{section.status.upper()}{': ' + section.error if section.error else ''}]"
        lines.append(head)
        for m in section.metrics:
            mark = {True: "✓", False: "✗", None: ""}[m.met]
            rows.append((m.name, _fmt(m.value), m.unit, f"{m.target} {mark}".strip() if m.target else "", m.note))
        if rows:
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for r in rows:
                line = (
                    f"  {r[0]:<{widths[0]}}  {r[1]:>{widths[1]}} {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}"
                )
                lines.append(line.rstrip())
        for note in section.notes:
            lines.append(f"  note: {note}")
        lines.append("")
    return "\n".join(lines)


def write_json(meta_info: dict[str, Any], sections: list[Section], directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{meta_info['date']}-{meta_info['host']}.json"
    payload = {"meta": meta_info, "sections": {s.name: s.as_dict() for s in sections}}
    # A partial run (--only) updates today's file: sections it skipped keep their earlier numbers.
    if path.exists():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = {}
        for name, section in payload["sections"].items():
            old = (earlier.get("sections") or {}).get(name)
            if section["status"] == "skipped" and old and old.get("status") != "skipped":
                old.setdefault("measured_at", (earlier.get("meta") or {}).get("started_at"))
                payload["sections"][name] = old
                meta_info.setdefault("kept_from_earlier_run", []).append(name)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
