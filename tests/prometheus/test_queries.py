"""Every dashboard query, annotation and rule expression against a real Prometheus.

Queries are read from the committed dashboards/*.json (what users import), with Grafana's
variables substituted twice: once with "All" (``.*``) and once with one real app (or one
Daylight instance). A target Grafana runs as a range query runs here as a range query over the
stack's lifetime; an instant one at "now". Each must return at least one series whose values
are finite and plausible (ratios in [0, 1], DORA levels in 1..4, everything else ≥ 0).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus.conftest import ROOT, RULE_FILES, Stack
from tests.prometheus.contract import metric_names

DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

# Families the exporter does not fill yet, as {pattern in a query: why}. A query matching one
# must evaluate without error and return NO data; once the exporter fills the family the test
# fails, the entry is removed, and the query is checked in full. Empty: everything is filled.
PENDING: dict[str, str] = {}

RATIO_FAMILIES = {
    "dora_change_failure_rate",
    "dora_rework_rate",
    "dora_lead_time_coverage_ratio",
    "environment_window:dora_change_failure_rate:quantile50",
    "environment_window:dora_rework_rate:quantile50",
}
LEVEL_FAMILIES = {"dora_performance_level"}


@dataclass(frozen=True)
class Query:
    source: str
    panel_id: int
    title: str
    ref: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.source}:{self.panel_id}:{self.title}:{self.ref}"


def dashboard_queries() -> list[Query]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append(
                    Query(
                        path.stem,
                        panel["id"],
                        panel["title"],
                        target["refId"],
                        target["expr"],
                        bool(target.get("instant")),
                    )
                )
        for annotation in board["annotations"]["list"]:
            if "expr" in annotation:
                out.append(
                    Query(
                        path.stem,
                        0,
                        f"annotation {annotation['name']}",
                        "-",
                        annotation["expr"],
                        False,
                    )
                )
    return out


def rules(kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(rule for rule in group["rules"] if kind in rule)
    return out


VARIANTS = ("all", "one")


def substitute(expr: str, variant: str, stack: Stack) -> str:
    values = {
        "environment": ".*",
        "namespace": ".*",
        "app": ".*",
        "instance": ".*",
        "window": "30d",
    }
    if variant == "one":
        values |= {
            "environment": "production",
            "namespace": "payments",
            "app": "payments",
            "instance": stack.run_instance,
            "window": "7d",
        }
    values |= {"__rate_interval": "30s", "__interval": "10s", "__range": "1h"}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown variable ${name} in {expr}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def plausible_range(expr: str) -> tuple[float, float]:
    names = metric_names(expr)
    if names and names <= RATIO_FAMILIES:
        return (0.0, 1.0)
    if names and names <= LEVEL_FAMILIES:
        return (1.0, 4.0)
    return (0.0, math.inf)


def pending_reason(expr: str) -> str | None:
    for pattern, reason in PENDING.items():
        if pattern in expr:
            return reason
    return None


def values_of(series: dict[str, Any]) -> list[float]:
    points = series.get("values") or [series["value"]]
    return [float(value) for _, value in points]


def check_result(expr: str, result: list[dict[str, Any]]) -> None:
    reason = pending_reason(expr)
    if reason is not None:
        assert not result, (
            f"the exporter now fills what this query needs ({reason}): remove the entry from "
            f"PENDING in {Path(__file__).name} so the query is checked in full"
        )
        return
    assert result, "no series"
    low, high = plausible_range(expr)
    for series in result:
        values = values_of(series)
        assert values, f"{series['metric']}: no points"
        for value in values:
            assert math.isfinite(value), f"{series['metric']}: {value}"
            assert low <= value <= high, f"{series['metric']}: {value} not in [{low}, {high}]"


QUERIES = dashboard_queries()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_dashboard_query_returns_plausible_data(stack: Stack, query: Query, variant: str) -> None:
    expr = substitute(query.expr, variant, stack)
    result = stack.query(expr) if query.instant else stack.query_range(expr)
    try:
        check_result(expr, result)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nquery: {expr}\nresult: {json.dumps(result)[:1500]}") from None


RECORDING = rules("record")
ALERTS = rules("alert")


@pytest.mark.parametrize(
    "rule", RECORDING, ids=[f"{r['record']}:{i}" for i, r in enumerate(RECORDING)]
)
def test_recording_rule_expression_returns_plausible_data(
    stack: Stack, rule: dict[str, Any]
) -> None:
    """The test data reach every DORA level, so even each per-level rule has data."""
    check_result(rule["expr"], stack.query(rule["expr"]))


@pytest.mark.parametrize("record", sorted({r["record"] for r in RECORDING}))
def test_recorded_series_have_plausible_data(stack: Stack, record: str) -> None:
    check_result(record, stack.query(record))


def test_every_dora_level_is_recorded(stack: Stack) -> None:
    levels = {s["metric"]["level"] for s in stack.query("environment_key_level:dora_apps:count")}
    assert levels == {"elite", "high", "medium", "low"}


@pytest.mark.parametrize("rule", ALERTS, ids=[r["alert"] for r in ALERTS])
def test_alert_expression_evaluates(stack: Stack, rule: dict[str, Any]) -> None:
    stack.query(rule["expr"])  # raises on a PromQL error


def test_prometheus_evaluates_every_rule_without_error(stack: Stack) -> None:
    groups = stack.api("/api/v1/rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(RECORDING) + len(ALERTS)
    broken = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    assert not broken


def test_process_panels_only_show_daylight(stack: Stack) -> None:
    """process_* exist on every Python/Go exporter; the dashboards must keep to Daylight's."""
    board = json.loads((ROOT / "dashboards" / "daylight-health.json").read_text())
    exprs = [
        t["expr"] for p in board["panels"] for t in p.get("targets", []) if "process_" in t["expr"]
    ]
    assert exprs
    daylight = {stack.replay_instance, stack.run_instance}
    everything = {s["metric"]["instance"] for s in stack.query("process_resident_memory_bytes")}
    assert everything > daylight, "the Prometheus self-scrape should expose process_* too"
    for expr in exprs:
        result = stack.query_range(substitute(expr, "all", stack))
        shown = {s["metric"].get("instance") for s in result}
        if shown != {None}:
            assert shown <= daylight, expr


def test_no_alert_about_daylight_itself_fires_on_a_healthy_stack(stack: Stack) -> None:
    healthy = (
        "DaylightAbsent",
        "DaylightScrapeFailing",
        "DaylightInformerNotSynced",
        "DaylightInformerForbidden",
        "DaylightSeriesDropped",
    )
    for rule in ALERTS:
        if rule["alert"] in healthy:
            assert not stack.query(rule["expr"]), rule["alert"]
