"""The launcher's own self-metrics (``daylight_launcher_*``); the informer, task and
supervisor families come from the shared collectors in :mod:`exporter.outputs.selfmetrics`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from exporter.checks.keptn import PHASES
from exporter.launcher.jobs import LauncherStats
from exporter.outputs.selfmetrics import SourceCollector, add_counts, counter, gauge


class LauncherView(Protocol):
    @property
    def stats(self) -> LauncherStats: ...
    @property
    def pending(self) -> int: ...


class LauncherCollector(SourceCollector):
    FAMILIES = (
        counter("daylight_launcher_jobs_created", "Task Jobs created, by phase.", "phase"),
        counter(
            "daylight_launcher_jobs_existing",
            "Task Jobs found already created (409: launched before, e.g. before a restart).",
            "phase",
        ),
        counter(
            "daylight_launcher_invalid_tasks",
            "Tasks that could not run (recorded as failed), by reason.",
            "reason",
        ),
        counter("daylight_launcher_api_errors", "API errors of launcher writes.", "code"),
        counter("daylight_launcher_events", "Kubernetes Events sent, by result.", "result"),
        counter("daylight_launcher_skipped", "Tasks not launched, by reason.", "reason"),
        counter("daylight_launcher_retries", "Launch attempts retried."),
        counter("daylight_launcher_gave_up", "Launches abandoned after repeated API errors."),
        gauge("daylight_launcher_pending", "Launches queued or in progress."),
    )

    def __init__(self, launcher: LauncherView) -> None:
        self.launcher = launcher

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        stats = self.launcher.stats
        for phase in PHASES:
            families["daylight_launcher_jobs_created"].add_metric([phase], stats.created[phase])
            families["daylight_launcher_jobs_existing"].add_metric([phase], stats.existing[phase])
        add_counts(families["daylight_launcher_invalid_tasks"], stats.invalid)
        add_counts(families["daylight_launcher_api_errors"], stats.api_errors)
        add_counts(families["daylight_launcher_events"], stats.events)
        add_counts(families["daylight_launcher_skipped"], stats.skipped)
        families["daylight_launcher_retries"].add_metric([], stats.retries)
        families["daylight_launcher_gave_up"].add_metric([], stats.gave_up)
        families["daylight_launcher_pending"].add_metric([], self.launcher.pending)
