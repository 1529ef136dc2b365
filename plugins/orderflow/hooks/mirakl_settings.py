"""The Mirakl hook's settings, read once from the Airflow Connection (``mirakl_default``, type ``mirakl``).

Pure code, no I/O: :meth:`MiraklSettings.from_connection` turns a Connection (host, schema, port,
password, extras) plus the hook's constructor overrides into one typed, validated value, or raises
:class:`~orderflow.hooks.mirakl_errors.MiraklValidationError` saying which field to fix. The hook
(:mod:`orderflow.hooks.mirakl`) does the I/O with it, as ``canadapost_settings`` serves Canada Post's.

Connection fields:

- ``host``: base URL, e.g. ``https://marketplace.bestbuy.ca`` (paths ``/api/...`` are appended).
  A host without a scheme takes it from ``schema`` (default ``https``); ``port`` is honoured.
- ``password``: the shop API key, sent as the raw ``Authorization`` header (no ``Bearer``). Never
  part of ``repr()``; the hook registers it with Airflow's secrets masker.
- extra ``shop_id`` (optional int): sent as ``shop_id`` query parameter on every call; only needed
  when the key's user can access several shops.
- extra ``rate_limits`` (optional object, or its JSON text; calls per minute, ``0``/``null`` =
  unlimited): see ``DEFAULT_RATE_LIMITS`` and ``RATE_LIMIT_KEYS``.
- extra ``timeout`` (optional): read timeout seconds, or ``[connect, read]``.

Airflow 2's ``extra__mirakl__<field>`` keys are read too (:func:`~orderflow.hooks.connection_forms.form_extra`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow.hooks._http import absolute_base_url
from orderflow.hooks.connection_forms import form_extra
from orderflow.hooks.mirakl_errors import MiraklValidationError

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_TIMEOUT",
    "RATE_LIMIT_KEYS",
    "MiraklSettings",
    "parse_rate",
    "parse_timeout",
]

# Rate-limit budgets, calls per minute, per connection id (shared by the threads of a process, and
# across processes when the hooks share budgets: orderflow.hooks._http.RateLimiter). Keys:
#   OR11_poll    one *sweep* of OR11 by update date (all its pages): Mirakl's documented maximum is
#                "once per minute" for asynchronous polling.
#   OR11_lookup  each OR11 request by order_ids (acceptance validation). Undocumented: our own budget.
#   OR21, OR23, OR24, SH21, M10, M11, M12, OR43, and the after-sale calls: each request; Mirakl
#                documents "at each event" (no number), so unlimited by default and 429 + Retry-After
#                does the rest.
# SH21's "once per day" is not enforced: a limiter blocks, and blocking a day is never right; callers
# (the connection test, a daily carrier sync) already call it rarely.
DEFAULT_RATE_LIMITS: dict[str, float | None] = {"OR11_poll": 1.0, "OR11_lookup": 30.0}
RATE_LIMIT_KEYS = frozenset({
    "OR11_poll", "OR11_lookup", "OR21", "OR23", "OR24", "SH21", "M10", "M11", "M12", "OR43",
    "OR28", "OR29", "OR30", "OR64", "RE01", "RE02", "RT11", "RT25", "RT26", "RT27",
})

# (connect, read) seconds. Mirakl answers list calls in well under a few seconds; 30 s read covers a
# slow 100-order page without letting a hung socket hold a worker slot for long.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 30.0)


@dataclass(frozen=True)
class MiraklSettings:
    """One Mirakl connection, validated. ``api_key`` is kept out of ``repr()``."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    shop_id: int | None = None
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    rate_limits: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))

    @classmethod
    def from_connection(
        cls,
        conn: Connection,
        *,
        conn_id: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        rate_limits: Mapping[str, float | None] | None = None,
    ) -> MiraklSettings:
        """The settings of ``conn`` (named ``conn_id`` in errors, default its own id); ``timeout`` and
        ``rate_limits`` (the hook's arguments) win over its extras. Checked in this order: the API key,
        the host, ``shop_id``, ``timeout``, ``rate_limits``."""
        conn_id = conn_id or conn.conn_id
        api_key = conn.password
        if not api_key:
            raise MiraklValidationError(f"connection {conn_id!r} has no API key (password)")
        if not conn.host:
            raise MiraklValidationError(f"connection {conn_id!r} has no host (base URL)")
        extra = form_extra(conn.extra_dejson, "mirakl")

        shop_id: int | None = None
        raw_shop_id = extra.get("shop_id")
        if raw_shop_id not in (None, ""):
            try:
                shop_id = int(raw_shop_id)
            except (TypeError, ValueError):
                raise MiraklValidationError(f"extra shop_id must be an integer, got {raw_shop_id!r}") from None

        return cls(
            conn_id=conn_id,
            base_url=absolute_base_url(conn.host.rstrip("/"), scheme=conn.schema, port=conn.port),
            api_key=api_key,
            shop_id=shop_id,
            timeout=parse_timeout(timeout if timeout is not None else extra.get("timeout")),
            rate_limits=_rate_limits(extra.get("rate_limits"), rate_limits),
        )


def parse_timeout(value: Any) -> tuple[float, float]:
    """``(connect, read)`` seconds from seconds (the read timeout) or ``[connect, read]``; empty = default."""
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        if isinstance(value, list | tuple):
            connect, read = (float(v) for v in value)
            return (connect, read)
        return (DEFAULT_TIMEOUT[0], float(value))
    except (TypeError, ValueError):
        raise MiraklValidationError(f"timeout must be seconds or [connect, read], got {value!r}") from None


def parse_rate(value: Any, key: str) -> float | None:
    """Calls per minute; ``None`` (and ``0``) is unlimited."""
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise MiraklValidationError(f"rate limit {key!r} must be a number of calls per minute, got {value!r}") from None
    if rate < 0:
        raise MiraklValidationError(f"rate limit {key!r} must be >= 0")
    return rate or None


def _rate_limits(from_extra: Any, from_args: Mapping[str, float | None] | None) -> dict[str, float | None]:
    limits: dict[str, float | None] = dict(DEFAULT_RATE_LIMITS)
    extra_limits = from_extra or {}
    if isinstance(extra_limits, str):
        try:
            extra_limits = json.loads(extra_limits)
        except ValueError:
            raise MiraklValidationError("extra rate_limits must be a JSON object") from None
    for source in (extra_limits, from_args or {}):
        if not isinstance(source, Mapping):
            raise MiraklValidationError("rate_limits must be a mapping of key to calls per minute")
        for key, value in source.items():
            if key not in RATE_LIMIT_KEYS:
                raise MiraklValidationError(f"unknown rate limit key {key!r} (known: {sorted(RATE_LIMIT_KEYS)})")
            limits[key] = parse_rate(value, key)
    return limits
