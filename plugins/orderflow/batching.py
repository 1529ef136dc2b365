"""One chunking helper for the whole package (issue 17: "one parser per thing").

It replaces two copies that disagreed on their edges: ``hooks.mirakl_api.chunked`` (a list of
lists) and ``operators.base.chunks`` (a generator), both of which took only a ``Sequence[str]``
(ingest chunks order payloads, dicts) and, with a negative size, silently returned no chunk at all:
every item dropped. Here a size below 1 is refused, so no caller can lose what it meant to send.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

__all__ = ["chunked"]


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in order, as lists of ``size`` (the last one shorter); nothing for no items.

    Any iterable (a list, a tuple, a generator) is read once, lazily. ``size`` is checked when called,
    not at the first ``next()``: ``ValueError`` for a size below 1 (or a bool, which is no size).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"chunk size must be an integer >= 1, got {size!r}")
    return _chunks(iter(items), size)


def _chunks(iterator: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(islice(iterator, size)):
        yield chunk
