"""The macro expander matches Grafana's PostgreSQL macro engine (cases from Grafana's macros_test.go)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.grafana.macros import MacroError, TimeRange, expand

RANGE = TimeRange(datetime(2018, 4, 12, 18, 0, tzinfo=UTC), datetime(2018, 4, 12, 18, 5, tzinfo=UTC))


@pytest.mark.parametrize(("sql", "expected"), [
    ("WHERE $__timeFilter(time_column)",
     "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
    ("select $__timeFrom(), $__timeTo()", "select '2018-04-12T18:00:00Z', '2018-04-12T18:05:00Z'"),
    ("GROUP BY $__timeGroup(time_column,'5m')", "GROUP BY floor(extract(epoch from time_column)/300)*300"),
    ("SELECT $__timeGroup(time_column,'5m'), x",  # pre-5.3 compatibility: aliased
     'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", x'),
    ("SELECT $__timeGroupAlias(time_column, '1d')",
     'SELECT floor(extract(epoch from time_column)/86400)*86400 AS "time"'),
    ("select $__time(time_column)", 'select time_column AS "time"'),
    ("WHERE $__unixEpochFilter(t)", "WHERE t >= 1523556000 AND t <= 1523556300"),
    ("select $__unixEpochFrom(), $__unixEpochTo()", "select 1523556000, 1523556300"),
    ("WHERE x = '$name' AND b = '${bucket}'", "WHERE x = 'it''s' AND b = '1h'"),
])
def test_expansion_matches_grafana(sql, expected):
    assert expand(sql, RANGE, {"name": "it's", "bucket": "1h"}) == expected


@pytest.mark.parametrize("sql", [
    "SELECT $__nope(x)",                       # unknown macro
    "WHERE dag_id = '$missing'",               # unknown template variable
    "SELECT $__timeGroup(t, 'soon')",          # bad interval
])
def test_what_grafana_would_refuse_is_refused(sql):
    with pytest.raises(MacroError):
        expand(sql, RANGE, {})


def test_a_function_call_inside_a_macro_is_cut_at_its_first_parenthesis_as_in_grafana():
    """Why the dashboards never pass an expression to a macro (checked in test_dashboards)."""
    assert expand("WHERE $__timeFilter(coalesce(a, b))", RANGE) == (
        "WHERE coalesce(a BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z')"
    )
