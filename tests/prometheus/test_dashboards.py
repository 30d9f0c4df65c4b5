"""dashboards/: generated from tools/dashboards, importable into Grafana 10 and 11, portable.

No Grafana server runs here; the JSON is checked against the typed dashboard model of
grafana-foundation-sdk (decode → encode must keep every field), plus what an import needs:
schemaVersion 39, no __inputs, the data source only ever as the ``${datasource}`` variable,
every variable used is defined, panels on the 24-column grid without overlaps, and only
metric names from design §4 (or recorded by alerts/daylight.rules.yml). That the queries return
data is tests/prometheus/test_queries.py's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.prometheus.contract import ROOT, known_metrics, metric_names, names_a_job
from tools.dashboards import generate

FILES = sorted((ROOT / "dashboards").glob("*.json"))
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__from", "__to", "__all",
                     "__data", "__url_time_range"}  # fmt: skip  # a table
ALLOWED_UIDS = {"prometheus": "${datasource}", "tempo": "${tracing}", "grafana": "-- Grafana --"}
_VARIABLE = re.compile(r"\$\{(\w+)[^}]*\}|\$(\w+)")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def exprs(board: dict[str, Any]) -> list[str]:
    out = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    out += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    out += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return out


def test_committed_dashboards_equal_a_fresh_generation() -> None:
    fresh = generate.render()
    assert sorted(fresh) == [p.name for p in FILES]
    stale = [
        name for name, text in fresh.items() if (ROOT / "dashboards" / name).read_text() != text
    ]
    assert not stale, f"{stale} differ: run `.venv/bin/python -m tools.dashboards.generate`"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_dashboard_is_importable_and_portable(path: Path) -> None:
    board = load(path)
    assert "__inputs" not in board and "__requires" not in board
    assert board["schemaVersion"] == 39
    assert board["id"] is None and board["uid"].startswith("daylight-") and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for where, node in walk(board):
        if isinstance(node, dict) and isinstance(node.get("datasource"), dict):
            ref = node["datasource"]
            assert ref.get("uid") == ALLOWED_UIDS.get(ref.get("type")), f"{where}: {ref}"
    text = path.read_text()
    for match in _VARIABLE.finditer(text):
        name = match.group(1) or match.group(2)
        assert name in variables or name in BUILTIN_VARIABLES, f"undefined variable ${name}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_queries_name_contract_metrics_and_no_job(path: Path) -> None:
    known = known_metrics()
    for expr in exprs(load(path)):
        assert not names_a_job(expr), expr
        unknown = metric_names(expr) - known
        assert not unknown, f"{unknown} in {expr}"
        if "process_" in expr:
            assert "and on (job, instance) daylight_build_info" in expr, expr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_panels_sit_on_the_grid_without_overlap(path: Path) -> None:
    board = load(path)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)) and all(refs), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what it shows"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_dashboard_matches_the_grafana_schema_model(path: Path) -> None:
    """Decoding with the SDK's typed model and encoding again keeps every field we wrote."""
    raw = load(path)
    again = json.loads(json.dumps(Dashboard.from_json(raw), cls=JSONEncoder))
    # written on purpose, unknown to the typed model: the classic Prometheus annotation fields
    # (Grafana 10 and 11 both read them) and `id: null` for a new dashboard
    extra = {"titleFormat", "textFormat", "step", "useValueForTime", "tagKeys"}
    lost: list[str] = []

    def compare(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key, value in a.items():
                if key not in b:
                    if not (key in extra and "/annotations" in where) and where + key != "/id":
                        lost.append(f"{where}{key}")
                else:
                    compare(value, b[key], f"{where}{key}/")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                compare(x, y, f"{where}{index}/")
        elif a != b:
            lost.append(f"{where}: {a!r} became {b!r}")

    compare(raw, again, "/")
    assert not lost


def test_overview_has_the_keys_levels_ranking_and_scope_variables() -> None:
    board = load(ROOT / "dashboards" / "dora-overview.json")
    names = [v["name"] for v in board["templating"]["list"]]
    assert names[:4] == ["datasource", "environment", "namespace", "app"]
    titles = {p["title"] for p in board["panels"]}
    for key in generate.KEYS:
        assert key.title in titles
        if key.level_key:
            assert f"{key.title}: level" in titles
    assert any(p["type"] == "table" for p in board["panels"])


def test_application_dashboard_has_annotations_tracing_and_links() -> None:
    board = load(ROOT / "dashboards" / "application.json")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["tracing"]["type"] == "datasource" and variables["tracing"]["query"] == "tempo"
    annotations = [a for a in board["annotations"]["list"] if "expr" in a]
    assert {a["name"] for a in annotations} >= {"Deployments", "Failed changes", "Restores"}
    for annotation in annotations:
        assert re.search(r"\b(increase|changes)\(", annotation["expr"])
    assert any("${tracing}" in link.get("url", "") for link in board["links"])
