from __future__ import annotations

import multiprocessing
import threading
import time

import psycopg2

from orderflow.store import ClaimTry, OrderStore


def test_concurrent_threads_never_claim_the_same_order(store, new_order, fresh_db):
    ids = {new_order() for _ in range(60)}
    results: dict[str, list[str]] = {}
    barrier = threading.Barrier(6)

    def claimer(name: str) -> None:
        own = OrderStore(fresh_db)
        barrier.wait()
        got: list[str] = []
        while batch := own.claim_orders("pending_acceptance", step="accept", owner=name, limit=7):
            got.extend(batch)
        results[name] = got
        own.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [oid for got in results.values() for oid in got]
    assert len(claimed) == len(set(claimed)), "an order was claimed twice"
    assert set(claimed) == ids
    assert sum(1 for got in results.values() if got) >= 2, "the test did not exercise concurrency"


def _process_claimer(url: str, name: str, start: float, queue) -> None:
    own = OrderStore(url)
    while time.time() < start:
        time.sleep(0.001)
    got: list[str] = []
    while batch := own.claim_orders("pending_acceptance", step="accept", owner=name, limit=5):
        got.extend(batch)
    queue.put(got)


def test_concurrent_processes_never_claim_the_same_order(store, new_order, fresh_db):
    ids = {new_order() for _ in range(40)}
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 2.0
    procs = [ctx.Process(target=_process_claimer, args=(fresh_db, f"p{i}", start, queue)) for i in range(3)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    claimed = [oid for g in got for oid in g]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == ids


def test_claims_expire_and_release_and_follow_status(store, new_order, fresh_db):
    a, b = new_order(), new_order()
    first = store.claim_orders("pending_acceptance", step="accept", owner="r1", limit=10, ttl_seconds=600)
    assert first == sorted([a, b])
    assert store.claim_orders("pending_acceptance", step="accept", owner="r2", limit=10) == []
    # releasing one makes it claimable again; a transition that releases frees the other
    assert store.release_claims([a], owner="r1") == 1
    assert store.claim_orders("pending_acceptance", step="accept", owner="r2", limit=10) == [a]
    store.record_transition(b, "accepted", release_owner="r1")
    assert store.claim_orders("accepted", step="ship", owner="r3", limit=10) == [b]
    # a dead worker's claim expires
    conn = psycopg2.connect(fresh_db)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE order_claims SET expires_at = now() - interval '1 second' WHERE order_id = %s", (a,))
    conn.close()
    assert store.claim_orders("pending_acceptance", step="accept", owner="r4", limit=10) == [a]


def test_claim_only_returns_orders_in_the_asked_status(store, new_order):
    a = new_order()
    b = new_order()
    store.record_transition(b, "accepted")
    assert store.claim_orders("accepted", step="ship", owner="x", limit=10) == [b]
    assert store.claim_orders("pending_acceptance", step="accept", owner="x", limit=10) == [a]


def test_shards_partition_the_orders_and_each_claims_only_its_own(store, new_order):
    """Issue 15: every order belongs to exactly one shard, whatever the number of shards; a shard's
    claims, its re-attempts and its void candidates never reach another shard's orders."""
    ids = {new_order() for _ in range(40)}
    for shards in (1, 2, 3, 4, 7):
        per_shard = {}
        for shard in range(shards):
            got: list[str] = []
            while batch := store.claim_orders("pending_acceptance", step="accept", owner=f"s{shards}-{shard}",
                                              limit=6, shard=shard, shards=shards):
                got.extend(batch)
            per_shard[shard] = set(got)
            store.release_owner_claims(f"s{shards}-{shard}")
        claimed = [oid for got in per_shard.values() for oid in got]
        assert len(claimed) == len(set(claimed)) and set(claimed) == ids, shards
        if shards > 1:
            assert sum(1 for got in per_shard.values() if got) >= 2, f"{shards} shards: all orders in one shard"
        # The database's shard of each order is the one that claimed it, and is stable.
        with store.transaction() as cur:
            cur.execute("SELECT order_id, order_shard(order_id, %s) AS shard FROM orders", (shards,))
            assert {r["order_id"]: r["shard"] for r in cur.fetchall()} == {
                oid: shard for shard, got in per_shard.items() for oid in got}


def test_a_shard_reattempts_and_voids_only_its_own_orders(store, new_order):
    ids = [new_order() for _ in range(30)]
    for oid in ids:
        store.record_transition(oid, "acceptance_failed", run_id="r1", actor="orderflow_core.acceptance.accept_orders")
    with store.transaction() as cur:
        cur.execute("SELECT order_id, order_shard(order_id, 3) AS shard FROM orders")
        shard_of = {r["order_id"]: r["shard"] for r in cur.fetchall()}
    for shard in range(3):
        rows = store.orders_failed_by_run("acceptance_failed", run_id="r1",
                                          actor="orderflow_core.acceptance.accept_orders", shard=shard, shards=3)
        assert {r["order_id"] for r in rows} == {oid for oid in ids if shard_of[oid] == shard}
    # One shard never sees another's shipments to void.
    for oid in ids:
        store.record_transition(oid, "canceled")
        store.create_shipment_intent(order_id=oid, package_no=1, customer_request_id=f"{oid}-1")
    seen: list[str] = []
    for shard in range(3):
        rows = store.void_candidates(run_id="r2", shard=shard, shards=3)
        assert {shard_of[r["order_id"]] for r in rows} <= {shard}
        seen.extend(r["order_id"] for r in rows)
    assert sorted(seen) == sorted(ids)


def test_a_claim_names_its_try_and_an_ended_try_frees_only_its_own_claims(store, new_order, fresh_db):
    a, b, c = new_order(), new_order(), new_order()
    killed = ClaimTry("orderflow_core", "scheduled__1", "acceptance.accept_orders", -1, 1)
    owner = "orderflow_core/scheduled__1/acceptance.accept_orders"
    assert store.claim_orders("pending_acceptance", step="acceptance", owner=owner, limit=2, ttl_seconds=3600,
                              holder=killed) == sorted([a, b])
    (holder,) = store.claim_holders("pending_acceptance", owner="someone-else")
    assert {k: holder[k] for k in ("claimed_by", "dag_id", "run_id", "task_id", "map_index", "try_number",
                                   "orders")} == {
        "claimed_by": owner, "dag_id": "orderflow_core", "run_id": "scheduled__1",
        "task_id": "acceptance.accept_orders", "map_index": -1, "try_number": 1, "orders": 2}
    assert store.claim_holders("pending_acceptance", owner=owner) == []  # never one's own
    held = {r["order_id"]: r for r in store.held_orders()}
    assert set(held) == {a, b} and held[a]["claimed_by"] == owner and held[a]["status"] == "pending_acceptance"
    assert held[a]["claimed_at"] <= held[a]["expires_at"]

    # The same task instance's next try claims the third order (try 2, same owner).
    retry = ClaimTry("orderflow_core", "scheduled__1", "acceptance.accept_orders", -1, 2)
    assert store.claim_orders("pending_acceptance", step="acceptance", owner=owner, limit=5, holder=retry) == [c]

    # Another run, told that try 1 has ended, takes try 1's orders but not try 2's.
    assert store.claim_orders("pending_acceptance", step="acceptance", owner="other", limit=5) == []
    assert store.claim_orders("pending_acceptance", step="acceptance", owner="other", limit=5,
                              ended_tries=[(owner, 1)]) == sorted([a, b])
    assert store.claim_orders("pending_acceptance", step="acceptance", owner="third", limit=5,
                              ended_tries=[("other", 1), ("nobody", 9)]) == []
    # Claims taken outside a task (no try recorded) only expire.
    assert store.release_owner_claims("other") == 2
    assert store.claim_orders("pending_acceptance", step="acceptance", owner="tool", limit=5) == sorted([a, b])
    assert store.claim_orders("pending_acceptance", step="acceptance", owner="x", limit=5,
                              ended_tries=[("tool", 1000)]) == []
