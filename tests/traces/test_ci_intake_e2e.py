"""Lead time without changing a pipeline, end to end with real parts.

CI/CD runs in each emitter's shape (tests/cicd_shapes.py), made with the OpenTelemetry Python
SDK, go to the real OpenTelemetry Collector (tests/otel/build): its ``otlp`` receiver, a
``filter`` processor that passes only CI/CD spans, its ``otlphttp`` exporter into the OTLP
receiver of ``daylight run``, which watches the real control plane. Then the images those runs
built roll out:

- the runs whose emitter sends a commit time (GitLab receiver, otel-cicd-action) give a lead
  time of exactly finish - commit time, and the deployment's trace links the CI run's root span;
- the runs without one (GitHub receiver, Jenkins) match but leave lead time unknown, counted
  as ``no_commit_time``; Jenkins' legacy mode (no sha) is a rejected span; coverage is below 1;
- Daylight sends its deployment traces to the same Collector, which forwards the ones that
  look like CI/CD (they carry the linked run's ``cicd.pipeline.run.url.full``) back to
  Daylight: they are recognised as its own and become no change — the loop is closed.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.cicd_shapes import EMITTERS, SEND_COMMIT_TIME, Run
from tests.cluster.controlplane import ControlPlane
from tests.e2e.exporter import Exporter, KubeNamespace, deployment, free_port, seconds
from tests.traces.conftest import Collector

pytestmark = pytest.mark.cluster

#: the apps of the scenario, one per emitter shape
APPS = {name: f"web-{name.replace('_', '-')}" for name in EMITTERS}
#: drop every span that carries no CI/CD pipeline attribute (cicd.*, Jenkins' ci.pipeline.*)
CICD_ONLY = (
    'span.attributes["cicd.pipeline.name"] == nil'
    ' and span.attributes["cicd.pipeline.run.id"] == nil'
    ' and span.attributes["cicd.pipeline.run.url.full"] == nil'
    ' and resource.attributes["cicd.pipeline.name"] == nil'
    ' and span.attributes["ci.pipeline.name"] == nil'
)


class FanOut(SpanExporter):
    """Export to several exporters (the Collector, and memory to know the ids sent)."""

    def __init__(self, *sinks: SpanExporter) -> None:
        self.sinks = sinks

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        results = [sink.export(spans) for sink in self.sinks]
        ok = all(r is SpanExportResult.SUCCESS for r in results)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        for sink in self.sinks:
            sink.shutdown()


def collector_config(tmp: Path, port: int, daylight_port: int) -> tuple[Path, Path]:
    output = tmp / "all-spans.jsonl"
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"filter/cicd": {"trace_conditions": [CICD_ONLY]}},
        "exporters": {
            # gzip is otlphttp's default: Daylight's receiver sees compressed requests
            "otlphttp/daylight": {
                "endpoint": f"http://127.0.0.1:{daylight_port}",
                "retry_on_failure": {"initial_interval": "1s"},
            },
            "file": {"path": str(output), "format": "json", "flush_interval": "100ms"},
        },  # fmt: skip - one exporter a line
        "service": {
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
            "pipelines": {
                "traces/cicd": {
                    "receivers": ["otlp"],
                    "processors": ["filter/cicd"],
                    "exporters": ["otlphttp/daylight"],
                },
                "traces/all": {"receivers": ["otlp"], "exporters": ["file"]},
            },  # fmt: skip - one pipeline a line
        },
    }
    path = tmp / "otelcol.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path, output


def start_collector(binary: Path, config: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(binary), "--config", f"file:{config}"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the collector exited {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"the collector did not listen:\n{log.read_text()}") from None
            time.sleep(0.05)


@pytest.fixture
def collector_and_daylight(
    control_plane: ControlPlane, otelcol_binary: Path, tmp_path: Path
) -> Iterator[tuple[Collector, Exporter]]:
    port, daylight_port = free_port(), free_port()
    config, output = collector_config(tmp_path, port, daylight_port)
    log = tmp_path / "otelcol.log"
    process = start_collector(otelcol_binary, config, log, port)
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    exporter = Exporter(
        control_plane.kubeconfig,
        "--otlp-listen",
        f"127.0.0.1:{daylight_port}",
        "--traces",
        "on",
        "--app-grouping-window",
        "5s",
        logdir=control_plane.logdir,
        env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint},
    )  # fmt: skip - flag and value a line
    try:
        with exporter:
            yield Collector(endpoint, output, log), exporter
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def attrs(item: dict[str, Any]) -> dict[str, Any]:
    return {kv["key"]: next(iter(kv["value"].values()), None) for kv in item.get("attributes", [])}


def test_ci_spans_through_a_real_collector_give_lead_time(
    control_plane: ControlPlane,
    collector_and_daylight: tuple[Collector, Exporter],
) -> None:
    collector, exp = collector_and_daylight
    ns = KubeNamespace(control_plane, "otlp")
    commit_time = round(time.time()) - 3600.0
    runs = {
        name: Run(
            secrets.token_hex(20),
            commit_time,
            f"acme/{APPS[name]}",
            1000 + index,
            time.time() - 300,
            time.time() - 60,
        )
        for index, name in enumerate(sorted(EMITTERS))
    }  # fmt: skip - one run per emitter
    roots: dict[str, ReadableSpan] = {}
    for name, emit in EMITTERS.items():
        memory = InMemorySpanExporter()  # to know the ids the SDK gave the run's spans
        emit(FanOut(OTLPSpanExporter(endpoint=collector.endpoint), memory), runs[name])
        (roots[name],) = [s for s in memory.get_finished_spans() if s.parent is None]
    # every run that has a sha is a change in Daylight before anything rolls out
    expected_changes = len(EMITTERS) - 1  # Jenkins' legacy mode sends no sha
    exp.wait_for(
        lambda: (
            exp.sample("daylight_ci_changes_total", source="otlp", result="accepted")
            == expected_changes
        ),
        60,
        "the CI runs as changes",
    )
    assert exp.sample("daylight_otlp_spans_total", result="rejected") == 1
    assert exp.sample("daylight_invalid_input_total", reason="otlp_no_commit") == 1

    # the images those runs built roll out, tagged with the short sha (a common tag)
    ns.apply(
        *(
            deployment(APPS[n], f"registry.example/{APPS[n]}:{runs[n].sha[:7]}")
            for n in sorted(EMITTERS)
        )
    )  # fmt: skip - one generator
    for name in EMITTERS:
        ns.rollout_status(f"deployment/{APPS[name]}")
    found = exp.wait_for(
        lambda: _settled(exp, ns.name, len(EMITTERS)), 90, "every app deployment finished"
    )
    by_app = {d["app"]: d for d in found}
    for name in EMITTERS:
        deployed = by_app[APPS[name]]
        (workload,) = deployed["workloads"]
        if name in SEND_COMMIT_TIME:
            want = seconds(deployed["finished_at"]) - commit_time
            assert deployed["lead_time_seconds"] == pytest.approx(want, abs=0.01), name
            assert workload["commit_sha"] == runs[name].sha  # the full sha, from CI
        else:
            assert deployed["lead_time_seconds"] is None, name
    labels = {"namespace": ns.name}
    _unknown_reasons_are_counted(exp, labels)
    coverage = [v for _, v in exp.samples("dora_lead_time_coverage_ratio", window="1d", **labels)]
    assert sum(coverage) / len(coverage) == pytest.approx(len(SEND_COMMIT_TIME) / len(EMITTERS))
    for name in SEND_COMMIT_TIME:
        assert (
            exp.sample("dora_lead_time_sources_total", app=APPS[name], source="otlp", **labels) == 1
        )  # fmt: skip - one call

    # the deployment traces link the CI runs' root spans
    def workload_spans() -> dict[str, dict[str, Any]]:
        spans = collector.spans()
        out = {}
        for span in spans:
            if span["name"].startswith("deploy deployment/web-"):
                out[span["name"].removeprefix("deploy deployment/")] = span
        return out if len(out) == len(EMITTERS) else {}

    ours = exp.wait_for(workload_spans, 60, "our deployment traces in the collector")
    for name in EMITTERS:
        links = {(link["traceId"], link["spanId"]) for link in ours[APPS[name]].get("links", [])}
        root = roots[name]
        ci = (f"{root.context.trace_id:032x}", f"{root.context.span_id:016x}")
        assert (ci in links) == (name != "jenkins_legacy"), (name, links)
        if name != "jenkins_legacy":
            assert attrs(ours[APPS[name]])["cicd.pipeline.run.url.full"]

    # those spans passed the CI/CD filter back into Daylight: its own, no new change
    exp.wait_for(
        lambda: (exp.sample("daylight_otlp_spans_total", result="own") or 0) >= len(EMITTERS) - 1,
        60,
        "our own spans fed back by the collector",
    )
    assert exp.sample("daylight_ci_changes_total", source="otlp", result="accepted") == (
        expected_changes
    )
    assert exp.sample("daylight_otlp_requests_total", code="500") is None
    ns.delete()


def _unknown_reasons_are_counted(exp: Exporter, labels: dict[str, str]) -> None:
    """dora_lead_time_unknown says why each app without a commit time has none."""
    for name in EMITTERS:
        reason = None
        if name not in SEND_COMMIT_TIME:
            reason = "no_ci_data" if name == "jenkins_legacy" else "no_commit_time"
        for why in ("no_ci_data", "no_commit_time", "no_match"):
            got = exp.sample("dora_lead_time_unknown", app=APPS[name], reason=why, **labels)
            assert got == (1 if why == reason else None), (name, why, got)


def _settled(exp: Exporter, namespace: str, count: int) -> list[dict[str, Any]] | None:
    found = exp.app_deployments(namespace)
    if len(found) == count and all(d["outcome"] == "succeeded" for d in found):
        return found
    return None
