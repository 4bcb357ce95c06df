"""Every query of a dashboard's JSON model, and the substitution Grafana makes before it
sends one to its data source (its macros, the dashboard's variables). The tests run each
query so substituted against the real Prometheus and the real read-model schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dondoc.dashboards import all_panels


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    language: str  # "promql" | "sql"
    text: str
    instant: bool = False
    format: str = "time_series"

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def panel_queries(model: dict[str, Any]) -> list[Query]:
    found = []
    for panel in all_panels(model):
        for target in panel.get("targets", []):
            if "expr" in target:
                found.append(Query(model["uid"], panel.get("title", ""), target["refId"], "promql",
                                   target["expr"], bool(target.get("instant")),
                                   target.get("format", "time_series")))
            elif "rawSql" in target:
                found.append(Query(model["uid"], panel.get("title", ""), target["refId"], "sql",
                                   target["rawSql"], False, target.get("format", "table")))
    return found


def shown_columns(model: dict[str, Any], query: Query) -> set[str]:
    """The fields the query's panel names in its overrides (headers, units, links, hidden
    columns): the columns its SQL must return."""
    panel = next(p for p in all_panels(model) if p.get("title") == query.panel)
    return {o["matcher"]["options"] for o in panel.get("fieldConfig", {}).get("overrides", [])
            if o["matcher"]["id"] == "byName"}


def variables(model: dict[str, Any]) -> list[dict[str, Any]]:
    return list(model.get("templating", {}).get("list", []))


def variable_queries(model: dict[str, Any]) -> list[Query]:
    found = []
    for variable in variables(model):
        query = variable.get("query")
        text = query if isinstance(query, str) else (query or {}).get("query", "")
        language = "promql" if variable.get("datasource", {}).get("type") == "prometheus" else "sql"
        found.append(Query(model["uid"], f"${variable['name']}", "variable", language, text))
    return found


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$", re.S)


def label_values(query: str) -> tuple[str, str]:
    """`label_values(selector, label)` → (selector, label): what Grafana asks Prometheus."""
    match = LABEL_VALUES.match(query.strip())
    if match is None:
        raise ValueError(f"not a label_values() query: {query}")
    return match["selector"], match["label"]


def _replace_variables(text: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):  # $year before $y
        text = text.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    return text


def substitute_promql(expr: str, values: dict[str, str], *, rate_interval: str = "1m",
                      range_: str = "5m", interval: str = "15s") -> str:
    """As Grafana does: its interval macros, then the variables (`values`: name → the text
    it sends, the variable's allValue for "All")."""
    text = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_) \
        .replace("$__interval", interval)
    return _replace_variables(text, values)


def _sql_moment(moment: datetime) -> str:
    return f"'{moment.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def substitute_sql(sql: str, values: dict[str, str], *, start: datetime, end: datetime) -> str:
    """As Grafana's PostgreSQL data source does: $__timeFilter(col), $__timeFrom(),
    $__timeTo(), $__unixEpochFrom/To(), then the variables (already quoted as Grafana
    quotes them: strings in single quotes, numbers bare)."""
    def time_filter(match: re.Match[str]) -> str:
        return f"{match[1]} BETWEEN {_sql_moment(start)} AND {_sql_moment(end)}"

    text = re.sub(r"\$__timeFilter\(([^)]+)\)", time_filter, sql)
    text = text.replace("$__timeFrom()", _sql_moment(start)).replace("$__timeTo()", _sql_moment(end))
    text = text.replace("$__unixEpochFrom()", str(int(start.timestamp()))) \
        .replace("$__unixEpochTo()", str(int(end.timestamp())))
    if "$__" in text:
        raise ValueError(f"a Grafana macro this substitution does not know: {text}")
    return _replace_variables(text, values)


def sql_literal(value: str | int) -> str:
    """A variable's value as Grafana's SQL data sources interpolate it."""
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
