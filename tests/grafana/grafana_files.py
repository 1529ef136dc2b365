"""Loading grafana/: dashboards, their queries, provisioned data sources and alert rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.grafana.macros import TimeRange, expand, parse_relative

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA = REPO_ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
EXPECTED_DASHBOARDS = {"orders.json", "customer_service.json", "airflow.json"}
ORDER_DS = "orderflow-db"
AIRFLOW_DS = "airflow-db"


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def datasources() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.yaml")):
        for ds in yaml.safe_load(path.read_text(encoding="utf-8")).get("datasources", []):
            found[ds["uid"]] = ds
    return found


def alert_rules() -> list[dict[str, Any]]:
    rules = []
    for path in sorted((GRAFANA / "provisioning" / "alerting").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8")).get("groups", []):
            rules.extend(group["rules"])
    return rules


def variable_choices(dashboard: dict[str, Any]) -> list[dict[str, str]]:
    """The default values of the dashboard's variables, then each other option of each variable."""
    variables = dashboard.get("templating", {}).get("list", [])
    defaults = {v["name"]: str(v["current"]["value"]) for v in variables}
    choices = [defaults]
    for v in variables:
        for option in v.get("options", []):
            if str(option["value"]) != defaults[v["name"]]:
                choices.append({**defaults, v["name"]: str(option["value"])})
    return choices


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    dashboard_json: dict[str, Any]
    panel: dict[str, Any]
    target: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel['id']}:{self.target['refId']}"

    @property
    def datasource_uid(self) -> str:
        return (self.target.get("datasource") or self.panel["datasource"])["uid"]

    def time_range(self, now: datetime) -> TimeRange:
        window = self.dashboard_json["time"]
        return TimeRange(parse_relative(window["from"], now), parse_relative(window["to"], now))

    def sql(self, now: datetime, variables: dict[str, str] | None = None) -> str:
        variables = variables or variable_choices(self.dashboard_json)[0]
        return expand(self.target["rawSql"], self.time_range(now), variables)


def panel_queries() -> list[PanelQuery]:
    queries = []
    for path in DASHBOARDS:
        dashboard = load_dashboard(path)
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                queries.append(PanelQuery(path.stem, dashboard, panel, target))
    return queries


def alert_sql(rule: dict[str, Any], now: datetime) -> tuple[str, str]:
    """(data source uid, expanded SQL) of a rule's SQL query."""
    (query,) = [d for d in rule["data"] if d["datasourceUid"] != "__expr__"]
    window = query["relativeTimeRange"]
    time_range = TimeRange(now - timedelta(seconds=window["from"]), now - timedelta(seconds=window["to"]))
    return query["datasourceUid"], expand(query["model"]["rawSql"], time_range)
