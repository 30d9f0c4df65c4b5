"""What this process observed: counters and histograms with ordinary Prometheus semantics.

They are counted only for deployments that finish while Daylight watches (design §4); history
rebuilt at start-up feeds the window gauges instead, so a restart never double-counts.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from exporter.model.records import AppDeployment, AppKey, Outcome, WorkloadDeployment

# Lead times and restores span minutes to weeks; default client buckets stop at 10 s.
LEAD_TIME_BUCKETS = (
    60.0,
    300.0,
    900.0,
    3600.0,
    3 * 3600.0,
    6 * 3600.0,
    86400.0,
    2 * 86400.0,
    7 * 86400.0,
    14 * 86400.0,
    30 * 86400.0,
)
DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
RESTORE_BUCKETS = (
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    4 * 3600.0,
    86400.0,
    7 * 86400.0,
    30 * 86400.0,
)


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        index = bisect_left(self.bounds, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[int]:
        running = 0
        out = []
        for c in self.counts:
            running += c
            out.append(running)
        return out


class WorkloadSeries(NamedTuple):
    """What a workload's series are labelled by (design §4): two objects of one kind that
    name the same workload (``keptn.sh/workload``) are one workload, and their counts add."""

    workload: str
    kind: str


@dataclass(slots=True)
class WorkloadStats:
    app: AppKey
    kind: str
    workload: str
    outcomes: Counter[str] = field(default_factory=Counter)
    duration: Histogram = field(default_factory=lambda: Histogram(DURATION_BUCKETS))


@dataclass(slots=True)
class AppStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    change_failures: Counter[str] = field(default_factory=Counter)
    rework: int = 0
    lead_time: Histogram = field(default_factory=lambda: Histogram(LEAD_TIME_BUCKETS))
    lead_time_sources: Counter[str] = field(
        default_factory=Counter
    )  # by where commit time came from
    restore: Histogram = field(default_factory=lambda: Histogram(RESTORE_BUCKETS))


@dataclass(slots=True)
class ObservedStats:
    workloads: dict[AppKey, dict[WorkloadSeries, WorkloadStats]] = field(default_factory=dict)
    apps: dict[AppKey, AppStats] = field(default_factory=dict)
    invalid: Counter[str] = field(default_factory=Counter)
    ci_changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, result)
    restarts: int = 0
    redeployed: int = 0  # live deployments of a commit already shipped (stale annotations)
    scale_only: int = 0

    def workload(self, app: AppKey, series: WorkloadSeries) -> WorkloadStats:
        per_app = self.workloads.setdefault(app, {})
        stats = per_app.get(series)
        if stats is None:
            stats = per_app[series] = WorkloadStats(app, series.kind, series.workload)
        return stats

    def app(self, app: AppKey) -> AppStats:
        stats = self.apps.get(app)
        if stats is None:
            stats = self.apps[app] = AppStats()
        return stats

    def workload_finished(self, wd: WorkloadDeployment, outcome: Outcome, at: float) -> None:
        if wd.history:
            return
        stats = self.workload(wd.app, WorkloadSeries(wd.workload, wd.key.kind))
        stats.outcomes[outcome.value] += 1
        if outcome is Outcome.SUCCEEDED:
            stats.duration.observe(max(0.0, at - wd.started_at))

    def app_finished(self, group: AppDeployment) -> bool:
        """Count a finished app deployment once; True the first time."""
        if group.history or group.counted:
            return False
        group.counted = True
        self.app(group.app).outcomes[group.outcome.value] += 1
        self.lead_time_known(group)
        return True

    def lead_time_known(self, group: AppDeployment) -> None:
        """Observe the lead time once it is known (CI may register the change later)."""
        lead = group.lead_time_seconds
        if lead is not None and not group.lead_time_observed and not group.history:
            group.lead_time_observed = True
            stats = self.app(group.app)
            stats.lead_time.observe(lead)
            stats.lead_time_sources[group.lead_time_source or "annotation"] += 1
