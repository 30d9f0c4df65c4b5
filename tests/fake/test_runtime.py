"""The wired exporter (LiveRuntime) against the simulated cluster: filters, traces, intake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporter.app.runtime import LiveRuntime
from exporter.events.external import parse_alerts
from exporter.kube.config import ClusterAccess
from exporter.kube.scope import WatchScope
from exporter.model.engine import DoraModel, ModelConfig
from exporter.outputs.traces import TraceEmitter
from kubesim import SimCluster

pytestmark = pytest.mark.timeout(60)


def deployment(name: str, ns: str, image: str, **labels: str) -> dict[str, Any]:
    selector = {"app": name}
    return {
        "metadata": {"name": name, "namespace": ns, "labels": {**selector, **labels}},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**selector, **labels}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, with_pods=False, pod_ready_s=0.1, bookmark_interval_s=0.2,
                         controller_interval_s=0.05)  # fmt: skip  # a table
    await cluster.start()
    for ns in ("team-a", "team-b", "kube-system"):
        cluster.store.create("namespaces", {"metadata": {"name": ns}})
    try:
        yield cluster
    finally:
        await cluster.stop()


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_namespace_and_label_filters(sim: SimCluster) -> None:
    sim.store.create("deployments", deployment("a1", "team-a", "a:1", tier="web"))
    sim.store.create("deployments", deployment("a2", "team-a", "a:1", tier="batch"))
    sim.store.create("deployments", deployment("b1", "team-b", "b:1", tier="web"))
    sim.store.create("deployments", deployment("k1", "kube-system", "k:1", tier="web"))
    options = WatchScope(
        namespaces=("team-a", "kube-system"),
        exclude_namespaces=frozenset({"kube-system"}),
        label_selector="tier=web",
    )
    runtime = LiveRuntime(ClusterAccess.plain(sim.server.url), DoraModel(), options)
    await runtime.start()
    try:
        seen = {t.key.name for t in runtime.model.workloads.values()}
        assert seen == {"a1"}  # team-b not watched, kube-system excluded, batch not selected
        watched = {i.name for i in runtime.informers}
        assert "deployments@team-a" in watched and "deployments@team-b" not in watched
        sim.store.create("deployments", deployment("a3", "team-a", "a:1", tier="web"))
        await wait_for(lambda: len(runtime.model.workloads) == 2)
    finally:
        await runtime.stop()


async def test_a_finished_deployment_is_traced_once(sim: SimCluster) -> None:
    sink = InMemorySpanExporter()
    emitter = TraceEmitter(exporter=sink, schedule_delay_s=0.05)
    model = DoraModel(ModelConfig(app_grouping_window_s=0.5))  # traces wait for the window
    runtime = LiveRuntime(
        ClusterAccess.plain(sim.server.url), model, traces=emitter, save_interval_s=0.1
    )
    await runtime.start()
    try:
        sim.store.create("deployments", deployment("web", "team-a", "web:1.0"))
        await wait_for(lambda: any(s.name.startswith("deploy") for s in sink.get_finished_spans()))
        await asyncio.sleep(0.5)  # further ticks must not send it again
        roots = [s for s in sink.get_finished_spans() if s.parent is None]
        assert len(roots) == 1
        (group,) = runtime.model.apps[next(iter(runtime.model.apps))].deployments
        assert f"{roots[0].context.trace_id:032x}" == group.identity
        assert group.traced_facts == {"deployment"}
    finally:
        await runtime.stop()


def test_alert_label_names_are_configurable() -> None:
    body = {"alerts": [{"status": "firing", "labels": {"namespace": "a", "component": "web"}}]}
    (alert,) = parse_alerts(body, ("component",))
    assert alert.names == ("web",)
    model = DoraModel(ModelConfig(alert_app_labels=("component",)))
    assert model.apply_external("ALERT", body, 1.0) == 0  # no such app yet: unmatched
    assert model.stats.invalid["unmatched_alert"] == 1


def test_a_change_for_an_unknown_app_is_counted_and_kept() -> None:
    model = DoraModel()
    change = {"commit_sha": "abcdef1", "commit_time": 1_767_225_600, "app": "later"}
    assert model.apply_external("CHANGE", change, 1_767_225_700.0) == 0
    assert model.stats.invalid["unknown_app"] == 1
    assert len(model.pending_changes) == 1
