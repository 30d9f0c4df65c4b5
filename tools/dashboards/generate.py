"""Generates the Grafana dashboards in dashboards/ from code.

    .venv/bin/python -m tools.dashboards.generate          # rewrite dashboards/*.json
    .venv/bin/python -m tools.dashboards.generate --check  # exit 1 if they are out of date

Built with grafana-foundation-sdk (11.x line, schemaVersion 39), then normalised for import
into Grafana 10 and 11: sequential panel ids, Prometheus annotations in the classic
``expr``/``titleFormat`` form both versions read, no variable fields of other variable types.
(Panel options newer than Grafana 10, such as the stat panel's percent change, are ignored
there.)

Conventions every query follows (tests/prometheus checks them against a real Prometheus):
- the data source is always the ``${datasource}`` variable: no data source UIDs, no __inputs;
- no query names a scrape job: Daylight's targets are recognised by ``daylight_build_info``;
- DORA queries filter on ``environment``, ``namespace`` and ``app`` with ``=~`` so that the
  "All" value (``.*``) works, and de-duplicate replicas with ``max by (...)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grafana_foundation_sdk.builders import bargauge, common, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "dashboards"
SCHEMA_VERSION = 39  # Grafana 10.4 and 11.x; newer versions migrate it on load

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["daylight", "dora"]
OVERVIEW_UID = "daylight-dora-overview"
APPLICATION_UID = "daylight-application"
HEALTH_UID = "daylight-health"

# DORA performance levels: the colours used for values, levels and table cells alike.
LEVELS = (
    ("Elite", 4, "dark-green"),
    ("High", 3, "green"),
    ("Medium", 2, "orange"),
    ("Low", 1, "red"),
)

# Filters. `=~` so that "All" (.*) and multi-value selections work.
F = 'environment=~"$environment", namespace=~"$namespace", app=~"$app"'
FE = 'environment=~"$environment"'
H = 'instance=~"$instance"'
APP_KEY = "environment, namespace, app"


@dataclass(frozen=True)
class Key:
    """One DORA key: its window gauge, unit and the DORA 2023 level boundaries."""

    name: str
    title: str
    metric: str
    unit: str
    steps: tuple[tuple[float | None, str], ...]
    level_key: str | None
    description: str


DAY = 86400.0
KEYS = (
    Key(
        "deployment_frequency",
        "Deployment frequency",
        "dora_deployment_frequency_per_day",
        "suffix:/day",
        ((None, "red"), (1 / 30, "orange"), (1 / 7, "green"), (1.0, "dark-green")),
        "deployment_frequency",
        "Successful app deployments per day over the window. DORA 2023: elite ≥ 1/day, "
        "high ≥ 1/week, medium ≥ 1/month.",
    ),
    Key(
        "lead_time",
        "Lead time for changes",
        "dora_lead_time_median_seconds",
        "s",
        ((None, "dark-green"), (DAY, "green"), (7 * DAY, "orange"), (30 * DAY, "red")),
        "lead_time",
        "Median commit → production time of the successful app deployments that carry a commit "
        "time. DORA 2023: elite < 1 day, high < 1 week, medium < 1 month.",
    ),
    Key(
        "change_failure_rate",
        "Change failure rate",
        "dora_change_failure_rate",
        "percentunit",
        ((None, "dark-green"), (0.050001, "green"), (0.100001, "orange"), (0.150001, "red")),
        "change_failure_rate",
        "Failed changes / finished app deployments. DORA 2023: elite ≤ 5%, high ≤ 10%, "
        "medium ≤ 15%.",
    ),
    Key(
        "time_to_restore",
        "Time to restore",
        "dora_time_to_restore_median_seconds",
        "s",
        ((None, "dark-green"), (3600.0, "green"), (DAY, "orange"), (7 * DAY, "red")),
        "time_to_restore",
        "Median failed deployment → restored time (failed deployment recovery time). DORA "
        "2023: elite < 1 hour, high < 1 day, medium < 1 week.",
    ),
    Key(
        "rework_rate",
        "Rework rate",
        "dora_rework_rate",
        "percentunit",
        ((None, "blue"),),
        None,
        "Deployments that restored service while a failure was open / all deployments. DORA "
        "has no level table for it yet.",
    ),
)
COVERAGE = Key(
    "coverage",
    "Lead time coverage",
    "dora_lead_time_coverage_ratio",
    "percentunit",
    ((None, "red"), (0.5, "orange"), (0.9, "green")),
    None,
    "Share of successful non-rollback deployments with a known commit time: the "
    "lead time is computed from these only.",
)


# ------------------------------------------------------------------------------- helpers


def q(
    expr: str,
    legend: str = "",
    ref: str = "A",
    *,
    instant: bool = False,
    fmt: pm.PromQueryFormat | None = None,
) -> prom.Dataquery:
    query = prom.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    query = query.instant() if instant else query.range()
    if legend:
        query = query.legend_format(legend)
    if fmt is not None:
        query = query.format(fmt)
    return query


def thresholds(steps: Sequence[tuple[float | None, str]]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def level_mappings() -> list[dm.ValueMapping]:
    """4 elite … 1 low; ranges so that a median of levels (e.g. 3.5) still maps."""
    bounds = {4: (3.5, 4.0), 3: (2.5, 3.4999), 2: (1.5, 2.4999), 1: (1.0, 1.4999)}
    return [
        dm.RangeMap(
            options=dm.DashboardRangeMapOptions(
                from_val=bounds[value][0],
                to=bounds[value][1],
                result=dm.ValueMappingResult(text=text, color=color, index=index),
            )
        )
        for index, (text, value, color) in enumerate(LEVELS)
    ]


# the same colours as thresholds, for the median of levels (stat) and cell backgrounds (table)
LEVEL_STEPS: tuple[tuple[float | None, str], ...] = (
    (None, LEVELS[3][2]),
    (1.5, LEVELS[2][2]),
    (2.5, LEVELS[1][2]),
    (3.5, LEVELS[0][2]),
)


def reduce_last() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def distribution_panel(title: str, description: str, bucket: str, selector: str) -> Any:
    """Bars per histogram bucket over the time range (lead time, time to restore)."""
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .with_target(
            q(
                f"sum by (le) (increase({bucket}{{{selector}}}[$__range]))",
                "{{le}}",
                instant=True,
                fmt=pm.PromQueryFormat.HEATMAP,
            )
        )
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .orientation(cm.VizOrientation.VERTICAL)
        .reduce_options(reduce_last())
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.CONTINUOUS_GR_YL_RD))
        .min(0)
        .decimals(0)
        .span(12)
        .height(8)
    )


def stat_panel(
    title: str,
    description: str,
    *targets: prom.Dataquery,
    unit: str = "short",
    steps: Sequence[tuple[float | None, str]] = ((None, "blue"),),
    mappings: list[dm.ValueMapping] | None = None,
    w: int = 4,
    h: int = 4,
    text_mode: cm.BigValueTextMode = cm.BigValueTextMode.AUTO,
    color_mode: cm.BigValueColorMode = cm.BigValueColorMode.BACKGROUND,
    no_value: str = "no data",
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .thresholds(thresholds(steps))
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .color_mode(color_mode)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(text_mode)
        .reduce_options(reduce_last())
        .no_value(no_value)
        .span(w)
        .height(h)
    )
    if mappings:
        panel = panel.mappings(mappings)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def ts_panel(
    title: str,
    description: str,
    *targets: prom.Dataquery,
    unit: str = "short",
    w: int = 8,
    h: int = 8,
    bars: bool = False,
    steps: Sequence[tuple[float | None, str]] | None = None,
    minimum: float | None = 0,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .tooltip(
            common.VizTooltipOptions()
            .mode(cm.TooltipDisplayMode.MULTI)
            .sort(cm.SortOrder.DESCENDING)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if bars:
        panel = (
            panel.draw_style(cm.GraphDrawStyle.BARS)
            .fill_opacity(80)
            .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL))
        )
    else:
        panel = panel.line_width(2).fill_opacity(10).show_points(cm.VisibilityMode.NEVER)
    if steps is not None:
        panel = panel.thresholds(thresholds(steps)).thresholds_style(
            common.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def prop(id_val: str, value: Any) -> dm.DynamicConfigValue:
    return dm.DynamicConfigValue(id_val=id_val, value=value)


def link(title: str, url: str, *, blank: bool = False) -> dash.DashboardLink:
    return (
        dash.DashboardLink(title)
        .type(dm.DashboardLinkType.LINK)
        .url(url)
        .target_blank(blank)
        .icon("external link")
    )


def dashboards_dropdown() -> dash.DashboardLink:
    return (
        dash.DashboardLink("Daylight")
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags(["daylight"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(
    name: str, label: str, query: str, *, multi: bool = True, include_all: bool = True
) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        variable = variable.all_value(".*").current(
            dm.VariableOption(selected=True, text="All", value="$__all")
        )
    return variable


def scope_variables(*, single_app: bool = False) -> list[dash.QueryVariable]:
    source = 'dora_deployment_frequency_per_day{window="30d"}'
    return [
        query_variable("environment", "Environment", f"label_values({source}, environment)"),
        query_variable(
            "namespace",
            "Namespace",
            f'label_values(dora_deployment_frequency_per_day{{window="30d", {FE}}}, namespace)',
            multi=not single_app,
            include_all=not single_app,
        ),
        query_variable(
            "app",
            "App",
            "label_values(dora_deployment_frequency_per_day"
            f'{{window="30d", {FE}, namespace=~"$namespace"}}, app)',
            multi=not single_app,
            include_all=not single_app,
        ),
    ]


def window_variable() -> dash.CustomVariable:
    return (
        dash.CustomVariable("window")
        .label("Window")
        .values("1d,7d,30d,90d")
        .current(dm.VariableOption(selected=True, text="30d", value="30d"))
        .options(
            [
                dm.VariableOption(selected=w == "30d", text=w, value=w)
                for w in ("1d", "7d", "30d", "90d")
            ]
        )
    )


def per_app(metric: str, selector: str, also: str = "") -> str:
    """One series per app (and ``also`` labels), replicas de-duplicated."""
    by = f"{APP_KEY}, {also}" if also else APP_KEY
    return f"max by ({by}) ({metric}{{{selector}}})"


def history_complete_since(selector: str) -> str:
    """Per app, when its history is complete from (ms, for a date unit); 0 for apps whose
    history reaches back as far as any window (design §3): they publish no such series."""
    since = per_app("dora_history_complete_since_timestamp_seconds", selector)
    return f"({since} * 1000) or on ({APP_KEY}) ({per_app('dora_app_info', selector)} * 0)"


HISTORY_STEPS: list[tuple[float | None, str]] = [(None, "green"), (1, "orange")]
HISTORY_COMPLETE_HELP = (
    "When the cluster pruned old revisions (revisionHistoryLimit) and no state file reaches "
    "further back, the app's history is complete only from this time: windows starting "
    'earlier under-count. "complete": every window is fully known.'
)


def median_app(metric: str, selector: str) -> str:
    return f"quantile(0.5, {per_app(metric, selector)})"


def base_dashboard(title: str, uid: str, description: str, time_from: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time(time_from, "now")
        .refresh("1m")
        .timezone("browser")
    )


# ------------------------------------------------------------------------------ overview


def key_value_stat(key: Key, selector: str, w: int = 4) -> stat.Panel:
    return stat_panel(
        key.title,
        key.description + " The middle app of the selection (median); pick one app for its own "
        "value. Colours: DORA 2023 levels.",
        q(median_app(key.metric, f'{selector}, window="$window"'), instant=True),
        unit=key.unit,
        steps=key.steps,
        w=w,
    )


def key_level_stat(key: Key, w: int = 4) -> stat.Panel:
    assert key.level_key is not None
    return stat_panel(
        f"{key.title}: level",
        "DORA performance level of the median app over 30 days, as Daylight computes it "
        "(--dora-report decides the table).",
        q(median_app("dora_performance_level", f'{F}, key="{key.level_key}"'), instant=True),
        steps=LEVEL_STEPS,
        mappings=level_mappings(),
        w=w,
        h=3,
    )


def ranking_table() -> table.Panel:
    window = f'{F}, window="$window"'
    columns: list[tuple[str, str, str]] = [
        ("A", per_app("dora_deployment_frequency_per_day", window), "Deploys/day"),
        ("B", per_app("dora_lead_time_median_seconds", window), "Lead time"),
        ("C", per_app("dora_change_failure_rate", window), "Change failure rate"),
        ("D", per_app("dora_time_to_restore_median_seconds", window), "Time to restore"),
        ("E", per_app("dora_rework_rate", window), "Rework rate"),
        ("F", per_app("dora_lead_time_coverage_ratio", window), "Lead time coverage"),
    ]
    history = ("K", history_complete_since(F), "History complete since")
    level_columns = [(chr(ord("G") + i), k) for i, k in enumerate(KEYS[:4])]
    for ref, key in level_columns:
        assert key.level_key is not None
        expr = per_app("dora_performance_level", f'{F}, key="{key.level_key}"')
        columns.append((ref, expr, f"{key.title} (level, 30d)"))
    columns.append(history)
    panel = (
        table.Panel()
        .title("Apps ranked by deployment frequency ($window)")
        .description(
            "One row per app: the DORA keys over the selected window and the DORA level of each "
            "key over 30 days; an orange date says the app's history is complete only from "
            "then, so a window starting earlier under-counts. Click an app for its own "
            "dashboard."
        )
        .datasource(DS)
        .span(24)
        .height(11)
        .filterable(True)
        .sort_by([common.TableSortByFieldState().display_name("Deploys/day").desc(True)])
        .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": {"environment": 0, "namespace": 1, "app": 2}
                    | {f"Value #{ref}": 3 + i for i, (ref, _, _) in enumerate(columns)},
                    "renameByName": {f"Value #{ref}": name for ref, _, name in columns},
                },
            )
        )
    )
    for ref, expr, _ in columns:
        panel = panel.with_target(q(expr, ref=ref, instant=True, fmt=pm.PromQueryFormat.TABLE))
    app_link = (
        f"/d/{APPLICATION_UID}/daylight-application?${{datasource:queryparam}}"
        "&var-environment=${__data.fields.environment}"
        "&var-namespace=${__data.fields.namespace}&var-app=${__data.fields.app}"
        "&${__url_time_range}"
    )
    panel = panel.override_by_name(
        "app", [prop("links", [{"title": "Open ${__data.fields.app}", "url": app_link}])]
    )
    for key, name in zip(KEYS, [c[2] for c in columns[:5]], strict=True):
        panel = panel.override_by_name(
            name,
            [
                prop("unit", key.unit),
                prop(
                    "thresholds",
                    {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in key.steps]},
                ),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
    panel = panel.override_by_name(
        "Lead time coverage",
        [
            prop("unit", "percentunit"),
            prop("custom.cellOptions", {"type": "color-text"}),
            prop(
                "thresholds",
                {
                    "mode": "absolute",
                    "steps": [{"value": v, "color": c} for v, c in COVERAGE.steps],
                },
            ),
        ],
    )
    panel = panel.override_by_name(
        history[2],
        [
            prop("unit", "dateTimeAsIso"),
            prop("mappings", [{"type": "value", "options": {"0": {"text": "complete"}}}]),
            prop("custom.cellOptions", {"type": "color-text"}),
            prop(
                "thresholds",
                {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in HISTORY_STEPS]},
            ),
        ],
    )
    mappings_json = json.loads(json.dumps(level_mappings(), cls=JSONEncoder))
    for _, key in level_columns:
        panel = panel.override_by_name(
            f"{key.title} (level, 30d)",
            [
                prop("mappings", mappings_json),
                prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
                prop("color", {"mode": "thresholds"}),
                prop(
                    "thresholds",
                    json.loads(json.dumps(thresholds(LEVEL_STEPS).build(), cls=JSONEncoder)),
                ),
            ],
        )
    return panel


UNKNOWN_REASONS = {
    "no_ci_data": "no CI data: no commit-time annotation, no CI change, span or CDEvent for it",
    "no_commit_time": "CI matched it, without a commit time (GitHub receiver, Jenkins)",
    "no_match": "CI changes name the app, but none matched its image digest, version or sha",
}


def missing_commit_table() -> table.Panel:
    """Apps whose last successful deployment has no lead time, with the reason."""
    expr = per_app("dora_lead_time_unknown", F, "reason") + " == 1"
    mappings = [
        dm.ValueMap(options={reason: dm.ValueMappingResult(text=text)})
        for reason, text in UNKNOWN_REASONS.items()
    ]
    return (
        table.Panel()
        .title("Apps whose last deployment has no lead time")
        .description(
            "dora_lead_time_unknown: why the last successful deployment of each app carries "
            "no commit time. no_ci_data: nothing told Daylight about its commit (forward CI/CD "
            "spans or CDEvents, or annotate the pod template); no_commit_time: a CI run matched "
            "but its emitter sends no commit time (the GitHub receiver, Jenkins: add "
            "vcs.ref.head.revision.timestamp or use a CHANGE with the time); no_match: CI "
            "changes name the app but match none of its images, versions or commits."
        )
        .datasource(DS)
        .span(14)
        .height(9)
        .filterable(True)
        .with_target(q(expr, instant=True, fmt=pm.PromQueryFormat.TABLE))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "Value": True},
                    "indexByName": {"environment": 0, "namespace": 1, "app": 2, "reason": 3},
                    "renameByName": {"reason": "Why no lead time"},
                },
            )
        )
        .override_by_name(
            "Why no lead time",
            [prop("mappings", json.loads(json.dumps(mappings, cls=JSONEncoder)))],
        )  # fmt: skip - one override
    )


def lead_time_sources() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title("Where commit times came from (time range)")
        .description(
            "App deployments whose lead time became known in the dashboard's time range, by "
            "the source of the commit time (dora_lead_time_sources_total): annotation (the pod "
            "template), api (POST /api/v1/changes), otlp (CI/CD spans), cdevents."
        )
        .datasource(DS)
        .with_target(
            q(
                f"sum by (source) (increase(dora_lead_time_sources_total{{{F}}}[$__range]))",
                "{{source}}",
                instant=True,
            )
        )
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .reduce_options(reduce_last())
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("blue"))
        .min(0)
        .span(10)
        .height(9)
    )


def overview() -> dash.Dashboard:
    d = (
        base_dashboard(
            "Daylight / DORA overview",
            OVERVIEW_UID,
            "The four DORA keys and rework rate per app, from Daylight's window gauges: the "
            "middle app of the selection, the DORA level of each key, trends and a ranking.",
            "now-30d",
        )
        .link(dashboards_dropdown())
        .with_variable(datasource_variable())
    )
    for variable in scope_variables():
        d = d.with_variable(variable)
    d = d.with_variable(window_variable())

    d = d.with_row(dash.Row("DORA keys: the median app of the selection, window $window"))
    for key in KEYS:
        d = d.with_panel(key_value_stat(key, F))
    d = d.with_panel(
        stat_panel(
            "Apps",
            "Apps in the selection (with a current version).",
            q(f"count({per_app('dora_app_info', F)})", instant=True),
            w=2,
        )
    )
    d = d.with_panel(
        stat_panel(
            "Failing now",
            "Apps with an open failed change (dora_failure_active).",
            q(f"sum({per_app('dora_failure_active', F)})", instant=True),
            steps=[(None, "green"), (1, "red")],
            w=2,
        )
    )
    for key in KEYS[:4]:
        d = d.with_panel(key_level_stat(key))
    d = d.with_panel(
        stat_panel(
            COVERAGE.title,
            COVERAGE.description + " Median app.",
            q(median_app(COVERAGE.metric, f'{F}, window="$window"'), instant=True),
            unit="percentunit",
            steps=COVERAGE.steps,
            h=3,
        )
    )
    d = d.with_panel(
        stat_panel(
            "Deployments in range",
            "Successful app deployments Daylight observed in the dashboard's time range (all "
            "selected apps; counters start at zero when Daylight restarts).",
            q(
                f'sum(increase(dora_app_deployments_total{{{F}, outcome="succeeded"}}[$__range]))',
                instant=True,
            ),
            h=3,
        )
    )

    d = d.with_row(dash.Row("Apps")).with_panel(ranking_table())

    d = d.with_row(dash.Row("Lead time coverage: which apps lack commit information, and why"))
    d = d.with_panel(missing_commit_table()).with_panel(lead_time_sources())

    d = d.with_row(dash.Row("Trends per app ($window window)"))
    for key in KEYS:
        d = d.with_panel(
            ts_panel(
                key.title,
                key.description + " Dashed lines: DORA 2023 level boundaries.",
                q(per_app(key.metric, f'{F}, window="$window"'), "{{namespace}}/{{app}}"),
                unit=key.unit,
                steps=key.steps if key.level_key else None,
            )
        )
    d = d.with_panel(
        ts_panel(
            "App deployments by outcome",
            "Finished app deployments Daylight observed, per interval.",
            q(
                f"sum by (outcome) (increase(dora_app_deployments_total{{{F}}}[$__rate_interval]))",
                "{{outcome}}",
            ),
            bars=True,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Failed changes by reason",
            "Failed changes Daylight observed, per interval, by their first reason.",
            q(
                f"sum by (reason) (increase(dora_change_failures_total{{{F}}}[$__rate_interval]))",
                "{{reason}}",
            ),
            bars=True,
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Lead time: last 7 days vs 90 days",
            "Median lead time of the last 7 days divided by that of the last 90 days (recording "
            "rule). Above 2 for six hours raises DoraLeadTimeRegression.",
            q(
                f"environment_namespace_app:dora_lead_time_median_seconds:ratio_7d_90d{{{F}}}",
                "{{namespace}}/{{app}}",
            ),
            unit="x",
            w=12,
            steps=[(None, "green"), (2, "orange")],
        )
    )

    d = d.with_row(dash.Row("Fleet per environment (recording rules)"))
    fleet = [
        (
            "Deployments per day, all apps",
            "environment_window:dora_deployment_frequency_per_day:sum",
            "suffix:/day",
            "Successful app deployments per day of all apps of each environment.",
        ),
        (
            "Lead time, median app",
            "environment_window:dora_lead_time_median_seconds:quantile50",
            "s",
            "The median over apps of each app's median lead time.",
        ),
        (
            "Change failure rate, median app",
            "environment_window:dora_change_failure_rate:quantile50",
            "percentunit",
            "The median over apps of each app's change failure rate.",
        ),
        (
            "Time to restore, median app",
            "environment_window:dora_time_to_restore_median_seconds:quantile50",
            "s",
            "The median over apps of each app's median time to restore.",
        ),
    ]
    for title, record, unit, description in fleet:
        d = d.with_panel(
            ts_panel(
                title,
                description + " From alerts/daylight.rules.yml; the environment filter applies.",
                q(f'{record}{{{FE}, window="$window"}}', "{{environment}}"),
                unit=unit,
                w=6,
            )
        )
    d = d.with_panel(
        bargauge.Panel()
        .title("Apps per DORA level (30 days)")
        .description(
            "How many apps reach each level, per key (recording rule "
            "environment_key_level:dora_apps:count; the environment filter applies)."
        )
        .datasource(DS)
        .with_target(
            q(
                f"sum by (key, level) (environment_key_level:dora_apps:count{{{FE}}})",
                "{{key}} · {{level}}",
                instant=True,
            )
        )
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .reduce_options(reduce_last())
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("blue"))
        .min(0)
        .override_by_regexp(
            ".*elite", [prop("color", {"mode": "fixed", "fixedColor": "dark-green"})]
        )
        .override_by_regexp(".*high", [prop("color", {"mode": "fixed", "fixedColor": "green"})])
        .override_by_regexp(".*medium", [prop("color", {"mode": "fixed", "fixedColor": "orange"})])
        .override_by_regexp(".*low", [prop("color", {"mode": "fixed", "fixedColor": "red"})])
        .span(12)
        .height(9)
    )
    d = d.with_panel(
        ts_panel(
            "Apps with an open failure",
            "Apps whose latest change failed and is not restored yet, per environment "
            "(recording rule environment:dora_failure_active:sum).",
            q(f"environment:dora_failure_active:sum{{{FE}}}", "{{environment}}"),
            w=12,
            h=9,
        )
    )
    return d


# --------------------------------------------------------------------------- application


def traces_url() -> str:
    """Grafana Explore on the ${tracing} data source, searching this app's deployment traces."""
    traceql = (
        '{ .k8s.namespace.name = "${namespace:percentencode}" && '
        '.keptn.deployment.app.name = "${app:percentencode}" }'
    )
    pane = {
        "datasource": "${tracing}",
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": "tempo", "uid": "${tracing}"},
                "queryType": "traceql",
                "query": traceql,
            }
        ],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    text = json.dumps(pane, separators=(",", ":"))
    # percent-encode the JSON, but leave ${...} variable references for Grafana to replace
    out, i = [], 0
    while i < len(text):
        if text.startswith("${", i):
            end = text.index("}", i)
            out.append(text[i : end + 1])
            i = end + 1
        else:
            out.append(quote(text[i], safe=""))
            i += 1
    return "/explore?orgId=1&left=" + "".join(out)


# Prometheus annotations of the application dashboard: (name, colour, expr, title, text).
# increase() over counters, so an exporter restart (counter reset) draws nothing.
WINDOW_2M = "[2m]"
APP_ANNOTATIONS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "Deployments",
        "green",
        f"sum by ({APP_KEY}) (increase(dora_app_deployments_total"
        f'{{{F}, outcome="succeeded"}}{WINDOW_2M})) > 0',
        "Deployment",
        "{{namespace}}/{{app}} deployed",
    ),
    (
        "Failed rollouts",
        "red",
        f"sum by ({APP_KEY}, workload, kind) (increase(dora_deployments_total"
        f'{{{F}, outcome="failed"}}{WINDOW_2M})) > 0',
        "Rollout failed",
        "{{kind}} {{workload}}: rollout did not complete",
    ),
    (
        "Failed changes",
        "orange",
        f"sum by ({APP_KEY}, reason) (increase(dora_change_failures_total{{{F}}}{WINDOW_2M})) > 0",
        "Failed change",
        "{{namespace}}/{{app}}: {{reason}}",
    ),
    (
        "Restores",
        "blue",
        f"sum by ({APP_KEY}) (increase(dora_time_to_restore_seconds_count{{{F}}}{WINDOW_2M})) > 0",
        "Restored",
        "{{namespace}}/{{app}} restored",
    ),
)


def application() -> dash.Dashboard:
    d = (
        base_dashboard(
            "Daylight / Application",
            APPLICATION_UID,
            "One app: its current versions, deployment timeline (with deployment, failure and "
            "restore annotations), lead-time distribution, failures and restores.",
            "now-7d",
        )
        .link(dashboards_dropdown())
        .link(link("Deployment traces", traces_url(), blank=True))
        .with_variable(datasource_variable())
    )
    for variable in scope_variables(single_app=True):
        d = d.with_variable(variable)
    d = d.with_variable(window_variable())
    d = d.with_variable(
        dash.DatasourceVariable("tracing")
        .label("Traces")
        .type("tempo")
        .description("Where Daylight's deployment traces go (OTLP → Tempo).")
    )

    d = d.with_row(dash.Row("$app now"))
    d = d.with_panel(
        stat_panel(
            "Current version",
            "The app's version (dora_app_info): the KeptnApp version, the only workload's "
            "version, or a hash of the workload versions.",
            q(per_app("dora_app_info", F, "version"), "{{version}}", instant=True),
            text_mode=cm.BigValueTextMode.NAME,
            color_mode=cm.BigValueColorMode.NONE,
        )
    )
    d = d.with_panel(
        stat_panel(
            "Last successful deployment",
            "When the last successful app deployment finished.",
            q(per_app("dora_last_deployment_timestamp_seconds", F) + " * 1000", instant=True),
            unit="dateTimeFromNow",
            color_mode=cm.BigValueColorMode.NONE,
        )
    )
    d = d.with_panel(
        stat_panel(
            "Failure",
            "Whether the app has an open failed change right now.",
            q(per_app("dora_failure_active", F), instant=True),
            steps=[(None, "green"), (1, "red")],
            mappings=[
                dm.ValueMap(
                    options={
                        "0": dm.ValueMappingResult(text="OK", color="green", index=0),
                        "1": dm.ValueMappingResult(text="Failure open", color="red", index=1),
                    }
                )
            ],
        )
    )
    for key in KEYS[:3]:
        d = d.with_panel(key_value_stat(key, F, w=4))
    d = d.with_panel(
        stat_panel(
            "DORA levels (30 days)",
            "Daylight's DORA performance level of this app, per key.",
            q(per_app("dora_performance_level", F, "key"), "{{key}}", instant=True),
            mappings=level_mappings(),
            steps=LEVEL_STEPS,
            text_mode=cm.BigValueTextMode.VALUE_AND_NAME,
            w=8,
        )
    )
    d = d.with_panel(
        stat_panel(
            "History complete since",
            HISTORY_COMPLETE_HELP,
            q(history_complete_since(F), instant=True),
            unit="dateTimeAsIso",
            steps=HISTORY_STEPS,
            mappings=[
                dm.ValueMap(
                    options={"0": dm.ValueMappingResult(text="complete", color="green", index=0)}
                )
            ],
        )
    )
    for key in (KEYS[3], KEYS[4], COVERAGE):
        d = d.with_panel(key_value_stat(key, F, w=4))

    d = d.with_row(dash.Row("Deployments"))
    d = d.with_panel(
        ts_panel(
            "Deployment timeline",
            "App deployments that finished, per interval, by outcome; failed workload rollouts; "
            "rework deployments (those that restored service). Annotations mark deployments, "
            "failed rollouts, failed changes and restores.",
            q(
                f"sum by (outcome) (increase(dora_app_deployments_total{{{F}}}[$__rate_interval]))",
                "app deployment {{outcome}}",
            ),
            q(
                "sum by (workload) (increase(dora_deployments_total"
                f'{{{F}, outcome="failed"}}[$__rate_interval]))',
                "rollout failed: {{workload}}",
                ref="B",
            ),
            q(
                f"sum(increase(dora_rework_deployments_total{{{F}}}[$__rate_interval]))",
                "rework deployment",
                ref="C",
            ),
            bars=True,
            w=24,
        ).links([link("Deployment traces", traces_url(), blank=True)])
    )
    d = d.with_panel(
        ts_panel(
            "Workload deployments",
            "Workload rollouts that finished, per interval.",
            q(
                "sum by (workload, outcome) "
                f"(increase(dora_deployments_total{{{F}}}[$__rate_interval]))",
                "{{workload}} {{outcome}}",
            ),
            bars=True,
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Rollout duration (p90)",
            "90th percentile of rollout start → complete per workload, over the rollouts in "
            "each interval (no line where none finished).",
            q(
                "histogram_quantile(0.9, sum by (workload, le) "
                f"(rate(dora_deployment_duration_seconds_bucket{{{F}}}[$__rate_interval]))) >= 0",
                "{{workload}}",
            ),
            unit="s",
            w=12,
        )
    )

    d = d.with_row(dash.Row("Lead time"))
    d = d.with_panel(
        distribution_panel(
            "Lead time distribution",
            "App deployments in the time range by lead time (commit → production), from the "
            "dora_lead_time_seconds histogram: each bar counts the deployments up to that bucket's "
            "bound (seconds) above the previous one. Only deployments with a known commit time.",
            "dora_lead_time_seconds_bucket",
            F,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Median lead time by window",
            KEYS[1].description,
            q(per_app("dora_lead_time_median_seconds", F, "window"), "{{window}}"),
            unit="s",
            w=12,
            steps=KEYS[1].steps,
        )
    )

    d = d.with_row(dash.Row("Failures and restores"))
    d = d.with_panel(
        ts_panel(
            "Change failure rate by window",
            KEYS[2].description,
            q(per_app("dora_change_failure_rate", F, "window"), "{{window}}"),
            unit="percentunit",
            w=12,
            steps=KEYS[2].steps,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Failed changes by reason",
            "Failed changes, per interval, by their first reason.",
            q(
                f"sum by (reason) (increase(dora_change_failures_total{{{F}}}[$__rate_interval]))",
                "{{reason}}",
            ),
            bars=True,
            w=12,
        )
    )
    d = d.with_panel(
        statetimeline.Panel()
        .title("Open failure")
        .description("When the app had an open failed change (dora_failure_active).")
        .datasource(DS)
        .with_target(q(per_app("dora_failure_active", F), "{{app}}"))
        .mappings(
            [
                dm.ValueMap(
                    options={
                        "0": dm.ValueMappingResult(text="OK", color="green", index=0),
                        "1": dm.ValueMappingResult(text="Failure open", color="red", index=1),
                    }
                )
            ]
        )
        .show_value(cm.VisibilityMode.NEVER)
        .span(12)
        .height(5)
    )
    d = d.with_panel(
        ts_panel(
            "Median time to restore by window",
            KEYS[3].description,
            q(per_app("dora_time_to_restore_median_seconds", F, "window"), "{{window}}"),
            unit="s",
            w=12,
            h=5,
            steps=KEYS[3].steps,
        )
    )
    d = d.with_panel(
        distribution_panel(
            "Time to restore distribution",
            "Restored failures in the time range by time to restore.",
            "dora_time_to_restore_seconds_bucket",
            F,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Rework rate by window",
            KEYS[4].description,
            q(per_app("dora_rework_rate", F, "window"), "{{window}}"),
            unit="percentunit",
            w=12,
        )
    )

    d = d.with_row(dash.Row("Workloads"))
    d = d.with_panel(
        table.Panel()
        .title("Current version per workload")
        .description(
            "Each workload of the app with its deployed version (dora_workload_info) and the "
            "rollouts Daylight observed in the time range."
        )
        .datasource(DS)
        .with_target(
            q(
                f"max by ({APP_KEY}, workload, kind, version) (dora_workload_info{{{F}}})",
                ref="A",
                instant=True,
                fmt=pm.PromQueryFormat.TABLE,
            )
        )
        .with_target(
            q(
                f"sum by ({APP_KEY}, workload, kind) (increase(dora_deployments_total"
                f'{{{F}, outcome="succeeded"}}[$__range]))',
                ref="B",
                instant=True,
                fmt=pm.PromQueryFormat.TABLE,
            )
        )
        .with_target(
            q(
                f"sum by ({APP_KEY}, workload, kind) (increase(dora_deployments_total"
                f'{{{F}, outcome="failed"}}[$__range]))',
                ref="C",
                instant=True,
                fmt=pm.PromQueryFormat.TABLE,
            )
        )
        .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {
                        "Time": True,
                        "Value #A": True,
                        "environment": True,
                        "namespace": True,
                        "app": True,
                    },
                    "indexByName": {
                        "workload": 0,
                        "kind": 1,
                        "version": 2,
                        "Value #B": 3,
                        "Value #C": 4,
                    },
                    "renameByName": {
                        "Value #B": "Rollouts succeeded (range)",
                        "Value #C": "Rollouts failed (range)",
                    },
                },
            )
        )
        .override_by_name("Rollouts succeeded (range)", [prop("decimals", 0)])
        .override_by_name("Rollouts failed (range)", [prop("decimals", 0)])
        .span(24)
        .height(8)
    )
    return d


# -------------------------------------------------------------------------------- health


def daylight_only(expr: str) -> str:
    """Restrict a generic metric (process_*) to the targets that are Daylight."""
    return f"{expr} and on (job, instance) daylight_build_info{{{H}}}"


def health() -> dash.Dashboard:
    d = (
        base_dashboard(
            "Daylight / Health",
            HEALTH_UID,
            "Is Daylight itself well: scrapes, watches and their restarts, informer sync, ingest "
            "lag, tracked objects, memory and the series the cardinality cap drops.",
            "now-6h",
        )
        .link(dashboards_dropdown())
        .with_variable(datasource_variable())
        .with_variable(
            query_variable("instance", "Instance", "label_values(daylight_build_info, instance)")
        )
    )
    d = d.with_row(dash.Row("Status"))
    d = d.with_panel(
        stat_panel(
            "Daylight targets up",
            "Targets exporting daylight_build_info now (no job name assumed).",
            q(f"count(daylight_build_info{{{H}}})", instant=True),
            steps=[(None, "red"), (1, "green")],
        )
    )
    d = d.with_panel(
        stat_panel(
            "Targets failing",
            "Targets that exported daylight_build_info in the last day but fail their scrapes "
            "now (up == 0).",
            q(
                "count(up == 0 and on (job, instance) "
                f"max_over_time(daylight_build_info{{{H}}}[1d])) or vector(0)",
                instant=True,
            ),
            steps=[(None, "green"), (1, "red")],
        )
    )
    d = d.with_panel(
        stat_panel(
            "Informers not synced",
            "Informers without a completed LIST that are not disabled: /readyz fails.",
            q(
                f"count(daylight_informer_synced{{{H}}} == 0 unless on (job, instance, resource) "
                f"daylight_informer_disabled{{{H}}} == 1) or vector(0)",
                instant=True,
            ),
            steps=[(None, "green"), (1, "red")],
        )
    )
    d = d.with_panel(
        stat_panel(
            "Informers disabled",
            "Resources Daylight runs without: a missing CRD (not_found, e.g. no Keptn) or no "
            "RBAC permission (forbidden).",
            q(f"count(daylight_informer_disabled{{{H}}} == 1) or vector(0)", instant=True),
            steps=[(None, "green"), (1, "yellow")],
        )
    )
    d = d.with_panel(
        stat_panel(
            "Ingest lag",
            "Time since the newest object change any watch delivered (worst instance).",
            q(
                "max(time() - max by (job, instance) "
                f"(daylight_last_event_timestamp_seconds{{{H}}}))",
                instant=True,
            ),
            unit="s",
            steps=[(None, "green"), (600, "orange"), (3600, "red")],
        )
    )
    d = d.with_panel(
        stat_panel(
            "Apps dropped",
            "Apps left out of /metrics by the --max-apps cardinality cap.",
            q(f"max(daylight_dropped_series{{{H}}})", instant=True),
            steps=[(None, "green"), (1, "red")],
        )
    )
    d = d.with_panel(
        stat_panel(
            "Version",
            "Daylight versions and modes running.",
            q(
                f"count by (version, mode) (daylight_build_info{{{H}}})",
                "{{version}} ({{mode}})",
                instant=True,
            ),
            text_mode=cm.BigValueTextMode.NAME,
            color_mode=cm.BigValueColorMode.NONE,
            w=8,
        )
    )
    for title, metric, description in (
        ("Apps", "daylight_apps", "Apps in the ledger."),
        ("Workloads", "daylight_workloads", "Workloads tracked."),
        ("DORA series", "daylight_dora_series", "DORA series in the last /metrics render."),
    ):
        d = d.with_panel(
            stat_panel(
                title,
                description,
                q(f"sum({metric}{{{H}}})", instant=True),
                color_mode=cm.BigValueColorMode.NONE,
            )
        )
    d = d.with_panel(
        stat_panel(
            "Memory",
            "Resident memory of the largest Daylight process.",
            q(f"max({daylight_only(f'process_resident_memory_bytes{{{H}}}')})", instant=True),
            unit="bytes",
            color_mode=cm.BigValueColorMode.NONE,
        )
    )

    d = d.with_row(dash.Row("Watches"))
    d = d.with_panel(
        ts_panel(
            "Watch events",
            "Watch events per second by resource and type (bookmarks included).",
            q(
                "sum by (resource, type) "
                f"(rate(daylight_watch_events_total{{{H}}}[$__rate_interval]))",
                "{{resource}} {{type}}",
            ),
            unit="ops",
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Watch restarts",
            "Watch restarts per interval by reason: timeout is the normal rotation; "
            "disconnect, error, gone (410) and throttled are not.",
            q(
                "sum by (resource, reason) "
                f"(increase(daylight_watch_restarts_total{{{H}}}[$__rate_interval]))",
                "{{resource}} {{reason}}",
            ),
            bars=True,
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "API errors",
            "Kubernetes API errors per interval by resource and HTTP code.",
            q(
                "sum by (resource, code) "
                f"(increase(daylight_api_errors_total{{{H}}}[$__rate_interval]))",
                "{{resource}} {{code}}",
            ),
            bars=True,
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "LISTs",
            "Full LIST snapshots per interval (start-up, relists after 410 Gone).",
            q(
                f"sum by (resource) (increase(daylight_lists_total{{{H}}}[$__rate_interval]))",
                "{{resource}}",
            ),
            bars=True,
            w=12,
        )
    )
    d = d.with_panel(
        statetimeline.Panel()
        .title("Informer sync state")
        .description("Synced (listed and watching) or not, per resource.")
        .datasource(DS)
        .with_target(q(f"min by (resource) (daylight_informer_synced{{{H}}})", "{{resource}}"))
        .mappings(
            [
                dm.ValueMap(
                    options={
                        "0": dm.ValueMappingResult(text="not synced", color="red", index=0),
                        "1": dm.ValueMappingResult(text="synced", color="green", index=1),
                    }
                )
            ]
        )
        .show_value(cm.VisibilityMode.NEVER)
        .span(12)
        .height(8)
    )
    d = d.with_panel(
        ts_panel(
            "Ingest lag by resource",
            "Time since each resource's watch last delivered an object change. Quiet resources "
            "(few changes) lag naturally; pods rarely do.",
            q(
                f"time() - max by (resource) (daylight_last_event_timestamp_seconds{{{H}}})",
                "{{resource}}",
            ),
            unit="s",
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Tracked objects",
            "Objects held in the watch caches, by resource.",
            q(f"sum by (resource) (daylight_tracked_objects{{{H}}})", "{{resource}}"),
            w=12,
        )
    )
    d = d.with_panel(
        ts_panel(
            "Invalid input",
            "Input skipped or ignored per interval, by reason (malformed events, bad commit "
            "times, oversized annotations …).",
            q(
                "sum by (reason) "
                f"(increase(daylight_invalid_input_total{{{H}}}[$__rate_interval]))",
                "{{reason}}",
            ),
            bars=True,
            w=12,
        )
    )

    d = d.with_row(dash.Row("Process and cardinality"))
    d = d.with_panel(
        ts_panel(
            "Resident memory",
            "Resident memory per Daylight process.",
            q(daylight_only(f"process_resident_memory_bytes{{{H}}}"), "{{instance}}"),
            unit="bytes",
        )
    )
    d = d.with_panel(
        ts_panel(
            "CPU",
            "CPU seconds per second per Daylight process.",
            q(
                daylight_only(f"rate(process_cpu_seconds_total{{{H}}}[$__rate_interval])"),
                "{{instance}}",
            ),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        ts_panel(
            "Series and cardinality cap",
            "DORA series rendered, apps tracked, and apps dropped by --max-apps.",
            q(f"sum by (instance) (daylight_dora_series{{{H}}})", "series {{instance}}"),
            q(f"sum by (instance) (daylight_apps{{{H}}})", "apps {{instance}}", ref="B"),
            q(
                f"sum by (instance) (daylight_dropped_series{{{H}}})",
                "dropped apps {{instance}}",
                ref="C",
            ),
        )
    )
    d = d.with_panel(
        ts_panel(
            "Rollout restarts observed",
            "Same-template rollouts (kubectl rollout restart) seen per interval: not "
            "deployments, counted so they can be told apart.",
            q(
                "sum by (instance) "
                f"(increase(daylight_restarts_observed_total{{{H}}}[$__rate_interval]))",
                "{{instance}}",
            ),
            bars=True,
            w=24,
            h=6,
        )
    )
    return d


# --------------------------------------------------------------------------- normalising


def _annotation(name: str, color: str, expr: str, title: str, text: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "enable": True,
        "hide": False,
        "iconColor": color,
        "name": name,
        "expr": expr,
        "step": "1m",
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": "environment,namespace,app",
        "useValueForTime": False,
    }


BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}
VARIABLE_JUNK = ("auto", "auto_count", "auto_min")


def normalise(built: dict[str, Any], annotations: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Make the SDK's output what Grafana 10 and 11 save themselves."""
    out: dict[str, Any] = dict(built)
    out["schemaVersion"] = SCHEMA_VERSION
    out["id"] = None
    out["annotations"] = {"list": [BUILTIN_ANNOTATION, *annotations]}
    for variable in out.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            for junk in VARIABLE_JUNK:
                variable.pop(junk, None)
    next_id = 1
    for panel in out.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        panel.pop("repeatDirection", None)
        for target in panel.get("targets", []):
            target.setdefault("datasource", {"type": "prometheus", "uid": "${datasource}"})
    return out


def to_dict(builder: dash.Dashboard) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return data


def render() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    boards = {
        "dora-overview.json": normalise(to_dict(overview())),
        "application.json": normalise(
            to_dict(application()), [_annotation(*a) for a in APP_ANNOTATIONS]
        ),
        "daylight-health.json": normalise(to_dict(health())),
    }
    return {
        name: json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, board in boards.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if dashboards/ is stale")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run python -m tools.dashboards.generate): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
