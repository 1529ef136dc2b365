"""store.returns saves ReturnRecords only (issue 17: RT11 parsing is return_from_payload's)."""

from __future__ import annotations

import pytest

from orderflow.hooks.mirakl_records import return_from_payload


def _return(return_id: str, state: str = "SHIPPED") -> dict:
    return {"id": return_id, "order_id": "O-1-A", "order_commercial_id": "O-1", "state": state,
            "method_code": "RETURN_METHOD_BY_MAIL", "rma": "RMA-" + return_id,
            "tracking": {"tracking_number": "7023210039414604"},
            "return_lines": [{"order_line_id": "O-1-A-1", "quantity": 1}],
            "date_created": "2026-11-20T12:00:00Z", "last_updated": "2026-11-21T12:00:00Z"}


def test_records_are_saved_once_and_refreshed_when_best_buy_changes_them(store):
    first = store.upsert_returns([return_from_payload(_return("R-1"))])
    assert [(r["return_id"], r["inserted"]) for r in first] == [("R-1", True)]
    assert store.upsert_returns([return_from_payload(_return("R-1"))]) == []  # unchanged: not rewritten
    row = store.get_return("R-1")
    assert (row["order_id"], row["commercial_id"], row["state"], row["rma"], row["tracking_pin"]) == (
        "O-1-A", "O-1", "SHIPPED", "RMA-R-1", "7023210039414604")
    assert row["return_lines"] == [{"order_line_id": "O-1-A-1", "quantity": 1}]
    assert row["raw"] == _return("R-1")
    assert store.find_return("RMA-R-1") == "R-1"
    marked = store.mark_return("R-1", "received", "receiver1", return_from_payload(_return("R-1", "RECEIVED")))
    assert marked["state"] == "RECEIVED" and marked["received_by"] == "receiver1"
    assert store.mark_return("R-1", "judged", "receiver1")["state"] == "RECEIVED"  # no copy: ours kept


def test_a_raw_payload_is_refused_and_nothing_is_written(store):
    with pytest.raises(TypeError, match="return_from_payload"):
        store.upsert_returns([return_from_payload(_return("R-1")), _return("R-2")])
    assert store.get_return("R-1") is None
    store.upsert_returns([return_from_payload(_return("R-1"))])
    with pytest.raises(TypeError, match="return_from_payload"):
        store.mark_return("R-1", "received", "receiver1", _return("R-1", "RECEIVED"))
    row = store.get_return("R-1")
    assert row["state"] == "SHIPPED" and row["received_by"] is None
