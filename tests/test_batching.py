"""orderflow.batching.chunked, the one chunking helper: the edges both former copies handled
(hooks.mirakl_api.chunked on OR11 id lists, operators.base.chunks on ingest's payload batches)."""

from __future__ import annotations

import pytest

from orderflow.batching import chunked


def test_splits_in_order_with_a_shorter_last_chunk():
    assert list(chunked(["a", "b", "c", "d", "e"], 2)) == [["a", "b"], ["c", "d"], ["e"]]


def test_an_exact_multiple_has_no_empty_trailing_chunk():
    ids = [f"{i}-A" for i in range(200)]
    chunks = list(chunked(ids, 100))
    assert [len(c) for c in chunks] == [100, 100]
    assert [oid for c in chunks for oid in c] == ids


def test_empty_input_gives_no_chunk():
    assert list(chunked([], 100)) == []
    assert list(chunked(iter(()), 3)) == []


def test_fewer_items_than_the_size_is_one_chunk():
    assert list(chunked(("x",), 100)) == [["x"]]


def test_size_one():
    assert list(chunked("abc", 1)) == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize("size", [0, -1, -100, True, 2.0, None])
def test_a_size_below_one_is_refused_when_called(size):
    # The former copies: 0 raised only at the first next() (range step 0), a negative size
    # silently yielded nothing, dropping every item.
    with pytest.raises(ValueError, match="chunk size"):
        chunked(["a"], size)  # no iteration needed


def test_generators_are_read_lazily_and_once():
    pulled: list[int] = []

    def numbers():
        for n in range(7):
            pulled.append(n)
            yield n

    chunks = chunked(numbers(), 3)
    assert pulled == []
    assert next(chunks) == [0, 1, 2]
    assert pulled == [0, 1, 2]
    assert list(chunks) == [[3, 4, 5], [6]]


def test_sequences_of_any_item_type_and_chunks_are_fresh_lists():
    payloads = [{"order_id": "1"}, {"order_id": "2"}, {"order_id": "3"}]
    chunks = list(chunked(payloads, 2))
    assert chunks == [payloads[:2], payloads[2:]]
    chunks[0].append({"order_id": "x"})
    assert len(payloads) == 3  # a chunk is a copy, not a view
    assert list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]
