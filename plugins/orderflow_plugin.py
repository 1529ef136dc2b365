"""The plugin entry point of the repository's own layout (the plugins/ folder of ``make run`` and the
compose mount).

An installed ``orderflow`` distribution (``make venv`` installs this checkout editable; a seller installs
the wheel) registers the same class as the ``airflow.plugins`` entry point ``orderflow``, and Airflow
loads it from there. Airflow would report a second registration from this folder as a plugin import
error ("already registered"), so the class is only exposed here when no such entry point exists (a
plain ``PYTHONPATH=plugins:.`` checkout, or an image that copies plugins/ without installing orderflow).
plugins/.airflowignore hides the orderflow package from Airflow's file-by-file plugin import.
"""

from __future__ import annotations

from importlib.metadata import entry_points

ENTRY_POINT = "orderflow.plugin:OrderflowPlugin"

if not any(ep.value == ENTRY_POINT for ep in entry_points(group="airflow.plugins")):
    from orderflow.plugin import URL_PREFIX, OrderflowPlugin

    __all__ = ["URL_PREFIX", "OrderflowPlugin"]
