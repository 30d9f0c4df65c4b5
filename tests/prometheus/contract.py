"""The metric names dashboards and rules may use: design §4 (the contract) and nothing else.

A query that names a metric the exporter does not serve returns nothing forever; checking the
names statically catches typos before any Prometheus runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from exporter.outputs.families import FAMILIES, FamilyType

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = (ROOT / "alerts" / "daylight.rules.yml", ROOT / "alerts" / "optional.rules.yml")

SELF_METRICS = {
    "daylight_build_info",
    "daylight_watch_events_total",
    "daylight_watch_restarts_total",
    "daylight_api_errors_total",
    "daylight_lists_total",
    "daylight_informer_synced",
    "daylight_informer_disabled",
    "daylight_tracked_objects",
    "daylight_last_event_timestamp_seconds",
    "daylight_invalid_input_total",
    "daylight_dropped_series",
    "daylight_dora_series",
    "daylight_apps",
    "daylight_workloads",
    "daylight_restarts_observed_total",
}
PROCESS_METRICS = {"process_resident_memory_bytes", "process_cpu_seconds_total"}
PROMETHEUS_METRICS = {"up"}

# words in PromQL that look like names but are not metrics
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "le",
}  # fmt: skip  # a table
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGES = re.compile(r"\[[^\]]*\]")
_LABELS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.S)


def dora_metrics() -> set[str]:
    names = set()
    for family in FAMILIES:
        if family.type is FamilyType.HISTOGRAM:
            names |= {f"{family.name}_{part}" for part in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def recorded_metrics() -> set[str]:
    names = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def known_metrics() -> set[str]:
    return dora_metrics() | SELF_METRICS | PROCESS_METRICS | PROMETHEUS_METRICS | recorded_metrics()


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, labels and keywords left out)."""
    values_of = _LABEL_VALUES.match(expr)  # a Grafana variable query
    text = _STRINGS.sub('""', values_of.group(1) if values_of else expr)
    text = _GROUPING.sub(" ", text)
    text = _LABELS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group(0)
        if word.lower() in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue  # a keyword or a function call
        names.add(word)
    return names


def names_a_job(expr: str) -> bool:
    return bool(re.search(r"\bjob\s*(=|!=|=~|!~)", expr))
