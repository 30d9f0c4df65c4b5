"""daylight_* self-metrics: how the exporter itself is doing.

A prometheus_client custom collector reads the informers' and the model's own counters at
scrape time, so the hot path only bumps plain integers (no label lookups per event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.kube.informer import InformerStats
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer


@dataclass(slots=True)
class SelfState:
    """Everything the self-metrics read; filled by whoever wires the exporter together."""

    model: DoraModel
    renderer: MetricsRenderer
    informers: Callable[[], Sequence[tuple[str, InformerStats]]] = lambda: ()
    extra_invalid: Counter[str] = field(default_factory=Counter)
    mode: str = "run"
    trace_counters: Callable[[], Mapping[str, int]] = dict
    extra_collectors: list[Collector] = field(default_factory=list)


class DaylightCollector(Collector):
    def __init__(self, state: SelfState) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        state = self.state
        info = GaugeMetricFamily(
            "daylight_build_info", "Daylight version and mode.", labels=["version", "mode"]
        )
        info.add_metric([__version__, state.mode], 1)
        yield info

        events = CounterMetricFamily(
            "daylight_watch_events", "Watch events received.", labels=["resource", "type"]
        )
        restarts = CounterMetricFamily(
            "daylight_watch_restarts", "Watch restarts by reason.", labels=["resource", "reason"]
        )
        errors = CounterMetricFamily(
            "daylight_api_errors", "API errors by HTTP code.", labels=["resource", "code"]
        )
        lists = CounterMetricFamily("daylight_lists", "LIST snapshots taken.", labels=["resource"])
        synced = GaugeMetricFamily(
            "daylight_informer_synced",
            "1 when the resource is listed and watched.",
            labels=["resource"],
        )
        disabled = GaugeMetricFamily(
            "daylight_informer_disabled",
            "1 when the resource cannot be watched (missing CRD, forbidden).",
            labels=["resource", "reason"],
        )
        tracked = GaugeMetricFamily(
            "daylight_tracked_objects", "Objects held in the watch cache.", labels=["resource"]
        )
        last_event = GaugeMetricFamily(
            "daylight_last_event_timestamp_seconds",
            "When the last watch event of the resource arrived.",
            labels=["resource"],
        )
        invalid_total: Counter[str] = Counter(state.extra_invalid)
        invalid_total.update(state.model.stats.invalid)
        for name, stats in state.informers():
            for kind, count in sorted(stats.events.items()):
                events.add_metric([name, kind], count)
            for reason, count in sorted(stats.restarts.items()):
                restarts.add_metric([name, reason], count)
            for code, count in sorted(stats.errors.items()):
                errors.add_metric([name, code], count)
            lists.add_metric([name], stats.lists)
            synced.add_metric([name], 1 if stats.synced else 0)
            if stats.disabled:
                disabled.add_metric([name, stats.disabled], 1)
            tracked.add_metric([name], stats.cached)
            if stats.last_event_at:
                last_event.add_metric([name], stats.last_event_at)
            invalid_total.update(stats.invalid)
        yield from (events, restarts, errors, lists, synced, disabled, tracked, last_event)

        invalid = CounterMetricFamily(
            "daylight_invalid_input",
            "Input that was skipped or ignored, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(invalid_total.items()):
            invalid.add_metric([reason], count)
        yield invalid
        yield GaugeMetricFamily(
            "daylight_dropped_series",
            "Apps left out of /metrics by the --max-apps cardinality cap.",
            value=state.renderer.dropped_apps,
        )
        yield GaugeMetricFamily(
            "daylight_dora_series",
            "DORA series in the last /metrics render.",
            value=state.renderer.series,
        )
        yield GaugeMetricFamily("daylight_apps", "Apps in the ledger.", value=len(state.model.apps))
        yield GaugeMetricFamily(
            "daylight_workloads", "Workloads tracked.", value=len(state.model.workloads)
        )
        traces = state.trace_counters()
        if traces:
            spans = CounterMetricFamily(
                "daylight_trace_spans", "Deployment trace spans by result.", labels=["result"]
            )
            for result in ("exported", "failed", "dropped"):
                spans.add_metric([result], traces.get(result, 0))
            yield spans
            yield GaugeMetricFamily(
                "daylight_trace_spans_pending",
                "Spans accepted but not yet exported.",
                value=traces.get("pending", 0),
            )
        yield CounterMetricFamily(
            "daylight_restarts_observed",
            "Rollout restarts seen (same template fingerprint): not deployments.",
            value=state.model.stats.restarts,
        )


def build_registry(state: SelfState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    registry.register(DaylightCollector(state))
    for collector in state.extra_collectors:
        registry.register(collector)
    return registry


def render_self(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
