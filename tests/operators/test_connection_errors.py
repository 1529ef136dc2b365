"""Issue 12 item 6: an error about a Connection fails the task and moves no order.

A wrong base URL (the portal's token endpoint answering 404), refused credentials and an unreachable
host are about the Connection, not the orders: every order stays in its input state with no new
history row, and the task fails with a message naming the Connection to fix.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from orderflow.hooks._http import RateLimiter
from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.operators import AcceptOrdersOperator, BuyLabelsOperator, IngestOrdersOperator
from orderflow.operators.errors import ConfigurationError
from tests.operators._helpers import Env, connect, run
from tools.cluster import free_port


def _accepted_orders(env: Env, n: int = 3) -> list[str]:
    ids = env.sb.generate_orders(n)
    run(IngestOrdersOperator, run_id="manual__a", task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id="manual__a", task_id="acceptance.accept_orders")
    env.sb.advance(5)
    assert {env.statuses()[i] for i in ids} == {"accepted"}
    return ids


def _history_lengths(env: Env, ids: list[str]) -> dict[str, int]:
    return {i: len(env.store.history(i)) for i in ids}



def test_a_token_endpoint_404_fails_the_task_and_no_order(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _accepted_orders(env)
    before = _history_lengths(env, ids)
    # The portal with a wrong token path: what a wrong base URL looks like to the hook.
    connect(env.sb, monkeypatch, "portal", token_url=env.sb.canadapost_url.rstrip("/") + "/no/such/oauth/token")
    CanadaPostHook._tokens.clear()

    with pytest.raises(ConfigurationError) as caught:
        run(BuyLabelsOperator, run_id="manual__s1", task_id="shipping.buy_labels")
    message = str(caught.value)
    assert "canadapost_default" in message and "404" in message
    assert {env.statuses()[i] for i in ids} == {"accepted"}
    assert _history_lengths(env, ids) == before
    assert not env.all_shipments()


def test_refused_canada_post_credentials_fail_the_task_and_no_order(env: Env, monkeypatch) -> None:
    ids = _accepted_orders(env)
    before = _history_lengths(env, ids)
    cp = json.loads(env.sb.airflow_conn_uris()["canadapost_default"])
    connect(env.sb, monkeypatch, "xml")
    from os import environ

    current = json.loads(environ["AIRFLOW_CONN_CANADAPOST_DEFAULT"])
    current["password"] = "wrong-" + str(cp.get("password"))
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", json.dumps(current))

    with pytest.raises(AirflowFailException) as caught:
        run(BuyLabelsOperator, run_id="manual__s1", task_id="shipping.buy_labels")
    assert "canadapost_default" in str(caught.value)
    assert {env.statuses()[i] for i in ids} == {"accepted"}
    assert _history_lengths(env, ids) == before


def test_an_unreachable_mirakl_host_fails_the_task_and_no_order(env: Env, monkeypatch) -> None:
    ids = env.sb.generate_orders(3)
    run(IngestOrdersOperator, run_id="manual__a", task_id="ingest.fetch_orders")
    before = _history_lengths(env, ids)
    from os import environ

    mirakl = json.loads(environ["AIRFLOW_CONN_MIRAKL_DEFAULT"])
    mirakl["host"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    mirakl["extra"]["timeout"] = 2
    monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT", json.dumps(mirakl))
    RateLimiter.reset_all()

    with pytest.raises(AirflowException) as caught:
        run(AcceptOrdersOperator, run_id="manual__a2", task_id="acceptance.accept_orders")
    assert "mirakl_default" in str(caught.value)
    assert {env.statuses()[i] for i in ids} == {"pending_acceptance"}
    assert _history_lengths(env, ids) == before
