"""OpenTelemetry deployment traces (design §5): one trace per app deployment.

Shape of a trace (all ids derived from the app deployment's ``identity``, so re-emitting the
same deployment after a crash yields the same trace id and span ids)::

    deploy <app>                          root: the app deployment
    ├── deploy deployment/<name>          one per workload deployment (link: CI traceparent)
    │   └── rollout                       phase spans (pre/post tasks and evaluations later)
    ├── failure                           one per failure reason (error status)
    └── restore                           failed change → restored

Failures and restores are often revealed after the deployment finished and its trace went
out. A trace is therefore sent as *facts*: ``"deployment"`` (root, workloads, phases),
``"failure:<reason>"`` and ``"restore"``. :meth:`TraceEmitter.emit` sends the facts not yet
sent and returns the set now covered, for the model to persist; a later call with that set
adds only the new ``failure``/``restore`` spans to the same trace, parented to the root span
(whose id is deterministic).

Emission never blocks: spans are built as :class:`ReadableSpan` objects and handed to a
:class:`BatchSpanProcessor` whose worker thread exports them. The number of spans in flight
is bounded (whole traces beyond it are dropped and counted), so an unreachable collector
costs counters, not memory. Attributes come only from the model's records: no environment
variables, no annotations other than the ``traceparent`` turned into a span link.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.sdk.version import __version__ as _sdk_version
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from exporter import __version__
from exporter.checks.phases import Phase, PhaseSource, PhaseStatus, rollout_phases
from exporter.events.tracecontext import span_id_of, trace_id_of
from exporter.model.records import (
    FACT_DEPLOYMENT,
    FACT_FAILURE_PREFIX,
    FACT_RESTORE,
    AppDeployment,
    Outcome,
    WorkloadDeployment,
    WorkloadKey,
)

# Facts a trace is sent as (see the module docstring).

PROTOCOLS = ("http/protobuf", "grpc")
# the semantic-conventions release every attribute name we send was checked against
# (tests/traces/test_semconv.py keeps the registry names)
SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
SCOPE = InstrumentationScope("daylight.deployments", __version__, SCHEMA_URL)

# Kinds with a semantic-convention ``k8s.<kind>.name`` attribute.
_K8S_KINDS = {
    "Deployment": "k8s.deployment.name",
    "StatefulSet": "k8s.statefulset.name",
    "DaemonSet": "k8s.daemonset.name",
    "ReplicaSet": "k8s.replicaset.name",
    "Job": "k8s.job.name",
    "CronJob": "k8s.cronjob.name",
}
# W3C Trace Context: version-traceid-parentid-flags, lowercase hex only.
# A version above 00 may append fields after a dash (printable ASCII, no spaces).
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?"
)

AttrDict = dict[str, AttributeValue]


# --- facts -------------------------------------------------------------------------------


def trace_facts(group: AppDeployment) -> frozenset[str]:
    """What the trace of ``group`` can say now (only finished deployments have a trace)."""
    return group.trace_facts


# --- ids ---------------------------------------------------------------------------------


def _root_id(identity: str) -> int:
    return span_id_of(identity, "app")


def _workload_id(identity: str, key: WorkloadKey) -> int:
    return span_id_of(identity, "workload", key.namespace, key.kind, key.name)


def _phase_id(identity: str, phase: Phase) -> int:
    owner = ("app",) if phase.workload is None else (phase.workload.kind, phase.workload.name)
    return span_id_of(identity, "phase", *owner, phase.name, phase.key)


def parse_traceparent(value: str | None) -> SpanContext | None:
    """A W3C ``traceparent`` as a remote span context; ``None`` for anything invalid."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(flags_hex, 16))
    )


# --- span building (pure) ----------------------------------------------------------------


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000) * 1_000  # microsecond grid: stable across re-emission


def _status(status: PhaseStatus, description: str = "") -> Status:
    if status is PhaseStatus.ERROR:
        return Status(StatusCode.ERROR, description or None)
    if status is PhaseStatus.OK:
        return Status(StatusCode.OK)
    return Status(StatusCode.UNSET)


def _app_attributes(group: AppDeployment) -> AttrDict:
    attributes: AttrDict = {
        "deployment.environment.name": group.app.environment,
        "keptn.deployment.app.name": group.app.app,
        "keptn.deployment.app.version": group.version,
    }
    if group.app.namespace:  # empty for deployments outside the cluster (CDEvents)
        attributes["k8s.namespace.name"] = group.app.namespace
        attributes["keptn.deployment.app.namespace"] = group.app.namespace
    return attributes


def _root_attributes(group: AppDeployment) -> AttrDict:
    attributes = _app_attributes(group)
    attributes.update(
        {
            "deployment.name": group.app.app,
            "deployment.id": group.identity,
            "deployment.status": "failed" if group.outcome is Outcome.FAILED else "succeeded",
            "daylight.workloads": len(group.active_workloads),
            "daylight.rollback": group.rollback,
            "daylight.rework": group.rework,
            "daylight.failed_change": group.failed_change,
        }
    )
    shas = {w.commit_sha for w in group.active_workloads if w.commit_sha}
    if len(shas) == 1:
        attributes["vcs.ref.head.revision"] = shas.pop()
    if group.failure_reasons:
        attributes["daylight.failure.reasons"] = list(group.failure_reasons)
        attributes["error.type"] = group.failure_reasons[0]
    commit = group.commit_time
    if commit is not None:
        attributes["daylight.commit_time"] = commit
    lead = group.lead_time_seconds
    if lead is not None:
        attributes["daylight.lead_time_seconds"] = lead
    if group.keptn_app is not None:  # Keptn has no revision attribute: ours
        attributes["daylight.keptn_app.revision"] = group.keptn_app[1]
    return attributes


def _workload_attributes(group: AppDeployment, w: WorkloadDeployment) -> AttrDict:
    attributes = _app_attributes(group)
    if w.key.namespace:
        attributes["k8s.namespace.name"] = w.key.namespace
    kind_key = _K8S_KINDS.get(w.key.kind)
    if kind_key is not None:
        attributes[kind_key] = w.key.name
    attributes.update(
        {
            "daylight.workload.kind": w.key.kind,
            "keptn.deployment.workload.name": w.workload,
            "keptn.deployment.workload.version": w.version,
            "deployment.status": "failed" if w.outcome is Outcome.FAILED else "succeeded",
            "daylight.rollback": w.rollback,
            "daylight.workload.fingerprint": w.fingerprint,
        }
    )
    if w.revision:
        attributes["daylight.workload.revision"] = w.revision
    if w.commit_sha:
        attributes["vcs.ref.head.revision"] = w.commit_sha
    attributes.update(_image_attributes(w))
    attributes.update(_ci_attributes(w))
    if w.outcome is Outcome.FAILED:
        attributes["error.type"] = w.failure_reason or "rollout_failed"
    return attributes


def _image_attributes(w: WorkloadDeployment) -> AttrDict:
    """``container.image.*`` as the conventions have them: the name without tag or digest,
    the tags, the runtime's ``repo@sha256:...`` repo digests; a bare digest is
    ``oci.manifest.digest`` (only when the revision runs one image)."""
    attributes: AttrDict = {}
    names = sorted({_image_name(i) for i in w.images})
    if len(names) == 1:
        attributes["container.image.name"] = names[0]
    tags = sorted({t for t in (_image_tag(i) for i in w.images) if t})
    if tags:
        attributes["container.image.tags"] = tags
    if w.repo_digests:
        attributes["container.image.repo_digests"] = sorted(w.repo_digests)
    if len(w.image_digests) == 1:
        attributes["oci.manifest.digest"] = next(iter(w.image_digests))
    return attributes


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _image_tag(image: str) -> str | None:
    last = image.split("@", 1)[0].rpartition("/")[2]
    return last.split(":", 1)[1] if ":" in last else None


def _ci_attributes(w: WorkloadDeployment) -> AttrDict:
    """What the CI run that built it said: repository, branch, the run's URL."""
    change = w.change
    if change is None:
        return {}
    attributes: AttrDict = {}
    if change.repository:
        key = "vcs.repository.url.full" if "://" in change.repository else "vcs.repository.name"
        attributes[key] = change.repository
    if change.ref:
        attributes["vcs.ref.head.name"] = change.ref
    if change.run_url:
        attributes["cicd.pipeline.run.url.full"] = change.run_url
    return attributes


def _ci_link(w: WorkloadDeployment) -> Link | None:
    """The CI run's root span (from OTLP or CDEvents), as a link: no traceparent needed."""
    link = w.change.link if w.change is not None else None
    if link is None:
        return None
    try:
        trace_id, span_id = int(link[0], 16), int(link[1], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))
    source = w.change.source if w.change is not None else "ci"
    return Link(context, {"daylight.link.source": source})


@dataclass(slots=True)
class _Draft:
    """A span under construction; bounds may widen to cover its children."""

    name: str
    span_id: int
    parent_id: int | None
    start: float
    end: float
    attributes: AttrDict
    status: Status = field(default_factory=lambda: Status(StatusCode.UNSET))
    events: list[tuple[str, float, AttrDict]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def cover(self, start: float, end: float) -> None:
        self.start = min(self.start, start)
        self.end = max(self.end, end)


def build_spans(
    group: AppDeployment,
    facts: Collection[str],
    resource: Resource,
    phases: PhaseSource = rollout_phases,
) -> list[ReadableSpan]:
    """The spans that carry ``facts`` of ``group``'s trace (pure: no I/O, no clock)."""
    identity = group.identity
    trace_id = trace_id_of(identity)
    root_id = _root_id(identity)
    finished = group.finished_at if group.finished_at is not None else group.started_at
    drafts: list[_Draft] = []

    if FACT_DEPLOYMENT in facts:
        drafts.extend(_deployment_drafts(group, identity, root_id, finished, phases))

    failed_at = group.failed_change_at if group.failed_change_at is not None else finished
    for reason in group.failure_reasons:
        if FACT_FAILURE_PREFIX + reason not in facts:
            continue
        attributes = _app_attributes(group)
        attributes.update({"error.type": reason, "daylight.failure.reason": reason})
        drafts.append(
            _Draft(
                "failure",
                span_id_of(identity, "failure", reason),
                root_id,
                failed_at,
                failed_at,
                attributes,
                Status(StatusCode.ERROR, reason),
                [("failure", failed_at, {"daylight.failure.reason": reason})],
            )
        )

    if FACT_RESTORE in facts and group.restored_at is not None:
        restored = group.restored_at
        attributes = _app_attributes(group)
        attributes["daylight.failure.reasons"] = list(group.failure_reasons)
        seconds = group.restore_seconds
        if seconds is not None:
            attributes["daylight.time_to_restore_seconds"] = seconds
        drafts.append(
            _Draft(
                "restore",
                span_id_of(identity, "restore"),
                root_id,
                min(failed_at, restored),
                restored,
                attributes,
                events=[("restore", restored, {})],
            )
        )

    flags = TraceFlags(TraceFlags.SAMPLED)
    spans = []
    for d in drafts:
        parent = None
        if d.parent_id is not None:
            parent = SpanContext(trace_id, d.parent_id, is_remote=False, trace_flags=flags)
        spans.append(
            ReadableSpan(
                name=d.name,
                context=SpanContext(trace_id, d.span_id, is_remote=False, trace_flags=flags),
                parent=parent,
                resource=resource,
                attributes=d.attributes,
                events=[Event(name, attrs, _ns(at)) for name, at, attrs in d.events],
                links=d.links,
                kind=SpanKind.INTERNAL,
                status=d.status,
                start_time=_ns(d.start),
                end_time=_ns(max(d.start, d.end)),
                instrumentation_scope=SCOPE,
            )
        )
    return spans


def _deployment_drafts(
    group: AppDeployment,
    identity: str,
    root_id: int,
    finished: float,
    phases: PhaseSource,
) -> list[_Draft]:
    root = _Draft(
        f"deploy {group.app.app}",
        root_id,
        None,
        group.started_at,
        finished,
        _root_attributes(group),
    )
    if group.outcome is Outcome.FAILED or group.failure_reasons:
        root.status = Status(StatusCode.ERROR, ",".join(group.failure_reasons) or "failed")
    members: dict[WorkloadKey, _Draft] = {}
    for w in sorted(group.active_workloads, key=lambda w: (w.started_at, w.key)):
        draft = _Draft(
            f"deploy {w.key.kind.lower()}/{w.key.name}",
            _workload_id(identity, w.key),
            root_id,
            w.started_at,
            w.finished_at if w.finished_at is not None else w.started_at,
            _workload_attributes(group, w),
        )
        if w.rollback:
            revision: AttrDict = {"daylight.workload.revision": w.revision} if w.revision else {}
            draft.events.append(("rollback", w.started_at, revision))
        if w.outcome is Outcome.FAILED:
            reason = w.failure_reason or "rollout_failed"
            draft.status = Status(StatusCode.ERROR, reason)
            draft.events.append(("failure", draft.end, {"daylight.failure.reason": reason}))
        link = parse_traceparent(w.traceparent)
        if link is not None:
            draft.links.append(Link(link, {"daylight.link.source": "traceparent"}))
        ci = _ci_link(w)
        if ci is not None and (link is None or ci.context.span_id != link.span_id):
            draft.links.append(ci)
        members[w.key] = draft
    phase_drafts = []
    for phase in phases(group):
        parent = members.get(phase.workload) if phase.workload is not None else None
        draft = _Draft(
            phase.name,
            _phase_id(identity, phase),
            parent.span_id if parent is not None else root_id,
            phase.start,
            max(phase.start, phase.end),
            dict(phase.attributes),
            _status(phase.status, phase.description),
        )
        phase_drafts.append(draft)
        if parent is not None:
            parent.cover(draft.start, draft.end)
    for draft in (*members.values(), *phase_drafts):
        root.cover(draft.start, draft.end)
    return [root, *members.values(), *phase_drafts]


# --- export ------------------------------------------------------------------------------


class _CountingExporter(SpanExporter):
    """Wraps the OTLP exporter: reports each batch's outcome; can be aborted from outside."""

    def __init__(self, inner: SpanExporter, report: Callable[[int, bool], None]) -> None:
        self._inner = inner
        self._report = report
        self._lock = threading.Lock()
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:  # a broken exporter must not kill the worker thread's accounting
            result = SpanExportResult.FAILURE
        self._report(len(spans), result is SpanExportResult.SUCCESS)
        return result

    def abort(self) -> None:
        """Stop retries and fail further exports at once (the inner exporter's shutdown)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._inner.shutdown()

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        self.abort()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _otlp_exporter(
    protocol: str,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    timeout_s: float | None,
) -> SpanExporter:
    """The SDK's OTLP exporter; whatever is ``None`` comes from ``OTEL_EXPORTER_OTLP_*``."""
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPExporter,
        )

        return HTTPExporter(endpoint=endpoint, headers=headers, timeout=timeout_s)
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GRPCExporter,
            )
        except ImportError as exc:
            raise ValueError(
                "OTLP over gRPC needs the opentelemetry-exporter-otlp-proto-grpc package"
            ) from exc
        return GRPCExporter(
            endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout_s
        )
    raise ValueError(f"unsupported OTLP protocol {protocol!r} (use one of {', '.join(PROTOCOLS)})")


def default_protocol(env: Mapping[str, str] | None = None) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, then ``OTEL_EXPORTER_OTLP_PROTOCOL``, else http."""
    env = os.environ if env is None else env
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(name, "").strip()
        if value:
            return value
    return "http/protobuf"


def otlp_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the standard variables ask for OTLP traces: an endpoint is set, and neither
    ``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none`` says otherwise."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(
        env.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def build_resource(service_version: str = __version__, cluster_name: str | None = None) -> Resource:
    """``service.name=daylight`` (unless ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES``
    say otherwise), ``service.version``, ``k8s.cluster.name`` when configured.

    No resource detectors run: nothing from the process (command line, environment) can leak.
    """
    attributes: dict[str, Any] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": _sdk_version,
        "service.name": "daylight",
    }
    resource = Resource(attributes).merge(OTELResourceDetector().detect())
    configured: dict[str, Any] = {"service.version": service_version}
    if cluster_name:
        configured["k8s.cluster.name"] = cluster_name
    return resource.merge(Resource(configured, SCHEMA_URL))


class TraceEmitter:
    """Sends one OTLP trace per app deployment from a background thread.

    ``emit`` is cheap and never blocks (call it from the event loop); ``flush`` and ``close``
    wait up to their timeout and belong in a thread (``asyncio.to_thread``). The counters
    ``exported``, ``failed`` and ``dropped`` count spans and are safe to read at any time.
    """

    def __init__(
        self,
        *,
        protocol: str | None = None,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        cluster_name: str | None = None,
        service_version: str = __version__,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay_s: float = 1.0,
        phases: PhaseSource = rollout_phases,
        exporter: SpanExporter | None = None,
    ) -> None:
        """``protocol``: ``"http/protobuf"`` (default) or ``"grpc"``; ``None`` reads
        ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``. ``endpoint`` is the traces endpoint as the
        SDK takes it (http: full URL ending in ``/v1/traces``; grpc: ``http[s]://host:port``);
        ``endpoint``, ``headers`` and ``timeout_s`` left ``None`` come from the standard
        ``OTEL_EXPORTER_OTLP_*`` variables. ``exporter`` replaces OTLP (tests, other sinks).
        ``max_queue_size`` bounds the spans in flight (queued or being exported).
        """
        if max_queue_size < 1 or not 1 <= max_export_batch_size <= max_queue_size:
            raise ValueError("need 1 <= max_export_batch_size <= max_queue_size")
        self.protocol = protocol or default_protocol()
        if exporter is None:
            exporter = _otlp_exporter(self.protocol, endpoint, headers, timeout_s)
        self.resource = build_resource(service_version, cluster_name)
        self.phases = phases
        self.max_queue_size = max_queue_size
        self.exported = 0
        self.failed = 0
        self.dropped = 0
        self._submitted = 0
        self._closed = False
        self._lock = threading.Lock()
        self._exporter = _CountingExporter(exporter, self._on_result)
        self._processor = BatchSpanProcessor(
            self._exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_s * 1000,
            max_export_batch_size=max_export_batch_size,
        )

    @property
    def pending(self) -> int:
        """Spans accepted but not yet exported or failed."""
        with self._lock:
            return self._submitted - self.exported - self.failed

    def counters(self) -> dict[str, int]:
        """``exported``, ``failed``, ``dropped`` (spans, monotonic) and ``pending``, at once."""
        with self._lock:
            return {
                "exported": self.exported,
                "failed": self.failed,
                "dropped": self.dropped,
                "pending": self._submitted - self.exported - self.failed,
            }

    def _on_result(self, count: int, ok: bool) -> None:
        with self._lock:
            if self._closed:
                return  # counted as dropped by close()
            if ok:
                self.exported += count
            else:
                self.failed += count

    def emit(self, group: AppDeployment, sent: Collection[str] = ()) -> frozenset[str]:
        """Queue the spans for the facts of ``group`` not in ``sent``; never blocks.

        Returns every fact now covered (``sent`` plus what this call queued or dropped): the
        caller persists it and passes it back next time. A trace that does not fit in the
        queue is dropped whole and counted in ``dropped``.
        """
        facts = trace_facts(group)
        todo = facts - frozenset(sent)
        covered = frozenset(sent) | facts
        if not todo:
            return covered
        spans = build_spans(group, todo, self.resource, self.phases)
        with self._lock:
            in_flight = self._submitted - self.exported - self.failed
            if self._closed or in_flight + len(spans) > self.max_queue_size:
                self.dropped += len(spans)
                return covered
            self._submitted += len(spans)
        for span in spans:
            self._processor.on_end(span)
        return covered

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything queued; True when nothing is pending. Blocks up to ``timeout_s``."""
        worker = threading.Thread(
            target=self._processor.force_flush, name="daylight-trace-flush", daemon=True
        )
        worker.start()
        worker.join(timeout_s)
        return self.pending == 0

    def close(self, timeout_s: float = 5.0) -> None:
        """Export what is queued for up to ``timeout_s``, then stop; the rest is dropped."""
        if self._closed:
            return
        timer = threading.Timer(timeout_s, self._exporter.abort)
        timer.daemon = True
        timer.start()
        try:
            self._processor.shutdown()  # type: ignore[no-untyped-call]  # the SDK lacks a hint
        finally:
            timer.cancel()
            self._exporter.abort()
            with self._lock:
                self._closed = True
                self.dropped += self._submitted - self.exported - self.failed
                self._submitted = self.exported + self.failed
