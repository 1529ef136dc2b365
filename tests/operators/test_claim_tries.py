"""Which claim holders Airflow shows ended (pure; the end-to-end case is in test_ended_tries.py)."""

from __future__ import annotations

from types import SimpleNamespace

from orderflow.operators.claim_tries import ended_tries, task_states


def holder(run_id: str, task_id: str = "shipping.buy_labels", try_number: int = 1, map_index: int = -1) -> dict:
    return {"claimed_by": f"core/{run_id}/{task_id}", "dag_id": "core", "run_id": run_id, "task_id": task_id,
            "map_index": map_index, "try_number": try_number, "orders": 3}


def test_only_known_task_instances_in_a_state_where_no_try_runs_have_ended() -> None:
    holders = [holder("r1"), holder("r2"), holder("r3"), holder("r4"), holder("r5"), holder("r6", map_index=2),
               holder("r7", try_number=3)]
    states = {"core": {
        "r1": {"shipping.buy_labels": "failed"},
        "r2": {"shipping.buy_labels": "running"},
        "r3": {"shipping.buy_labels": "restarting"},
        "r4": {"other_task": "failed"},  # r4's task unknown to Airflow
        "r6": {"shipping.buy_labels_2": "up_for_retry"},
        "r7": {"shipping.buy_labels": None},  # cleared: no state, no try running
    }}
    assert ended_tries(holders, states) == [
        ("core/r1/shipping.buy_labels", 1, "failed"),
        ("core/r6/shipping.buy_labels", 1, "up_for_retry"),
        ("core/r7/shipping.buy_labels", 3, "none"),
    ]


def test_outside_a_task_runner_nothing_is_known() -> None:
    assert task_states(SimpleNamespace(try_number=1), [holder("r1")]) == {}

    class Refusing:
        @staticmethod
        def get_task_states(**kwargs):
            raise RuntimeError("no supervisor")

    assert task_states(Refusing(), [holder("r1")]) == {}


def test_one_question_per_dag() -> None:
    asked: list[dict] = []

    class Ti:
        @staticmethod
        def get_task_states(**kwargs):
            asked.append(kwargs)
            return {"r1": {"shipping.buy_labels": "failed"}}

    out = task_states(Ti(), [holder("r1"), holder("r2", task_id="tracking.push_tracking")])
    assert asked == [{"dag_id": "core", "run_ids": ["r1", "r2"],
                      "task_ids": ["shipping.buy_labels", "tracking.push_tracking"]}]
    assert out == {"core": {"r1": {"shipping.buy_labels": "failed"}}}
