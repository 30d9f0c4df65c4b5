"""A rollout in `daylight demo` becomes a trace that a real OpenTelemetry Collector receives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.traces.conftest import Collector

pytestmark = pytest.mark.timeout(120)


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values()), None) for a in span.get("attributes", [])}


def test_demo_rollouts_arrive_as_traces_with_the_right_shape(otelcol: Collector) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYLIGHT_", "OTEL_"))}
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = otelcol.endpoint
    command = [sys.executable, "-m", "exporter.app.cli", "demo", "--listen", "127.0.0.1:0"]
    command += ["--interval", "1s", "--refresh", "0", "--app-grouping-window", "2s"]
    command += ["--cluster-name", "demo"]
    demo = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        roots: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not roots:
            time.sleep(1)
            spans = otelcol.spans()
            roots = [s for s in spans if not s.get("parentSpanId")]
        assert roots, "no deployment trace reached the collector from the demo"
    finally:
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err[-2000:]
    spans = otelcol.spans()
    root = roots[0]
    trace = [s for s in spans if s["traceId"] == root["traceId"]]
    assert len(root["traceId"]) == 32 and root["name"].startswith("deploy ")
    workloads = [s for s in trace if s.get("parentSpanId") == root["spanId"]]
    assert workloads and all(w["name"].startswith("deploy ") for w in workloads)
    rollouts = [s for s in trace if s["name"] == "rollout"]
    assert {r["parentSpanId"] for r in rollouts} <= {w["spanId"] for w in workloads}
    assert rollouts, [s["name"] for s in trace]
    resource = {a["key"]: next(iter(a["value"].values())) for a in root["resource"]}
    assert resource["service.name"] == "daylight" and resource["k8s.cluster.name"] == "demo"
    workload_attributes = attributes(workloads[0])
    assert workload_attributes["k8s.namespace.name"]
    assert "keptn.deployment.workload.name" in workload_attributes
