"""KeptnChecks in the exporter, against the simulated cluster: evaluations run when a
deployment starts and completes, a failed post-deployment evaluation is a failed change
(reason evaluation_failed), results become metrics and phase spans."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.evaluations.engine import EvaluationConfig
from exporter.events import keys
from exporter.kube.config import ClusterAccess
from exporter.outputs import selfmetrics
from kubesim import SimCluster
from tests.evaluations.fakeprom import FakePrometheus, vector
from tests.evaluations.harness import Exporter, wait_for

NS = "shop"


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, pod_ready_s=0.2, controller_interval_s=0.05, nodes=1)
    await cluster.start()
    cluster.store.create(
        "namespaces",
        {"metadata": {"name": NS, "annotations": {keys.NAMESPACE_ENABLED: "enabled"}}},
    )
    cluster.store.create("namespaces", {"metadata": {"name": "quiet"}})
    yield cluster
    await cluster.stop()


@pytest.fixture
async def prom() -> AsyncIterator[FakePrometheus]:
    fake = FakePrometheus()
    await fake.start()
    yield fake
    await fake.stop()


def evaluation(name: str, query: str, target: str, namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnEvaluationDefinition",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "objectives": [{"name": name, "query": query, "evaluationTarget": target}],
            "retries": 2,
            "retryInterval": "100ms",
        },
    }


def deployment(name: str, annotations: dict[str, str], namespace: str = NS) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": name, "image": f"shop/{name}:1.0"}]},
            },
        },
    }


async def test_evaluations_gate_nothing_but_fail_the_change(
    sim: SimCluster, prom: FakePrometheus
) -> None:
    prom.answers["error_ratio"] = vector(0.2)
    prom.answers["ready"] = vector(1)
    sim.store.create("keptnevaluationdefinitions", evaluation("ready", "ready", "==1"))
    sim.store.create("keptnevaluationdefinitions", evaluation("errors", "error_ratio", "<0.05"))
    exporter = Exporter(
        ClusterAccess.plain(sim.url), evaluation=EvaluationConfig(default_server=prom.url)
    )
    await exporter.start()
    try:
        sim.store.create(
            "deployments",
            deployment(
                "cart",
                {
                    "keptn.sh/pre-eval": "ready",
                    "keptn.sh/post-deployment-evaluations": "errors",
                },
            ),
        )
        stats = exporter.checks.stats
        await wait_for("post evaluation failed", lambda: stats.evaluations[("post", "failed")])
        assert stats.evaluations[("pre", "succeeded")] == 1
        assert stats.evaluation_failures == {"objective_failed": 1}
        assert prom.calls["error_ratio"] == 3  # retries: 2
        (group,) = exporter.deployments(NS, "cart")
        assert group.failure_reasons == ["evaluation_failed"]
        assert exporter.model.failures.is_open(group.app)
        spans = {(p.name, p.status) for p in exporter.checks.trace_phases(group)}
        assert spans == {
            ("rollout", "unset"),
            ("pre_deployment_evaluations", "ok"),
            ("post_deployment_evaluations", "error"),
        }
        registry = CollectorRegistry()
        registry.register(selfmetrics.Checks(exporter.checks.stats))
        text = generate_latest(registry).decode()
        assert 'daylight_evaluations_total{outcome="failed",phase="post"} 1.0' in text
        assert 'daylight_evaluation_failures_total{reason="objective_failed"} 1.0' in text
        assert 'daylight_tasks_total{outcome="failed",phase="post"} 0.0' in text
    finally:
        await exporter.stop()


async def test_no_evaluations_where_not_enabled_and_none_for_history(
    sim: SimCluster, prom: FakePrometheus
) -> None:
    sim.store.create("keptnevaluationdefinitions", evaluation("ready", "ready", "==1", "quiet"))
    sim.store.create("keptnevaluationdefinitions", evaluation("ready", "ready", "==1"))
    sim.store.create("deployments", deployment("old", {"keptn.sh/post-eval": "ready"}))
    await wait_for(
        "old rolled out",
        lambda: (
            (sim.store.get("deployments", "old", NS) or {})
            .get("status", {})
            .get("availableReplicas")
        ),
    )
    exporter = Exporter(
        ClusterAccess.plain(sim.url), evaluation=EvaluationConfig(default_server=prom.url)
    )
    await exporter.start()
    try:
        sim.store.create("deployments", deployment("web", {"keptn.sh/post-eval": "ready"}, "quiet"))
        await wait_for(
            "web rolled out",
            lambda: (
                exporter.deployments("quiet", "web")
                and exporter.deployments("quiet", "web")[-1].outcome.finished
            ),
        )
        assert sum(prom.calls.values()) == 0
        assert exporter.checks.stats.evaluations == {}
    finally:
        await exporter.stop()


async def test_traces_wait_for_running_checks(sim: SimCluster, prom: FakePrometheus) -> None:
    prom.answers["slow"] = lambda call: vector(0 if call < 30 else 1)
    definition = evaluation("slowly", "slow", "==1")
    definition["spec"]["retries"] = 50
    sim.store.create("keptnevaluationdefinitions", definition)
    exporter = Exporter(
        ClusterAccess.plain(sim.url), evaluation=EvaluationConfig(default_server=prom.url)
    )
    await exporter.start()
    try:
        sim.store.create("deployments", deployment("api", {"keptn.sh/post-eval": "slowly"}))
        groups = await wait_for(
            "deployment finished",
            lambda: [g for g in exporter.deployments(NS, "api") if g.outcome.finished],
        )
        group = groups[-1]
        assert group.finished_at is not None
        assert not exporter.checks.trace_ready(group, group.finished_at + 1)
        assert not exporter.checks.trace_ready(group, group.finished_at + 30)  # still running
        assert exporter.checks.trace_ready(group, group.finished_at + 3600)  # waited enough
        await wait_for(
            "evaluation passed", lambda: exporter.checks.stats.evaluations[("post", "succeeded")]
        )
        assert exporter.checks.trace_ready(group, group.finished_at + 30)
    finally:
        await exporter.stop()


def test_run_flags() -> None:
    from exporter.app.cli import build_parser
    from exporter.app.serving import checks_from
    from exporter.model.engine import DoraModel

    parser = build_parser()
    args = parser.parse_args(
        [
            "run",
            "--allowed-namespaces",
            "a,b",
            "--prometheus-url",
            "http://prometheus:9090",
            "--evaluation-timeout",
            "3s",
        ]
    )
    checks = checks_from(DoraModel(), args)
    assert checks.gate.listed == {"a", "b"} and checks.evaluations_enabled
    assert checks.runner.config.default_server == "http://prometheus:9090"
    assert checks.runner.config.query_timeout_s == 3.0
    off = checks_from(DoraModel(), parser.parse_args(["run", "--evaluations", "off"]))
    assert not off.evaluations_enabled
