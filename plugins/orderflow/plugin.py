"""orderflow's Airflow plugin: the staff pages (packing station, customer-service inbox).

Loaded two ways, one class: an installed ``orderflow`` distribution registers it as the
``airflow.plugins`` entry point ``orderflow``; the repository's own layout loads it from
``plugins/orderflow_plugin.py``. When both are present Airflow keeps the first and skips the other
("already registered"). The pages are a FastAPI app mounted at ``/orderflow`` in the api-server;
``external_views`` put them in Airflow's navigation, and their ``url_route`` makes them open inside
the Airflow UI (``/plugin/<url_route>``) rather than in a bare tab.

Importing this module must stay cheap (every Airflow process loads plugins): the FastAPI app is
built on its first request, see orderflow.views.app.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from orderflow.views.app import app as staff_pages_app

URL_PREFIX = "/orderflow"


class OrderflowPlugin(AirflowPlugin):
    name = "orderflow"
    fastapi_apps = [{"app": staff_pages_app, "url_prefix": URL_PREFIX, "name": "orderflow staff pages"}]
    external_views = [
        {
            "name": "Packing station",
            "href": f"{URL_PREFIX}/packing/",
            "destination": "nav",
            "url_route": "packing-station",
        },
        {
            "name": "Close the day",
            "href": f"{URL_PREFIX}/close-day/",
            "destination": "nav",
            "url_route": "close-the-day",
        },
        {
            "name": "Customer service",
            "href": f"{URL_PREFIX}/inbox/",
            "destination": "nav",
            "url_route": "customer-service",
        },
        {
            "name": "Returns",
            "href": f"{URL_PREFIX}/returns/",
            "destination": "nav",
            "url_route": "returns",
        },
    ]
