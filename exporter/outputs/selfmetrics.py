"""daylight_* self-metrics: how the exporter itself is doing.

One small collector per source (build, informers, invalid input, cardinality, model size,
traces, restarts, checks), each declaring its families once; the registry asks every
collector to ``describe()`` itself at registration, so two sources claiming one family name
fail at start-up instead of producing a broken exposition. Collectors read plain counters at
scrape time, so the hot path only bumps integers (no label lookups per event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.checks.records import CheckOutcome, CheckStats
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"


@dataclass(frozen=True, slots=True)
class Family:
    """One self-metric family: declared once, its name written nowhere else."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()

    def new(self) -> CounterMetricFamily | GaugeMetricFamily:
        if self.type is MetricType.COUNTER:
            return CounterMetricFamily(self.name, self.help, labels=list(self.labels))
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))


class SourceCollector(Collector):
    """A collector over one source; subclasses declare FAMILIES and fill them in ``fill``."""

    FAMILIES: ClassVar[tuple[Family, ...]] = ()

    def describe(self) -> Iterable[Metric]:
        return [family.new() for family in self.FAMILIES]

    def collect(self) -> Iterable[Metric]:
        families = {family.name: family.new() for family in self.FAMILIES}
        shown = self.fill(families)
        return [families[name] for name in families if shown is None or name in shown]

    def fill(
        self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]
    ) -> set[str] | None:
        """Add samples; return the names to show when some families are conditional."""
        raise NotImplementedError


def counter(name: str, help_text: str, *labels: str) -> Family:
    return Family(name, MetricType.COUNTER, help_text, labels)


def gauge(name: str, help_text: str, *labels: str) -> Family:
    return Family(name, MetricType.GAUGE, help_text, labels)


def add_counts(
    family: CounterMetricFamily | GaugeMetricFamily, counts: Mapping[str, int], *prefix: str
) -> None:
    for key, count in sorted(counts.items()):
        family.add_metric([*prefix, key], count)


# --- sources -----------------------------------------------------------------------------


class BuildInfo(SourceCollector):
    FAMILIES = (gauge("daylight_build_info", "Daylight version and mode.", "version", "mode"),)

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        families["daylight_build_info"].add_metric([__version__, self.mode], 1)


class InformerStatsView(Protocol):
    """What the informer self-metrics read of one informer's counters."""

    @property
    def events(self) -> Mapping[str, int]: ...
    @property
    def restarts(self) -> Mapping[str, int]: ...
    @property
    def errors(self) -> Mapping[str, int]: ...
    @property
    def invalid(self) -> Mapping[str, int]: ...
    @property
    def lists(self) -> int: ...
    @property
    def synced(self) -> bool: ...
    @property
    def disabled(self) -> str | None: ...
    @property
    def cached(self) -> int: ...
    @property
    def last_event_at(self) -> float: ...


InformerSource = Callable[[], Sequence[tuple[str, InformerStatsView]]]


class Informers(SourceCollector):
    FAMILIES = (
        counter("daylight_watch_events", "Watch events received.", "resource", "type"),
        counter("daylight_watch_restarts", "Watch restarts by reason.", "resource", "reason"),
        counter("daylight_api_errors", "API errors by HTTP code.", "resource", "code"),
        counter("daylight_lists", "LIST snapshots taken.", "resource"),
        gauge("daylight_informer_synced", "1 when the resource is listed and watched.", "resource"),
        gauge(
            "daylight_informer_disabled",
            "1 when the resource cannot be watched (missing CRD, forbidden).",
            "resource",
            "reason",
        ),
        gauge("daylight_tracked_objects", "Objects held in the watch cache.", "resource"),
        gauge(
            "daylight_last_event_timestamp_seconds",
            "When the last watch event of the resource arrived.",
            "resource",
        ),
    )

    def __init__(self, informers: InformerSource) -> None:
        self.informers = informers

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        for name, stats in self.informers():
            add_counts(families["daylight_watch_events"], stats.events, name)
            add_counts(families["daylight_watch_restarts"], stats.restarts, name)
            add_counts(families["daylight_api_errors"], stats.errors, name)
            families["daylight_lists"].add_metric([name], stats.lists)
            families["daylight_informer_synced"].add_metric([name], 1 if stats.synced else 0)
            if stats.disabled:
                families["daylight_informer_disabled"].add_metric([name, stats.disabled], 1)
            families["daylight_tracked_objects"].add_metric([name], stats.cached)
            if stats.last_event_at:
                families["daylight_last_event_timestamp_seconds"].add_metric(
                    [name], stats.last_event_at
                )


class InvalidInput(SourceCollector):
    """Every skipped input, whichever part skipped it (model, informers, intake)."""

    FAMILIES = (
        counter(
            "daylight_invalid_input", "Input that was skipped or ignored, by reason.", "reason"
        ),
    )

    def __init__(self, sources: Sequence[Callable[[], Mapping[str, int]]]) -> None:
        self.sources = sources

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        total: Counter[str] = Counter()
        for source in self.sources:
            total.update(source())
        add_counts(families["daylight_invalid_input"], total)


class Cardinality(SourceCollector):
    FAMILIES = (
        gauge(
            "daylight_dropped_series",
            "DORA series left out of /metrics by the --max-series and --max-apps caps.",
        ),
        gauge(
            "daylight_dropped_apps",
            "Apps left out of /metrics (whole) by the --max-series and --max-apps caps.",
        ),
        gauge("daylight_dora_series", "DORA series in the last /metrics render."),
    )

    def __init__(self, renderer: MetricsRenderer) -> None:
        self.renderer = renderer

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        families["daylight_dropped_series"].add_metric([], self.renderer.dropped_series)
        families["daylight_dropped_apps"].add_metric([], self.renderer.dropped_apps)
        families["daylight_dora_series"].add_metric([], self.renderer.series)


class ModelSize(SourceCollector):
    FAMILIES = (
        gauge("daylight_apps", "Apps in the ledger."),
        gauge("daylight_workloads", "Workloads tracked."),
    )

    def __init__(self, model: DoraModel) -> None:
        self.model = model

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        families["daylight_apps"].add_metric([], len(self.model.apps))
        families["daylight_workloads"].add_metric([], len(self.model.workloads))


class TraceExport(SourceCollector):
    FAMILIES = (
        counter("daylight_trace_spans", "Deployment trace spans by result.", "result"),
        gauge("daylight_trace_spans_pending", "Spans accepted but not yet exported."),
    )

    def __init__(self, counters: Callable[[], Mapping[str, int]]) -> None:
        self.counters = counters

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> set[str]:
        traces = self.counters()
        if not traces:
            return set()
        for result in ("exported", "failed", "dropped"):
            families["daylight_trace_spans"].add_metric([result], traces.get(result, 0))
        families["daylight_trace_spans_pending"].add_metric([], traces.get("pending", 0))
        return set(families)


class StateFile(SourceCollector):
    """The state file, when one is configured: a save that keeps failing loses nothing yet
    (each retry writes everything), but a restart would."""

    FAMILIES = (
        counter("daylight_state_save_failures", "State file saves that failed (retried whole)."),
        counter("daylight_state_skipped_rows", "Unreadable state file rows skipped at load."),
        gauge(
            "daylight_state_last_save_timestamp_seconds",
            "When the state file was last saved successfully.",
        ),
    )

    def __init__(self, read: Callable[[], Mapping[str, float | None]]) -> None:
        self.read = read

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> set[str]:
        values = self.read()
        families["daylight_state_save_failures"].add_metric([], values.get("save_failures") or 0)
        families["daylight_state_skipped_rows"].add_metric([], values.get("skipped_rows") or 0)
        shown = {"daylight_state_save_failures", "daylight_state_skipped_rows"}
        saved_at = values.get("saved_at")
        if saved_at is not None:
            families["daylight_state_last_save_timestamp_seconds"].add_metric([], saved_at)
            shown.add("daylight_state_last_save_timestamp_seconds")
        return shown


class Observed(SourceCollector):
    """Template changes the model saw that are not what they look like."""

    FAMILIES = (
        counter(
            "daylight_restarts_observed",
            "Rollout restarts seen (same template fingerprint): not deployments.",
        ),
        counter(
            "daylight_redeployed_commits",
            "Deployments of a commit the workload had already deployed (a rebuild, or a stale "
            "daylight.dev/commit-time annotation left by kubectl set image): no lead time.",
        ),
    )

    def __init__(self, model: DoraModel) -> None:
        self.model = model

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        families["daylight_restarts_observed"].add_metric([], self.model.stats.restarts)
        families["daylight_redeployed_commits"].add_metric([], self.model.stats.redeployed)


class CiIntake(SourceCollector):
    """Changes from CI by source and result, and the OTLP receiver's requests and spans."""

    CHANGE_FAMILIES = (
        counter(
            "daylight_ci_changes",
            "CI changes received, by source (api, otlp, cdevents) and result (accepted, "
            "duplicate: a retry or re-sent delivery of one already kept).",
            "source",
            "result",
        ),
    )
    FAMILIES = (
        *CHANGE_FAMILIES,
        counter("daylight_otlp_requests", "OTLP/HTTP trace requests, by status code.", "code"),
        counter(
            "daylight_otlp_spans",
            "Spans received over OTLP, by what became of them: change (a pipeline run), "
            "ignored (not a pipeline run), own (Daylight's own deployment spans), rejected.",
            "result",
        ),
    )

    def __init__(
        self, model: DoraModel, otlp: Callable[[], Mapping[str, Mapping[str, int]]] | None
    ) -> None:
        self.model = model
        self.otlp = otlp

    def describe(self) -> Iterable[Metric]:
        declared = self.FAMILIES if self.otlp is not None else self.CHANGE_FAMILIES
        return [family.new() for family in declared]

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> set[str]:
        changes = families["daylight_ci_changes"]
        for (source, result), count in sorted(self.model.stats.ci_changes.items()):
            changes.add_metric([source, result], count)
        if self.otlp is None:
            return {f.name for f in self.CHANGE_FAMILIES}
        counts = self.otlp()
        add_counts(families["daylight_otlp_requests"], counts.get("requests", {}))
        spans = counts.get("spans", {})
        for result in ("change", "ignored", "own", "rejected"):
            families["daylight_otlp_spans"].add_metric([result], spans.get(result, 0))
        return set(families)


class Checks(SourceCollector):
    """``daylight_tasks_total{phase,outcome}``, ``daylight_evaluations_total{phase,outcome}``
    and the reasons and queries behind them."""

    TASK_FAMILIES = (
        counter(
            "daylight_tasks",
            "Pre/post-deployment task Jobs that finished while watched, by phase and outcome.",
            "phase",
            "outcome",
        ),
        counter(
            "daylight_task_failures",
            "Failed tasks by reason (task Jobs and invalid tasks).",
            "reason",
        ),
    )
    FAMILIES = (
        *TASK_FAMILIES,
        counter(
            "daylight_evaluations",
            "Pre/post-deployment evaluations that finished, by phase and outcome.",
            "phase",
            "outcome",
        ),
        counter("daylight_evaluation_failures", "Failed evaluations by reason.", "reason"),
        counter(
            "daylight_evaluation_queries",
            "Queries sent to Prometheus/Thanos for evaluations, by result.",
            "result",
        ),
        gauge("daylight_evaluations_running", "Evaluations in progress."),
        counter(
            "daylight_evaluations_dropped",
            "Evaluations not started because too many were running.",
        ),
    )

    def __init__(self, stats: CheckStats, *, evaluations: bool = True) -> None:
        self.stats = stats
        self.with_evaluations = evaluations

    def describe(self) -> Iterable[Metric]:
        declared = self.FAMILIES if self.with_evaluations else self.TASK_FAMILIES
        return [family.new() for family in declared]

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> set[str]:
        s = self.stats
        unknown = any(phase == "unknown" for phase, _ in s.tasks)  # Keptn Jobs of odd names
        for phase in ("pre", "post", "unknown") if unknown else ("pre", "post"):
            for outcome in (CheckOutcome.SUCCEEDED, CheckOutcome.FAILED):
                families["daylight_tasks"].add_metric([phase, outcome], s.tasks[(phase, outcome)])
        add_counts(families["daylight_task_failures"], s.task_failures)
        if not self.with_evaluations:
            return {f.name for f in self.TASK_FAMILIES}
        for phase in ("pre", "post"):
            for outcome in (CheckOutcome.SUCCEEDED, CheckOutcome.FAILED):
                families["daylight_evaluations"].add_metric(
                    [phase, outcome], s.evaluations[(phase, outcome)]
                )
        add_counts(families["daylight_evaluation_failures"], s.evaluation_failures)
        for result in ("ok", "no_data", "error"):
            families["daylight_evaluation_queries"].add_metric([result], s.queries[result])
        families["daylight_evaluations_running"].add_metric([], s.evaluations_running)
        families["daylight_evaluations_dropped"].add_metric([], s.evaluations_dropped)
        return set(families)


# --- wiring ------------------------------------------------------------------------------


def exporter_collectors(
    model: DoraModel,
    renderer: MetricsRenderer,
    *,
    mode: str,
    informers: InformerSource = lambda: (),
    invalid: Sequence[Callable[[], Mapping[str, int]]] = (),
    traces: Callable[[], Mapping[str, int]] = dict,
    otlp: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
) -> list[Collector]:
    """The exporter's own collectors, in exposition order."""

    def informer_invalid() -> Counter[str]:
        total: Counter[str] = Counter()
        for _, stats in informers():
            total.update(stats.invalid)
        return total

    return [
        BuildInfo(mode),
        Informers(informers),
        InvalidInput([*invalid, lambda: model.stats.invalid, informer_invalid]),
        Cardinality(renderer),
        ModelSize(model),
        TraceExport(traces),
        Observed(model),
        CiIntake(model, otlp),
    ]


def build_registry(collectors: Iterable[Collector], *, process: bool = True) -> CollectorRegistry:
    """A registry of these collectors; a family name declared twice raises ValueError."""
    registry = CollectorRegistry(auto_describe=True)
    if process:
        ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def render_self(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def families_of(collectors: Iterable[Collector]) -> Iterator[str]:
    """Declared family names, for tests and documentation."""
    for collector in collectors:
        describe = getattr(collector, "describe", None)
        if describe is not None:
            for metric in describe():
                yield metric.name
