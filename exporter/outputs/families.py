"""The DORA metric families (design §4), one declaration each: name, type, help, labels and
how to read the family's samples from one app.

Like kube-state-metrics' family generators, a declaration never writes its own name into a
sample: the renderer injects it, with the app's labels (``environment``, ``namespace``,
``app``) before the family's own. What the families read of an app is computed once per
render of that app (:class:`AppView`), so the window keys behind six gauges cost one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from exporter.events.external import SOURCES
from exporter.model.ledger import AppLedger
from exporter.model.records import AppDeployment, AppKey, Outcome
from exporter.model.stats import AppStats, Histogram, WorkloadSeries, WorkloadStats
from exporter.model.windows import LEVEL_VALUES, WINDOWS, WindowKeys, levels, window_keys

OUTCOMES = (Outcome.SUCCEEDED.value, Outcome.FAILED.value)


class FamilyType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass
class AppView:
    """What the families read of one app at one moment (computed lazily, once)."""

    key: AppKey
    ledger: AppLedger
    workloads: list[WorkloadStats]
    stats: AppStats
    failure_open: bool
    now: float
    dora_report: str

    @cached_property
    def deployments(self) -> list[AppDeployment]:
        return self.ledger.deployments

    @cached_property
    def windows(self) -> dict[str, WindowKeys]:
        return {w: window_keys(self.deployments, self.now, s) for w, s in WINDOWS.items()}


Value = float | Histogram
Sample = tuple[tuple[str, ...], Value]
"""(the family's own label values, in declaration order; the value or histogram)."""


@dataclass(frozen=True, slots=True)
class DoraFamily:
    name: str
    type: FamilyType
    help: str
    labels: tuple[str, ...]
    read: Callable[[AppView], Iterator[Sample]]

    @property
    def header(self) -> bytes:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n".encode()


# --- readers -----------------------------------------------------------------------------


def _deployments(app: AppView) -> Iterator[Sample]:
    for stats in app.workloads:
        for outcome in OUTCOMES:
            yield (stats.workload, stats.kind, outcome), stats.outcomes.get(outcome, 0)


def _durations(app: AppView) -> Iterator[Sample]:
    for stats in app.workloads:
        yield (stats.workload, stats.kind), stats.duration


def _app_deployments(app: AppView) -> Iterator[Sample]:
    for outcome in OUTCOMES:
        yield (outcome,), app.stats.outcomes.get(outcome, 0)


def _change_failures(app: AppView) -> Iterator[Sample]:
    for reason, count in sorted(app.stats.change_failures.items()):
        yield (reason,), count


def _rework(app: AppView) -> Iterator[Sample]:
    yield (), app.stats.rework


def _lead_time(app: AppView) -> Iterator[Sample]:
    yield (), app.stats.lead_time


def _lead_time_sources(app: AppView) -> Iterator[Sample]:
    counts = app.stats.lead_time_sources
    if counts:  # every source once one counted, so increase() sees a source's first
        for source in SOURCES:
            yield (source,), counts.get(source, 0)


def _lead_time_unknown(app: AppView) -> Iterator[Sample]:
    last = max(
        (d for d in app.deployments if d.outcome is Outcome.SUCCEEDED and d.finished_at),
        key=lambda d: d.finished_at or 0.0,
        default=None,
    )
    reason = last.lead_time_unknown if last is not None else None
    if reason is not None:
        yield (reason.value,), 1


def _restore(app: AppView) -> Iterator[Sample]:
    yield (), app.stats.restore


def _failure_active(app: AppView) -> Iterator[Sample]:
    yield (), int(app.failure_open)


def _last_deployment(app: AppView) -> Iterator[Sample]:
    last = max(
        (
            d.finished_at
            for d in app.deployments
            if d.outcome is Outcome.SUCCEEDED and d.finished_at
        ),
        default=None,
    )
    if last is not None:
        yield (), last


def _complete_since(app: AppView) -> Iterator[Sample]:
    if app.ledger.complete_since is not None:
        yield (), app.ledger.complete_since


def _app_info(app: AppView) -> Iterator[Sample]:
    versions = current_versions(app.ledger)
    if versions:
        only = next(iter(versions.values())) if len(versions) == 1 else None
        yield (only or combined_version(versions),), 1


def _workload_info(app: AppView) -> Iterator[Sample]:
    for series, version in sorted(current_versions(app.ledger).items()):
        yield (series.workload, series.kind, version), 1


def current_versions(ledger: AppLedger) -> dict[WorkloadSeries, str]:
    """One version per workload series: of two objects naming the same workload, the one
    deployed last (``ledger.current`` keeps that order)."""
    current = ledger.current.items()
    return {WorkloadSeries(name, key.kind): version for key, (name, version) in current}


def _window(read: Callable[[WindowKeys], float | None]) -> Callable[[AppView], Iterator[Sample]]:
    def samples(app: AppView) -> Iterator[Sample]:
        for window, keys in app.windows.items():
            value = read(keys)
            if value is not None:
                yield (window,), round(value, 6)

    return samples


def _performance(app: AppView) -> Iterator[Sample]:
    for key, level in levels(app.windows["30d"], app.dora_report).items():
        if level is not None:
            yield (key, app.dora_report), LEVEL_VALUES[level]


def combined_version(versions: dict[WorkloadSeries, str]) -> str:
    """An app's version when several workloads run: a hash of their versions."""
    joined = ",".join(sorted(f"{s.workload}={v}" for s, v in versions.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:10]


# --- the families, in exposition order ------------------------------------------------------

_C, _G, _H = FamilyType.COUNTER, FamilyType.GAUGE, FamilyType.HISTOGRAM
WORKLOAD = ("workload", "kind")

FAMILIES: tuple[DoraFamily, ...] = (
    DoraFamily(
        "dora_deployments_total",
        _C,
        "Workload deployments that finished, by outcome.",
        (*WORKLOAD, "outcome"),
        _deployments,
    ),
    DoraFamily(
        "dora_app_deployments_total",
        _C,
        "App deployments that finished, by outcome.",
        ("outcome",),
        _app_deployments,
    ),
    DoraFamily(
        "dora_change_failures_total",
        _C,
        "Failed changes, by first failure reason.",
        ("reason",),
        _change_failures,
    ),
    DoraFamily("dora_rework_deployments_total", _C, "Rework app deployments.", (), _rework),
    DoraFamily(
        "dora_lead_time_seconds", _H, "Commit to production, per app deployment.", (), _lead_time
    ),
    DoraFamily(
        "dora_lead_time_sources_total",
        _C,
        "App deployments whose lead time became known, by where the commit time came from: "
        "annotation, api (POST /api/v1/changes), otlp (CI/CD spans), cdevents.",
        ("source",),
        _lead_time_sources,
    ),
    DoraFamily(
        "dora_lead_time_unknown",
        _G,
        "1 when the app's last successful deployment has no lead time, by why: no_ci_data "
        "(no annotation, no CI change), no_commit_time (CI matched it without a commit time), "
        "no_match (CI changes name the app but match none of its images or commits).",
        ("reason",),
        _lead_time_unknown,
    ),
    DoraFamily(
        "dora_deployment_duration_seconds",
        _H,
        "Rollout start to complete, per workload deployment.",
        WORKLOAD,
        _durations,
    ),
    DoraFamily("dora_time_to_restore_seconds", _H, "Failed deployment to restored.", (), _restore),
    DoraFamily(
        "dora_failure_active", _G, "1 while the app has an open failure.", (), _failure_active
    ),
    DoraFamily(
        "dora_last_deployment_timestamp_seconds",
        _G,
        "Finish time of the last successful app deployment.",
        (),
        _last_deployment,
    ),
    DoraFamily(
        "dora_history_complete_since_timestamp_seconds",
        _G,
        "Only for apps whose history the cluster truncated (pruned revisions, no state file "
        "reaching further): the time from which it is complete; windows starting earlier "
        "under-count.",
        (),
        _complete_since,
    ),
    DoraFamily("dora_app_info", _G, "Current version of the app.", ("version",), _app_info),
    DoraFamily(
        "dora_workload_info",
        _G,
        "Current version of each workload.",
        (*WORKLOAD, "version"),
        _workload_info,
    ),
    DoraFamily(
        "dora_deployment_frequency_per_day",
        _G,
        "Successful app deployments per day over the window.",
        ("window",),
        _window(lambda k: k.deployment_frequency_per_day),
    ),
    DoraFamily(
        "dora_lead_time_median_seconds",
        _G,
        "Median lead time over the window.",
        ("window",),
        _window(lambda k: k.lead_time_median_s),
    ),
    DoraFamily(
        "dora_lead_time_coverage_ratio",
        _G,
        "Share of successful non-rollback app deployments with a known commit time.",
        ("window",),
        _window(lambda k: k.lead_time_coverage),
    ),
    DoraFamily(
        "dora_change_failure_rate",
        _G,
        "Failed changes / finished app deployments.",
        ("window",),
        _window(lambda k: k.change_failure_rate),
    ),
    DoraFamily(
        "dora_time_to_restore_median_seconds",
        _G,
        "Median time to restore over the window.",
        ("window",),
        _window(lambda k: k.time_to_restore_median_s),
    ),
    DoraFamily(
        "dora_rework_rate",
        _G,
        "Rework deployments / finished app deployments.",
        ("window",),
        _window(lambda k: k.rework_rate),
    ),
    DoraFamily(
        "dora_performance_level",
        _G,
        "DORA level over 30 days: 4 elite, 3 high, 2 medium, 1 low.",
        ("key", "report"),
        _performance,
    ),
)
