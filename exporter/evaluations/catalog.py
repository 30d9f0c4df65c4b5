"""What evaluations are made of: KeptnEvaluationDefinitions, KeptnMetrics and
KeptnMetricsProviders as the cluster holds them, and how an objective turns into a query
against one Prometheus or Thanos server (read-only)."""

from __future__ import annotations

from exporter.checks.keptn import NamespaceGate
from exporter.evaluations.prometheus import AGGREGATIONS
from exporter.events.objects import (
    EvaluationDefinitionSpec,
    InvalidSpec,
    KeptnObject,
    MetricSpec,
    Objective,
    ProviderSpec,
    decode_spec,
)
from exporter.events.timeutil import parse_go_duration
from exporter.events.urls import redact, valid_http_url

PROVIDER_TYPES = ("prometheus", "thanos")


class EvaluationFailure(Exception):
    """An evaluation cannot pass: ``reason`` is the bounded label, ``message`` the detail."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Catalog:
    def __init__(self, *, gate: NamespaceGate, default_server: str = "") -> None:
        self.gate = gate
        self.default_server = default_server
        self.definitions: dict[tuple[str, str], KeptnObject] = {}
        self.metrics: dict[tuple[str, str], KeptnObject] = {}
        self.providers: dict[tuple[str, str], KeptnObject] = {}

    def observe(self, obj: KeptnObject, deleted: bool) -> None:
        """KeptnEvaluationDefinitions, KeptnMetrics and KeptnMetricsProviders as they change."""
        store = {
            "KeptnEvaluationDefinition": self.definitions,
            "KeptnMetric": self.metrics,
            "KeptnMetricsProvider": self.providers,
        }.get(obj.kind)
        if store is None:
            return
        key = (obj.metadata.namespace, obj.metadata.name)
        if deleted:
            store.pop(key, None)
        else:
            store[key] = obj

    def query_of(
        self, namespace: str, spec: EvaluationDefinitionSpec, objective: Objective
    ) -> tuple[str, str, bool, tuple[float, float, str] | None]:
        """(query, server URL, skip TLS verification, optional range (interval, step, how))."""
        ref = objective.keptn_metric_ref
        if ref is not None and ref.name:
            metric_ns = ref.namespace or namespace
            if metric_ns != namespace and not self.gate.allowed(metric_ns):
                raise EvaluationFailure(
                    "forbidden_namespace",
                    f"KeptnMetric {metric_ns}/{ref.name}: namespace not enabled",
                )
            obj = self.metrics.get((metric_ns, ref.name))
            if obj is None:
                raise EvaluationFailure("unknown_metric", f"no KeptnMetric {metric_ns}/{ref.name}")
            try:
                metric = decode_spec(obj.spec, MetricSpec)
            except InvalidSpec as exc:
                raise EvaluationFailure(
                    "invalid_metric", f"KeptnMetric {metric_ns}/{ref.name}: {exc}"
                ) from None
            if not metric.query or not metric.provider.name:
                raise EvaluationFailure(
                    "invalid_metric",
                    f"KeptnMetric {metric_ns}/{ref.name} needs a query and a provider",
                )
            server, insecure = self._provider(metric_ns, metric.provider.name, explicit=True)
            return metric.query, server, insecure, _window(metric)
        if not objective.query:
            raise EvaluationFailure(
                "invalid_definition", "an objective needs keptnMetricRef or query"
            )
        source = (objective.source or spec.source or "prometheus").lower()
        if source not in PROVIDER_TYPES:
            raise EvaluationFailure(
                "unsupported_provider", f"source {source!r}: only prometheus and thanos"
            )
        if objective.provider is not None and objective.provider.name:
            provider_ns = objective.provider.namespace or namespace
            if provider_ns != namespace and not self.gate.allowed(provider_ns):
                raise EvaluationFailure(
                    "forbidden_namespace",
                    f"provider {provider_ns}/{objective.provider.name}: namespace not enabled",
                )
            server, insecure = self._provider(provider_ns, objective.provider.name, explicit=True)
        elif (namespace, source) in self.providers:
            server, insecure = self._provider(namespace, source, explicit=True)
        elif self.default_server:
            server, insecure = self.default_server, False
        else:
            raise EvaluationFailure(
                "no_server",
                f"no KeptnMetricsProvider {namespace}/{source} and no "
                "--prometheus-url for inline queries",
            )
        return objective.query, server, insecure, None

    def _provider(self, namespace: str, name: str, *, explicit: bool) -> tuple[str, bool]:
        obj = self.providers.get((namespace, name))
        if obj is None:
            raise EvaluationFailure(
                "unknown_provider", f"no KeptnMetricsProvider {namespace}/{name}"
            )
        try:
            spec = decode_spec(obj.spec, ProviderSpec)
        except InvalidSpec as exc:
            raise EvaluationFailure(
                "invalid_provider", f"KeptnMetricsProvider {namespace}/{name}: {exc}"
            ) from None
        kind = (spec.type or (name if name in PROVIDER_TYPES else "")).lower()
        if kind not in PROVIDER_TYPES:
            raise EvaluationFailure(
                "unsupported_provider",
                f"KeptnMetricsProvider {namespace}/{name} has type {spec.type!r}: "
                "Daylight queries prometheus and thanos only",
            )
        if not valid_http_url(spec.target_server):
            raise EvaluationFailure(
                "invalid_provider",
                f"KeptnMetricsProvider {namespace}/{name}: targetServer "
                f"{redact(spec.target_server)!r} is not an http(s) URL",
            )
        return spec.target_server, spec.insecure_skip_tls_verify


def _window(metric: MetricSpec) -> tuple[float, float, str] | None:
    if metric.range is None:
        return None
    try:
        interval = parse_go_duration(metric.range.interval or "5m")
        step = parse_go_duration(metric.range.step) if metric.range.step else 60.0
    except ValueError as exc:
        raise EvaluationFailure("invalid_metric", f"range: {exc}") from None
    how = metric.range.aggregation or "avg"
    if how not in AGGREGATIONS or not 0 < interval <= 31 * 86400 or step <= 0:
        raise EvaluationFailure(
            "invalid_metric",
            f"range: aggregation one of {', '.join(AGGREGATIONS)}, "
            "interval up to 31 days, step above zero",
        )
    if interval / max(step, 1.0) > 11_000:
        raise EvaluationFailure("invalid_metric", "range: more than 11000 points (raise the step)")
    return interval, step, how
