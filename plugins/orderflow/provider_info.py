"""What an installed ``orderflow`` distribution tells Airflow's ProvidersManager.

Registered as the ``apache_airflow_provider`` entry point (``provider_info``) in pyproject.toml, so
``pip install orderflow`` makes Airflow list orderflow under its providers and build typed connection
forms for ``mirakl`` and ``canadapost`` (see orderflow.hooks.connection_forms). Airflow validates the
dict against its runtime ``provider_info.schema.json``; ``package-name`` must equal the distribution's
name. Imports nothing heavy: every Airflow process calls this at start-up. The staff pages are the
``airflow.plugins`` entry point, not a provider-info ``plugins`` entry: Airflow loads both lists, and
one plugin registered twice shows up as a plugin import error.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from orderflow.hooks.connection_forms import CONNECTION_TYPES

DISTRIBUTION = "orderflow"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # the repository layout (PYTHONPATH=plugins), not installed
        return "0.0.0+checkout"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": DISTRIBUTION,
        "name": "orderflow",
        "description": "Best Buy Canada Marketplace (Mirakl) + Canada Post back office: the orderflow core DAG, "
        "the packing station and customer-service pages, and the Mirakl and Canada Post connection types.",
        "versions": [version()],
        "integrations": [
            {"integration-name": "Best Buy Marketplace (Mirakl)", "external-doc-url": "https://www.mirakl.com/"},
            {"integration-name": "Canada Post", "external-doc-url": "https://www.canadapost-postescanada.ca/"},
        ],
        "hooks": [
            {"integration-name": "Best Buy Marketplace (Mirakl)", "python-modules": ["orderflow.hooks.mirakl"]},
            {"integration-name": "Canada Post", "python-modules": ["orderflow.hooks.canadapost"]},
        ],
        "connection-types": [dict(c) for c in CONNECTION_TYPES],
    }
