"""Grafana's PostgreSQL query interpolation, re-implemented for tests.

Two stages, as in Grafana:

1. The front end replaces template variables (``$name``, ``${name}``, ``${name:raw}``, ``[[name]]``)
   and its built-ins ``$__from``/``$__to``; a single-value variable in a SQL data source is inserted
   with its single quotes doubled (``interpolateVariable`` of the postgres data source).
2. The back end (pkg/tsdb/grafana-postgresql-datasource/macros.go and sqleng's Interpolate)
   replaces ``$__interval``, ``$__interval_ms``, ``$__unixEpochFrom()``/``$__unixEpochTo()``, then
   every ``$__macro(args)`` matched by the same regular expression Grafana uses, which stops an
   argument at the first ``)``: ``$__timeFilter(coalesce(a, b))`` breaks there as it does here.

An unknown macro or variable raises, as Grafana answers such a query with an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")  # macros.go: sExpr
VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)(?!\w|\()")
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MacroError(ValueError):
    pass


def parse_interval(text: str) -> timedelta:
    match = _INTERVAL.match(text.strip().strip("'"))
    if not match:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: trailing fractional zeros dropped, 'Z' suffix."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += ("." + f"{moment.microsecond:06d}").rstrip("0")
    return text + "Z"


def _seconds(interval: timedelta) -> str:
    value = interval.total_seconds()  # Go's %v of a float64: 3600, not 3600.0
    return str(int(value)) if value == int(value) else repr(value)


def parse_relative(text: str, now: datetime) -> datetime:
    """Grafana's 'now', 'now-7d', 'now-24h' (enough for our dashboards)."""
    if text == "now":
        return now
    match = re.fullmatch(r"now-(\d+)([smhdw])", text)
    if not match:
        raise MacroError(f"unsupported relative time {text!r}")
    return now - int(match.group(1)) * timedelta(seconds=_UNITS[match.group(2)])


@dataclass
class TimeRange:
    start: datetime
    end: datetime
    interval: timedelta = field(default=timedelta(minutes=1))


def interpolate_variables(sql: str, variables: dict[str, str], time_range: TimeRange) -> str:
    builtins = {
        "__from": str(int(time_range.start.timestamp() * 1000)),
        "__to": str(int(time_range.end.timestamp() * 1000)),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        if name in builtins:
            return builtins[name]
        if name.startswith("__"):
            return match.group(0)  # back-end built-ins ($__interval...) are stage 2's
        if name not in variables:
            raise MacroError(f"unknown template variable ${name}")
        return str(variables[name]).replace("'", "''")

    return VARIABLE.sub(replace, sql)


def _evaluate(name: str, args: list[str], tr: TimeRange) -> str:
    if name == "__time":
        _need(name, args, 1)
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        _need(name, args, 1)
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        _need(name, args, 1)
        return f"{args[0]} BETWEEN '{rfc3339(tr.start)}' AND '{rfc3339(tr.end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339(tr.start)}'"
    if name == "__timeTo":
        return f"'{rfc3339(tr.end)}'"
    if name in ("__timeGroup", "__unixEpochGroup"):
        if len(args) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        seconds = _seconds(parse_interval(args[1]))
        if len(args) == 3 and args[2] not in ("NULL", "previous"):
            float(args[2])  # a fill value must be a number
        if name == "__timeGroup":
            return f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        return f"floor(({args[0]})/{seconds})*{seconds}"
    if name in ("__timeGroupAlias", "__unixEpochGroupAlias"):
        return _evaluate(name[: -len("Alias")], args, tr) + ' AS "time"'
    if name == "__unixEpochFilter":
        _need(name, args, 1)
        start, end = int(tr.start.timestamp()), int(tr.end.timestamp())
        return f"{args[0]} >= {start} AND {args[0]} <= {end}"
    raise MacroError(f"unknown macro {name!r}")


def _need(name: str, args: list[str], count: int) -> None:
    if len([a for a in args if a]) < count:
        raise MacroError(f"missing time column argument for macro {name}")


def interpolate_macros(sql: str, tr: TimeRange) -> str:
    sql = sql.replace("$__interval_ms", str(int(tr.interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", _format_interval(tr.interval))
    sql = sql.replace("$__unixEpochFrom()", str(int(tr.start.timestamp())))
    sql = sql.replace("$__unixEpochTo()", str(int(tr.end.timestamp())))

    original = sql

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            # pre-5.3 compatibility, as Grafana does: a ',' right after the macro means "alias it"
            index = original.find(match.group(0))
            after = index + len(match.group(0))
            if index >= 0 and after < len(original) and original[after] == ",":
                name = "__timeGroupAlias"
        args = [arg.strip(" ") for arg in match.group(2).split(",")]
        return _evaluate(name, args, tr)

    return MACRO.sub(replace, sql)


def _format_interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def expand(sql: str, time_range: TimeRange, variables: dict[str, str] | None = None) -> str:
    """The SQL Grafana sends to PostgreSQL for this query, time range and variable values."""
    expanded = interpolate_macros(interpolate_variables(sql, variables or {}, time_range), time_range)
    if "$" in re.sub(r"'[^']*'", "", expanded):
        raise MacroError(f"unexpanded '$' left in query: {expanded}")
    return expanded
