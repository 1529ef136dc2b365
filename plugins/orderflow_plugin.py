"""The plugin entry point of the repository's own layout (``make run``, the compose mount of plugins/).

An installed ``orderflow`` wheel registers the same class through the ``airflow.plugins`` entry point
instead; see orderflow.plugin. plugins/.airflowignore hides the orderflow package from Airflow's
file-by-file plugin import.
"""

from __future__ import annotations

from orderflow.plugin import URL_PREFIX, OrderflowPlugin

__all__ = ["URL_PREFIX", "OrderflowPlugin"]
