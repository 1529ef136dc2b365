"""One sandbox and one order DB for the whole session of the model-based test (each example resets
them through the sandbox's __admin API and a TRUNCATE), and its Hypothesis profiles.

Profiles (``ORDERFLOW_MODEL_PROFILE``): ``ci`` (default, inside ``make test``: about a minute on two
cores) and ``soak`` (``make soak``: many more examples and longer ones).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from orderflow import lifecycle
from sandbox.testing import running_sandbox
from tests.operators._helpers import catalog_rows
from tools import pg

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.function_scoped_fixture])
# ci: the same examples every run (a red CI is a reproducible one); soak: new ones each time.
_EXAMPLES, _STEPS = os.environ.get("ORDERFLOW_MODEL_EXAMPLES"), os.environ.get("ORDERFLOW_MODEL_STEPS")
settings.register_profile("ci", derandomize=True, max_examples=int(_EXAMPLES or 5),
                          stateful_step_count=int(_STEPS or 25), **_COMMON)
settings.register_profile("soak", derandomize=False, max_examples=int(_EXAMPLES or 150),
                          stateful_step_count=int(_STEPS or 40), **_COMMON)
PROFILE = os.environ.get("ORDERFLOW_MODEL_PROFILE", "ci")


@pytest.fixture(scope="session")
def model_world(pg_server, tmp_path_factory) -> Iterator[object]:
    from orderflow import db
    from orderflow.store import OrderStore
    from tests.liveness import dag_order_steps, what_steps_take
    from tests.model.world import World

    name = f"of_t{os.getpid()}_model"
    pg.create_database(pg_server, name, drop_first=True)
    url = pg_server.url(name)
    db.upgrade(url)
    # Debits happen when the model lets time pass (the clock rule), never behind its back.
    with running_sandbox(seed=12, debit_delay=600.0) as sb:
        world = World(sb, url, tmp_path_factory.mktemp("model-labels"))
        store = OrderStore(url)
        store.upsert_products(catalog_rows())
        store.close()
        with world.environment() as mp:
            # What each step claims under each settings combination, from the DAG's own tasks.
            steps = dag_order_steps()
            for flags in lifecycle.SETTINGS_COMBINATIONS:
                takes = what_steps_take(steps, flags, mp)
                world.claim_statuses[flags] = set().union(*takes.claim_statuses.values())
            world.reset()
        yield world
    pg.drop_database(pg_server, name)
