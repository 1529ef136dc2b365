"""Local servers that behave like Best Buy Canada's Mirakl seller API and Canada Post.

They are part of the product (the demo runs against them), not test scaffolding. Entry point:
``python -m sandbox serve --help``. Shared HTTP framework: :mod:`sandbox.core`. In-process use
(tests, benchmarks): :func:`sandbox.testing.running_sandbox`.

The sandbox imports nothing from ``plugins/`` and nothing from Airflow, so it can run (and be
tested) on its own.
"""
