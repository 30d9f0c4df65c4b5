"""Deployment traces through a real OpenTelemetry Collector (OTLP/HTTP in, JSON file out).

Hand-written event logs are replayed into a DoraModel the way the runtime will drive it: after
every event, each finished live app deployment is handed to the emitter with the facts already
sent (the model's persisted set once it has one). So failures and restores revealed after a
trace went out arrive as late spans of the same trace, and nothing is sent twice.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from exporter.events.envelope import ObjectEvent
from exporter.events.external import InvalidInput
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from exporter.model.records import AppDeployment
from exporter.outputs.traces import TraceEmitter
from tests.scenario import Log, ts
from tests.traces.conftest import Collector
from tests.unit.test_failures import build_failure_log
from tests.unit.test_replay_core import build_core_log

CI_TRACE = "0af7651916cd43dd8448eb211c80319c"
CI_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CI_TRACE}-{CI_SPAN}-01"


def annotate(log: Log, kind: str, name: str, since: float, key: str, value: str) -> None:
    """Add a workload annotation (as CI would set it) to ``kind/name`` from ``since`` on."""
    for line in log.lines:
        obj = line.get("object")
        if obj is None or obj["kind"] != kind or obj["metadata"]["name"] != name:
            continue
        if line["time"] >= ts(since):  # same format: string order is time order
            obj["metadata"].setdefault("annotations", {})[key] = value


def replay(log: Log, path: Path, emitter: TraceEmitter) -> list[AppDeployment]:
    """Replay ``log`` tick by tick, emitting like the runtime; returns the app deployments."""
    model = DoraModel()
    sent: dict[str, frozenset[str]] = {}

    def tick() -> None:
        for ledger in model.apps.values():
            for group in ledger.live_groups:
                if group.outcome.finished and group.active_workloads:
                    before = sent.get(group.identity, frozenset())
                    sent[group.identity] = emitter.emit(group, before)

    events = list(eventlog.read(log.write(path)))
    for event in events:
        if isinstance(event, ObjectEvent):
            model.apply(event)
        else:
            with contextlib.suppress(InvalidInput):  # the log holds bad input on purpose
                model.apply_external(event.kind, event.body, event.time)
        tick()
    model.advance(events[-1].time)
    tick()
    groups = [g for ledger in model.apps.values() for g in ledger.live_groups]
    return sorted((g for g in groups if g.active_workloads), key=lambda g: g.started_at)


def attrs(item: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP JSON attributes (of a span, event or link, or the list itself) as a plain dict."""
    out: dict[str, Any] = {}
    for kv in item if isinstance(item, list) else item.get("attributes", []):
        value = kv["value"]
        if "arrayValue" in value:
            out[kv["key"]] = [next(iter(v.values())) for v in value["arrayValue"]["values"]]
        else:
            out[kv["key"]] = next(iter(value.values()), None)
    return out


def nanos(seconds: float) -> str:
    return str(round(seconds * 1e6) * 1000)


def trace_of(spans: list[dict[str, Any]], group: AppDeployment) -> dict[str, list[dict[str, Any]]]:
    named: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        if span["traceId"] == group.identity:
            named.setdefault(span["name"], []).append(span)
    return named


def test_failure_log_traces_arrive_in_the_collector(otelcol: Collector, tmp_path: Path) -> None:
    log = build_failure_log()
    annotate(log, "Deployment", "api", 1500, "traceparent", TRACEPARENT)  # CI set it for 1.3
    emitter = TraceEmitter(endpoint=otelcol.endpoint, cluster_name="e2e", schedule_delay_s=0.1)
    try:
        groups = replay(log, tmp_path / "failures.jsonl", emitter)
        assert emitter.flush(20)
    finally:
        emitter.close(5)
    assert [g.version for g in groups] == ["1.0", "1.1", "1.2", "1.3"]
    # 4 x (root, workload, rollout) + 3 x (late failure, late restore)
    assert (emitter.exported, emitter.failed, emitter.dropped) == (18, 0, 0)
    spans = otelcol.wait_for(18)
    assert len(spans) == 18, otelcol.log.read_text()[-3000:]
    assert len({(s["traceId"], s["spanId"]) for s in spans}) == 18  # nothing sent twice
    assert {s["traceId"] for s in spans} == {g.identity for g in groups}

    resource = attrs(spans[0]["resource"])
    assert resource["service.name"] == "daylight"
    assert resource["k8s.cluster.name"] == "e2e"
    assert spans[0]["scope"]["name"] == "daylight.deployments"

    v10, v11, v12, v13 = (trace_of(spans, g) for g in groups)
    # 1.0: a clean deployment with a commit time
    (root,) = v10["deploy api"]
    assert "parentSpanId" not in root or not root["parentSpanId"]
    (workload,) = v10["deploy deployment/api"]
    (rollout,) = v10["rollout"]
    assert workload["parentSpanId"] == root["spanId"]
    assert rollout["parentSpanId"] == workload["spanId"]
    assert set(v10) == {"deploy api", "deploy deployment/api", "rollout"}
    root_attrs = attrs(root)
    assert root_attrs["deployment.environment.name"] == "production"
    assert root_attrs["k8s.namespace.name"] == "shop"
    assert root_attrs["keptn.deployment.app.name"] == "api"
    assert root_attrs["keptn.deployment.app.version"] == "1.0"
    assert root_attrs["deployment.status"] == "succeeded"
    assert float(root_attrs["daylight.lead_time_seconds"]) == 3620.0
    assert root["startTimeUnixNano"] == nanos(groups[0].started_at)
    assert root["endTimeUnixNano"] == nanos(groups[0].finished_at or 0)
    w_attrs = attrs(workload)
    assert w_attrs["k8s.deployment.name"] == "api"
    assert w_attrs["keptn.deployment.workload.name"] == "api"
    assert w_attrs["keptn.deployment.workload.version"] == "1.0"
    assert not root.get("status", {}).get("code")

    # 1.1: commit sha from the CHANGE; a crash loop after the trace went out, then restored
    (root,) = v11["deploy api"]
    assert attrs(root)["vcs.ref.head.revision"] == "abc1234"
    assert not root.get("status", {}).get("code")  # it looked fine when it was sent
    (failure,) = v11["failure"]
    assert failure["parentSpanId"] == root["spanId"]
    assert failure["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert attrs(failure)["error.type"] == "crashloop"
    (event,) = failure["events"]
    assert event["name"] == "failure"
    assert attrs(event)["daylight.failure.reason"] == "crashloop"
    assert event["timeUnixNano"] == nanos(groups[1].failed_change_at or 0)
    (restore,) = v11["restore"]
    assert restore["parentSpanId"] == root["spanId"]
    assert [e["name"] for e in restore["events"]] == ["restore"]
    assert restore["endTimeUnixNano"] == nanos(groups[1].restored_at or 0)
    assert float(attrs(restore)["daylight.time_to_restore_seconds"]) == 201.0

    # 1.2: degraded after completion, recovered without a deployment
    (failure,) = v12["failure"]
    assert attrs(failure)["error.type"] == "degraded"
    assert len(v12["restore"]) == 1

    # 1.3: CI's traceparent becomes a link on the workload span; an incident, resolved
    (workload,) = v13["deploy deployment/api"]
    (link,) = workload["links"]
    assert (link["traceId"], link["spanId"]) == (CI_TRACE, CI_SPAN)
    assert attrs(link)["daylight.link.source"] == "traceparent"
    assert not v10["deploy deployment/api"][0].get("links")
    (failure,) = v13["failure"]
    assert attrs(failure)["error.type"] == "incident"
    assert v13["restore"][0]["endTimeUnixNano"] == nanos(groups[3].restored_at or 0)


def test_rollout_failure_rollback_and_two_workloads(otelcol: Collector, tmp_path: Path) -> None:
    log = build_core_log()
    annotate(log, "Deployment", "web", 2000, "traceparent", TRACEPARENT)
    annotate(log, "StatefulSet", "db", 2005, "traceparent", "00-not-a-valid-traceparent-01")
    emitter = TraceEmitter(endpoint=otelcol.endpoint, schedule_delay_s=0.1)
    try:
        groups = replay(log, tmp_path / "core.jsonl", emitter)
        assert emitter.flush(20)
    finally:
        emitter.close(5)
    assert len(groups) == 6
    # 4 x 3 single-workload spans, failed 1.2: +failure x2 (rollout_failed, then rollback)
    # +restore, the web+db deployment: root + 2 x (workload, rollout)
    expected = 4 * 3 + 3 + 3 + 5
    assert (emitter.exported, emitter.failed, emitter.dropped) == (expected, 0, 0)
    spans = otelcol.wait_for(expected)
    assert len(spans) == expected, otelcol.log.read_text()[-3000:]

    failed, rollback, combined = groups[3], groups[4], groups[5]
    # the failed rollout: error status all the way down, two failure spans, one restore
    trace = trace_of(spans, failed)
    (root,) = trace["deploy shop"]
    assert root["status"]["code"] == 2
    assert attrs(root)["deployment.status"] == "failed"
    (workload,) = trace["deploy deployment/web"]
    assert workload["status"]["code"] == 2
    assert workload["status"]["message"] == "progress_deadline"
    assert [e["name"] for e in workload["events"]] == ["failure"]
    assert attrs(workload["events"][0])["daylight.failure.reason"] == "progress_deadline"
    (rollout,) = trace["rollout"]
    assert rollout["status"]["code"] == 2 and rollout["parentSpanId"] == workload["spanId"]
    reasons = sorted(attrs(f)["error.type"] for f in trace["failure"])
    assert reasons == ["rollback", "rollout_failed"]
    assert all(f["parentSpanId"] == root["spanId"] for f in trace["failure"])
    (restore,) = trace["restore"]
    assert restore["parentSpanId"] == root["spanId"]

    # the undo: a rollback event on the workload span
    trace = trace_of(spans, rollback)
    (workload,) = trace["deploy deployment/web"]
    (event,) = workload["events"]
    assert event["name"] == "rollback"
    assert event["timeUnixNano"] == nanos(rollback.workloads[0].started_at)
    assert attrs(trace["deploy shop"][0])["daylight.rollback"] is True

    # web + db in one app deployment: one trace, both workloads under the root
    trace = trace_of(spans, combined)
    (root,) = trace["deploy shop"]
    (web,) = trace["deploy deployment/web"]
    (db,) = trace["deploy statefulset/db"]
    assert web["parentSpanId"] == db["parentSpanId"] == root["spanId"]
    assert sorted(r["parentSpanId"] for r in trace["rollout"]) == sorted(
        [web["spanId"], db["spanId"]]
    )
    assert attrs(db)["k8s.statefulset.name"] == "db"
    assert attrs(web)["k8s.deployment.name"] == "web"
    assert [(lk["traceId"], lk["spanId"]) for lk in web["links"]] == [(CI_TRACE, CI_SPAN)]
    assert not db.get("links")  # the invalid traceparent is ignored
    assert attrs(root)["daylight.workloads"] in ("2", 2)
