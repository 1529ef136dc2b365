"""Fixtures of the order-step tests (helpers in tests/operators/_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.testing import SandboxHandle, running_sandbox
from tests.operators._helpers import Env, make_env


@pytest.fixture
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=7, debit_delay=0.2) as handle:
        yield handle


@pytest.fixture
def env(fresh_db, monkeypatch, tmp_path, sb) -> Iterator[Env]:
    e = make_env(fresh_db, monkeypatch, tmp_path, sb)
    yield e
    e.store.close()
