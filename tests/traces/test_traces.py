"""Deployment traces (design §5): structure, ids, facts, non-blocking bounded export."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from exporter import __version__
from exporter.checks.phases import Phase, PhaseName, PhaseStatus, rollout_phases
from exporter.events.tracecontext import span_id_of, trace_id_of
from exporter.model.records import (
    FACT_DEPLOYMENT,
    FACT_RESTORE,
    AppDeployment,
    AppKey,
    Outcome,
    WorkloadDeployment,
    WorkloadKey,
)
from exporter.outputs.traces import (
    TraceEmitter,
    build_resource,
    build_spans,
    default_protocol,
    otlp_configured,
    parse_traceparent,
    trace_facts,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CI_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CI_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CI_TRACE}-{CI_SPAN}-01"
DIGEST = "sha256:" + "ab" * 32
APP = AppKey("production", "shop", "shop")


def workload(
    kind: str,
    name: str,
    version: str,
    started: float,
    finished: float | None,
    outcome: Outcome = Outcome.SUCCEEDED,
    **extra: Any,
) -> WorkloadDeployment:
    return WorkloadDeployment(
        key=WorkloadKey("shop", kind, name),
        workload=name,
        app=APP,
        version=version,
        fingerprint=f"fp-{name}-{version}",
        revision=extra.pop("revision", "7"),
        started_at=T0 + started,
        rollback=extra.pop("rollback", False),
        finished_at=None if finished is None else T0 + finished,
        outcome=outcome,
        **extra,
    )


def group_of(*members: WorkloadDeployment, **extra: Any) -> AppDeployment:
    group = AppDeployment(app=APP, started_at=min(w.started_at for w in members), **extra)
    for w in members:
        w.group = group
        group.workloads.append(w)
    if group.outcome.finished and group.finished_at is None:
        group.finished_at = max(w.finished_at or w.started_at for w in members)
    return group


def two_workloads() -> AppDeployment:
    web = workload(
        "Deployment",
        "web",
        "1.3",
        0,
        30,
        commit_sha="abc1234",
        commit_time=T0 - 600,
        traceparent=TRACEPARENT,
        image_digests={DIGEST},
        repo_digests={f"registry.example/web@{DIGEST}"},
    )
    db = workload("StatefulSet", "db", "2", 5, 40, revision="db-5d4f")
    return group_of(web, db, outcome=Outcome.SUCCEEDED)


def memory_emitter(**kwargs: Any) -> tuple[TraceEmitter, InMemorySpanExporter]:
    sink = InMemorySpanExporter()
    kwargs.setdefault("schedule_delay_s", 0.05)
    return TraceEmitter(exporter=sink, cluster_name="prod-eu-1", **kwargs), sink


@pytest.fixture
def emitter() -> Iterator[tuple[TraceEmitter, InMemorySpanExporter]]:
    made, sink = memory_emitter()
    yield made, sink
    made.close(timeout_s=1)


def by_name(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    out = {span.name: span for span in spans}
    assert len(out) == len(spans), [s.name for s in spans]
    return out


def ctx(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def test_one_trace_root_workloads_and_phases(
    emitter: tuple[TraceEmitter, InMemorySpanExporter],
) -> None:
    trace, sink = emitter
    group = two_workloads()
    assert trace.emit(group) == {FACT_DEPLOYMENT}
    assert trace.flush(5)
    spans = sink.get_finished_spans()
    assert len(spans) == 5  # root, 2 workloads, 2 rollouts
    assert {ctx(s)[0] for s in spans} == {int(group.identity, 16)}
    root = next(s for s in spans if s.parent is None)
    assert root.name == "deploy shop"
    web = next(s for s in spans if s.name == "deploy deployment/web")
    db = next(s for s in spans if s.name == "deploy statefulset/db")
    assert parent_id(web) == parent_id(db) == ctx(root)[1]
    rollouts = [s for s in spans if s.name == "rollout"]
    assert sorted(parent_id(s) or 0 for s in rollouts) == sorted([ctx(web)[1], ctx(db)[1]])
    # times: root covers the workloads, workloads cover their phases
    assert root.start_time == round(T0 * 1e6) * 1000
    assert root.end_time == round((T0 + 40) * 1e6) * 1000
    assert db.start_time == round((T0 + 5) * 1e6) * 1000
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)
    assert trace.exported == 5 and trace.failed == trace.dropped == 0


def test_semantic_convention_attributes_and_resource(
    emitter: tuple[TraceEmitter, InMemorySpanExporter],
) -> None:
    trace, sink = emitter
    group = two_workloads()
    trace.emit(group)
    trace.flush(5)
    spans = sink.get_finished_spans()
    named = {s.name: s for s in spans if s.name != "rollout"}
    root = dict(named["deploy shop"].attributes or {})
    assert root["deployment.environment.name"] == "production"
    assert root["k8s.namespace.name"] == "shop"
    assert root["deployment.name"] == "shop"
    assert root["deployment.id"] == group.identity
    assert root["deployment.status"] == "succeeded"
    assert root["keptn.deployment.app.name"] == "shop"
    assert root["keptn.deployment.app.version"] == group.version
    assert root["vcs.ref.head.revision"] == "abc1234"
    assert root["daylight.lead_time_seconds"] == pytest.approx(640.0)
    assert root["daylight.failed_change"] is False
    web = dict(named["deploy deployment/web"].attributes or {})
    assert web["k8s.deployment.name"] == "web"
    assert "k8s.statefulset.name" not in web
    assert web["keptn.deployment.workload.name"] == "web"
    assert web["keptn.deployment.workload.version"] == "1.3"
    assert web["keptn.deployment.app.version"] == group.version
    assert web["vcs.ref.head.revision"] == "abc1234"
    digests = web["container.image.repo_digests"]
    # the runtime's RepoDigests (repo@sha256:...); the bare digest is oci.manifest.digest
    assert isinstance(digests, Sequence) and tuple(digests) == (f"registry.example/web@{DIGEST}",)
    assert web["oci.manifest.digest"] == DIGEST
    assert web["deployment.environment.name"] == "production"
    db = dict(named["deploy statefulset/db"].attributes or {})
    assert db["k8s.statefulset.name"] == "db"
    assert db["daylight.workload.revision"] == "db-5d4f"
    assert "vcs.ref.head.revision" not in db and "container.image.repo_digests" not in db
    resource = dict(spans[0].resource.attributes)
    assert resource["service.name"] == "daylight"
    assert resource["service.version"] == __version__
    assert resource["k8s.cluster.name"] == "prod-eu-1"
    # nothing but the record's own fields: no annotation or environment values leak
    for span in spans:
        for key, value in (span.attributes or {}).items():
            assert key.split(".")[0] in {"deployment", "k8s", "keptn", "vcs", "container",
                                         "oci", "daylight", "error"}, key  # fmt: skip  # a table
            assert TRACEPARENT not in str(value)


def test_resource_honours_otel_variables_but_explicit_config_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "daylight-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=sre,k8s.cluster.name=from-env")
    attributes = dict(build_resource("9.9", "configured").attributes)
    assert attributes["service.name"] == "daylight-eu"
    assert attributes["team"] == "sre"
    assert attributes["k8s.cluster.name"] == "configured"
    assert attributes["service.version"] == "9.9"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    plain = dict(build_resource().attributes)
    assert plain["service.name"] == "daylight"
    assert "k8s.cluster.name" not in plain
    assert not any(key.startswith("process.") for key in plain)


def test_traceparent_becomes_a_link(emitter: tuple[TraceEmitter, InMemorySpanExporter]) -> None:
    trace, sink = emitter
    trace.emit(two_workloads())
    trace.flush(5)
    named = {s.name: s for s in sink.get_finished_spans()}
    (link,) = named["deploy deployment/web"].links
    assert link.context.trace_id == int(CI_TRACE, 16)
    assert link.context.span_id == int(CI_SPAN, 16)
    assert link.context.is_remote and link.context.trace_flags.sampled
    assert not named["deploy statefulset/db"].links
    assert not named["deploy shop"].links


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (TRACEPARENT, True),
        (f"00-{CI_TRACE}-{CI_SPAN}-00", True),  # not sampled upstream: still a link
        (f" {TRACEPARENT}\t", True),  # surrounding blanks of an annotation value
        (f"01-{CI_TRACE}-{CI_SPAN}-01-future", True),  # a later version may append fields
        (f"00-{CI_TRACE}-{CI_SPAN}-01-future", False),  # version 00 may not
        (f"ff-{CI_TRACE}-{CI_SPAN}-01", False),
        (f"00-{CI_TRACE.upper()}-{CI_SPAN}-01", False),
        (f"00-{'0' * 32}-{CI_SPAN}-01", False),
        (f"00-{CI_TRACE}-{'0' * 16}-01", False),
        (f"00-{CI_TRACE[:-1]}-{CI_SPAN}-01", False),
        (f"00-{CI_TRACE}-{CI_SPAN}-1", False),
        (f"00_{CI_TRACE}_{CI_SPAN}_01", False),
        (f"00-{CI_TRACE}-{CI_SPAN}-01\n", False),
        ("", False),
        (None, False),
        ("not a traceparent", False),
    ],
)
def test_traceparent_is_parsed_strictly(value: str | None, valid: bool) -> None:
    parsed = parse_traceparent(value)
    assert (parsed is not None) is valid
    if parsed is not None:
        assert parsed.trace_id == int(CI_TRACE, 16)


def test_invalid_traceparent_is_ignored(emitter: tuple[TraceEmitter, InMemorySpanExporter]) -> None:
    trace, sink = emitter
    w = workload("Deployment", "web", "1", 0, 10, traceparent="00-nope-nope-01")
    trace.emit(group_of(w, outcome=Outcome.SUCCEEDED))
    trace.flush(5)
    assert all(not s.links for s in sink.get_finished_spans())


def test_failed_rollout_error_status_and_events(
    emitter: tuple[TraceEmitter, InMemorySpanExporter],
) -> None:
    trace, sink = emitter
    web = workload("Deployment", "web", "1.2", 0, 600, Outcome.FAILED)
    web.failure_reason = "progress_deadline"
    group = group_of(web, outcome=Outcome.FAILED)
    group.failure_reasons.append("rollout_failed")
    group.failed_change_at = T0 + 600
    assert trace.emit(group) == {FACT_DEPLOYMENT, "failure:rollout_failed"}
    trace.flush(5)
    named = by_name(sink.get_finished_spans())
    root = named["deploy shop"]
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "rollout_failed"
    assert dict(root.attributes or {})["deployment.status"] == "failed"
    assert dict(root.attributes or {})["error.type"] == "rollout_failed"
    span = named["deploy deployment/web"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "progress_deadline"
    (event,) = span.events
    assert event.name == "failure"
    assert dict(event.attributes or {}) == {"daylight.failure.reason": "progress_deadline"}
    assert named["rollout"].status.status_code is StatusCode.ERROR
    failure = named["failure"]
    assert parent_id(failure) == ctx(root)[1]
    assert failure.status.status_code is StatusCode.ERROR
    assert [e.name for e in failure.events] == ["failure"]
    assert dict(failure.events[0].attributes or {})["daylight.failure.reason"] == "rollout_failed"
    assert failure.events[0].timestamp == round((T0 + 600) * 1e6) * 1000


def test_rollback_event(emitter: tuple[TraceEmitter, InMemorySpanExporter]) -> None:
    trace, sink = emitter
    web = workload("Deployment", "web", "1.1", 0, 30, rollback=True, revision="5")
    trace.emit(group_of(web, outcome=Outcome.SUCCEEDED))
    trace.flush(5)
    named = by_name(sink.get_finished_spans())
    (event,) = named["deploy deployment/web"].events
    assert event.name == "rollback"
    assert event.timestamp == round(T0 * 1e6) * 1000
    assert dict(event.attributes or {}) == {"daylight.workload.revision": "5"}
    assert dict(named["deploy shop"].attributes or {})["daylight.rollback"] is True


def test_late_failure_and_restore_join_the_same_trace_once(
    emitter: tuple[TraceEmitter, InMemorySpanExporter],
) -> None:
    trace, sink = emitter
    group = two_workloads()
    sent = trace.emit(group)
    trace.flush(5)
    root = next(s for s in sink.get_finished_spans() if s.parent is None)
    sink.clear()
    # a crash loop shows up after the trace went out
    group.failure_reasons.append("crashloop")
    group.failed_change_at = T0 + 200
    assert trace_facts(group) - sent == {"failure:crashloop"}
    sent = trace.emit(group, sent)
    assert sent == {FACT_DEPLOYMENT, "failure:crashloop"}
    assert trace.emit(group, sent) == sent  # nothing new: nothing sent
    trace.flush(5)
    (failure,) = sink.get_finished_spans()
    assert failure.name == "failure"
    assert ctx(failure)[0] == ctx(root)[0]
    assert parent_id(failure) == ctx(root)[1]
    assert failure.status.status_code is StatusCode.ERROR
    assert dict(failure.attributes or {})["error.type"] == "crashloop"
    assert failure.start_time == round((T0 + 200) * 1e6) * 1000
    sink.clear()
    # then a restore
    group.restored_at = T0 + 331
    sent = trace.emit(group, sent)
    assert FACT_RESTORE in sent
    trace.flush(5)
    (restore,) = sink.get_finished_spans()
    assert restore.name == "restore"
    assert parent_id(restore) == ctx(root)[1]
    assert restore.status.status_code is StatusCode.UNSET
    assert [e.name for e in restore.events] == ["restore"]
    assert restore.end_time == round((T0 + 331) * 1e6) * 1000
    assert dict(restore.attributes or {})["daylight.time_to_restore_seconds"] == 291.0
    assert trace.exported == 7


def test_same_group_twice_gives_the_same_ids() -> None:
    first, second = two_workloads(), two_workloads()
    first.failure_reasons.append("degraded")
    first.failed_change_at = T0 + 100
    first.restored_at = T0 + 160
    second.failure_reasons.append("degraded")
    second.failed_change_at = T0 + 100
    second.restored_at = T0 + 160
    assert first.identity == second.identity
    resource = build_resource()
    facts = trace_facts(first)

    def ids(group: AppDeployment) -> list[tuple[str, int, int, int | None]]:
        return sorted((s.name, *ctx(s), parent_id(s)) for s in build_spans(group, facts, resource))

    a, b = ids(first), ids(second)
    assert a == b
    assert len({span_id for _, _, span_id, _ in a}) == len(a) == 7
    # after a crash the emitter is new, the ids are not
    runs = []
    for _ in range(2):
        trace, sink = memory_emitter()
        trace.emit(two_workloads())
        trace.flush(5)
        runs.append(sorted((s.name, *ctx(s), parent_id(s)) for s in sink.get_finished_spans()))
        trace.close(1)
    assert runs[0] == runs[1]
    # another deployment: another trace
    other = group_of(workload("Deployment", "web", "1.4", 100, 130), outcome=Outcome.SUCCEEDED)
    assert trace_id_of(other.identity) != trace_id_of(first.identity)


def test_ids_from_identity() -> None:
    identity = "0123456789abcdef0123456789abcdef"
    assert trace_id_of(identity) == int(identity, 16)
    assert trace_id_of(identity.upper()) == int(identity, 16)
    assert trace_id_of("not hex") == trace_id_of("not hex") != 0
    assert trace_id_of("0" * 32) != 0
    assert 0 < span_id_of(identity, "app") < 2**64
    assert span_id_of(identity, "app") != span_id_of(identity, "restore")


def test_phase_extension_point(emitter: tuple[TraceEmitter, InMemorySpanExporter]) -> None:
    trace, sink = emitter
    group = two_workloads()
    web = group.workloads[0]

    def with_tasks(g: AppDeployment) -> list[Phase]:
        return [
            Phase(
                PhaseName.PRE_DEPLOYMENT_TASKS,
                web.started_at - 20,
                web.started_at - 5,
                PhaseStatus.OK,
                {"keptn.deployment.task.name": "migrate"},
                workload=web.key,
                key="migrate",
            ),
            *rollout_phases(g),
            Phase(
                PhaseName.POST_DEPLOYMENT_EVALUATIONS,
                T0 + 45,
                T0 + 50,
                PhaseStatus.ERROR,
                workload=None,
                key="slo",
                description="evaluation_failed",
            ),
        ]

    trace.phases = with_tasks
    trace.emit(group)
    trace.flush(5)
    spans = sink.get_finished_spans()
    named = {s.name: s for s in spans}
    web_span = named["deploy deployment/web"]
    pre = named["pre_deployment_tasks"]
    assert parent_id(pre) == ctx(web_span)[1]
    assert pre.status.status_code is StatusCode.OK
    assert dict(pre.attributes or {}) == {"keptn.deployment.task.name": "migrate"}
    # the workload and the root widen to cover the phases
    assert web_span.start_time == pre.start_time
    post = named["post_deployment_evaluations"]
    root = named["deploy shop"]
    assert parent_id(post) == ctx(root)[1]
    assert post.status.status_code is StatusCode.ERROR
    assert root.start_time == pre.start_time and root.end_time == post.end_time


def test_unfinished_deployments_have_no_trace(
    emitter: tuple[TraceEmitter, InMemorySpanExporter],
) -> None:
    trace, sink = emitter
    group = group_of(workload("Deployment", "web", "1", 0, None, Outcome.PROGRESSING))
    assert trace.emit(group) == frozenset()
    trace.flush(5)
    assert not sink.get_finished_spans()


# --- export: never blocks, bounded, counted -----------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_unreachable_collector_does_not_block_and_counts_failures(protocol: str) -> None:
    port = closed_port()
    endpoint = f"http://127.0.0.1:{port}" + ("/v1/traces" if protocol == "http/protobuf" else "")
    trace = TraceEmitter(
        protocol=protocol,
        endpoint=endpoint,
        timeout_s=1,
        schedule_delay_s=0.05,
        max_export_batch_size=64,
    )
    try:
        groups = [
            group_of(workload("Deployment", f"w{i}", "1", i, i + 10), outcome=Outcome.SUCCEEDED)
            for i in range(100)
        ]
        slowest = 0.0
        started = time.perf_counter()
        for group in groups:
            begin = time.perf_counter()
            trace.emit(group)
            slowest = max(slowest, time.perf_counter() - begin)
        total = time.perf_counter() - started
        assert total < 0.5, f"100 emits took {total:.3f} s"
        assert slowest < 0.05, f"slowest emit took {slowest:.3f} s"
        deadline = time.monotonic() + 30
        while trace.failed < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (trace.exported, trace.failed, trace.dropped) == (0, 300, 0)
        assert trace.pending == 0
    finally:
        began = time.monotonic()
        trace.close(timeout_s=2)
        assert time.monotonic() - began < 5


class BlockingExporter(SpanExporter):
    """Holds every export until released: a collector that hangs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_queue_is_bounded_whole_traces_dropped_and_counted() -> None:
    sink = BlockingExporter()
    trace = TraceEmitter(exporter=sink, max_queue_size=10, max_export_batch_size=3,
                         schedule_delay_s=0.01)  # fmt: skip  # a table
    try:
        groups = [
            group_of(workload("Deployment", f"w{i}", "1", i, i + 10), outcome=Outcome.SUCCEEDED)
            for i in range(20)
        ]
        started = time.perf_counter()
        for group in groups:
            trace.emit(group)  # 3 spans each
        assert time.perf_counter() - started < 0.5
        assert sink.entered.wait(5)
        # 3 traces (9 spans) fit in 10; the other 17 traces are dropped whole
        assert trace.pending == 9
        assert trace.dropped == 17 * 3
        assert trace.counters() == {"exported": 0, "failed": 0, "dropped": 51, "pending": 9}
        sink.release.set()
        assert trace.flush(10)
        assert (trace.exported, trace.failed) == (9, 0)
        assert len({ctx(s)[0] for s in sink.spans}) == 3  # complete traces only
        # room again
        trace.emit(group_of(workload("Deployment", "late", "1", 0, 5), outcome=Outcome.SUCCEEDED))
        assert trace.flush(10) and trace.exported == 12
    finally:
        trace.close(1)


def test_close_is_bounded_and_counts_what_is_left_as_dropped() -> None:
    sink = BlockingExporter()
    trace = TraceEmitter(exporter=sink, max_queue_size=30, max_export_batch_size=3,
                         schedule_delay_s=0.01)  # fmt: skip  # a table
    for i in range(5):
        trace.emit(group_of(workload("Deployment", f"w{i}", "1", i, 9), outcome=Outcome.SUCCEEDED))
    assert sink.entered.wait(5)
    began = time.monotonic()
    trace.close(timeout_s=0.5)  # the abort releases the hung export
    assert time.monotonic() - began < 5
    assert trace.exported + trace.failed + trace.dropped == 15
    assert trace.pending == 0
    trace.emit(group_of(workload("Deployment", "after", "1", 0, 9), outcome=Outcome.SUCCEEDED))
    assert trace.dropped >= 3  # closed: counted, not queued


class Capture(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Capture.requests.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_standard_otel_variables_configure_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    Capture.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
        trace = TraceEmitter(schedule_delay_s=0.05)
        assert trace.protocol == "http/protobuf"
        group = two_workloads()
        trace.emit(group)
        assert trace.flush(10)
        trace.close(2)
        assert trace.exported == 5
        ((path, headers, body),) = Capture.requests
        assert path == "/v1/traces"
        assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer s3cret"
        request = ExportTraceServiceRequest.FromString(body)
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert {s.trace_id.hex() for s in spans} == {group.identity}
        assert b"s3cret" not in body  # headers are headers, never attributes
    finally:
        server.shutdown()
        server.server_close()


def test_protocol_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_protocol({}) == "http/protobuf"
    assert default_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == "grpc"
    assert (
        default_protocol(
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
             "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}
        )
        == "http/protobuf"
    )  # fmt: skip  # a table
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    grpc = TraceEmitter(endpoint="http://127.0.0.1:4317")
    assert grpc.protocol == "grpc"
    grpc.close(1)
    with pytest.raises(ValueError, match="unsupported OTLP protocol"):
        TraceEmitter(protocol="http/json")
    with pytest.raises(ValueError):
        TraceEmitter(exporter=InMemorySpanExporter(), max_queue_size=4, max_export_batch_size=8)


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
    ],
)
def test_otlp_configured(env: dict[str, str], wanted: bool) -> None:
    assert otlp_configured(env) is wanted
