"""The launcher against the simulated cluster: Jobs created once per task and deployment,
restarts that launch nothing twice, bad input that fails cleanly, and outcomes that reach the
exporter's model (a failed post-deployment task → failed change, reason task_failed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exporter.app.launcher import Launcher
from exporter.events import keys
from exporter.kube.config import ClusterAccess
from exporter.launcher.jobs import LauncherConfig
from kubesim import SimCluster
from tests.evaluations.harness import Exporter, wait_for

NS = "shop"
FAST = {"daylight.sim/duration-seconds": "0.3"}


def namespace(name: str, enabled: bool = True) -> dict[str, Any]:
    annotations = {keys.NAMESPACE_ENABLED: "enabled"} if enabled else {}
    return {"metadata": {"name": name, "annotations": annotations}}


def task_definition(name: str, spec: dict[str, Any], **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": name, "namespace": NS, "annotations": {**FAST, **annotations}},
        "spec": spec,
    }


CONTAINER = {"container": {"name": "task", "image": "busybox:1.36", "command": ["true"]}}


def deployment(name: str, image: str, annotations: dict[str, str]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def set_image(sim: SimCluster, name: str, image: str) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image

    sim.store.mutate("deployments", name, NS, edit)


def jobs(sim: SimCluster, **labels: str) -> list[dict[str, Any]]:
    out = []
    for job in sim.store.list("jobs", NS):
        have = job["metadata"].get("labels") or {}
        if all(have.get(k) == v for k, v in labels.items()):
            out.append(job)
    return out


def phase_jobs(sim: SimCluster, phase: str) -> list[dict[str, Any]]:
    return jobs(sim, **{keys.PHASE_LABEL: phase})


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, pod_ready_s=0.2, controller_interval_s=0.05, nodes=1)
    cluster.registry.set_installed("events")
    await cluster.start()
    cluster.store.create("namespaces", namespace(NS))
    cluster.store.create("namespaces", namespace("elsewhere", enabled=False))
    yield cluster
    await cluster.stop()


def config(**overrides: Any) -> LauncherConfig:
    base: dict[str, Any] = {"tick_s": 0.05, "definition_grace_s": 0.5, "watch_timeout_s": 30}
    base.update(overrides)
    return LauncherConfig(**base)


async def started(sim: SimCluster, **overrides: Any) -> Launcher:
    launcher = Launcher(ClusterAccess.plain(sim.url), config(**overrides))
    await launcher.start()
    return launcher


async def test_pre_and_post_tasks_run_once_per_deployment_also_across_restarts(
    sim: SimCluster,
) -> None:
    sim.store.create("keptntaskdefinitions", task_definition("migrate", CONTAINER))
    sim.store.create("keptntaskdefinitions", task_definition("smoke", CONTAINER))
    launcher = await started(sim)
    try:
        sim.store.create(
            "deployments",
            deployment(
                "checkout",
                "shop/checkout:1.0",
                {
                    "keptn.sh/pre-deployment-tasks": "migrate",
                    "keptn.sh/post-tasks": "smoke",  # the short alias
                    "keptn.sh/app": "shop",
                },
            ),
        )
        await wait_for(
            "pre and post Jobs", lambda: phase_jobs(sim, "pre") and phase_jobs(sim, "post")
        )
        (pre,) = phase_jobs(sim, "pre")
        (post,) = phase_jobs(sim, "post")
        assert pre["metadata"]["labels"][keys.TASK_NAME_KEY] == "migrate"
        assert post["metadata"]["labels"][keys.TASK_NAME_KEY] == "smoke"
        assert pre["metadata"]["annotations"][keys.VERSION_KEY] == "1.0"
        owner = pre["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "Deployment" and owner["name"] == "checkout"
        await wait_for("launches counted", lambda: launcher.stats.events["created"] == 2)
        assert launcher.stats.created == {"pre": 1, "post": 1}
        await wait_for("task Jobs counted", lambda: sum(launcher.check_stats.tasks.values()) == 2)
        assert launcher.check_stats.tasks[("post", "succeeded")] == 1
        events = sim.store.list("events", NS)
        assert {e["reason"] for e in events} == {"TaskLaunched"}
        assert all(e["regarding"]["name"] == "checkout" for e in events)
    finally:
        await launcher.stop()

    # a restart within the catch-up window finds the Jobs already there: nothing new
    again = await started(sim)
    try:
        await wait_for("catch-up done", lambda: again.stats.existing == {"post": 1})
        assert again.stats.created == {}
        assert len(jobs(sim)) == 2

        # the next version gets its own Jobs; so does a rollback to the first version
        set_image(sim, "checkout", "shop/checkout:1.1")
        await wait_for("second post Job", lambda: len(phase_jobs(sim, "post")) == 2)
        set_image(sim, "checkout", "shop/checkout:1.0")
        await wait_for("rollback's post Job", lambda: len(phase_jobs(sim, "post")) == 3)
        assert len(phase_jobs(sim, "pre")) == 3
        names = {j["metadata"]["name"] for j in jobs(sim)}
        assert len(names) == 6
    finally:
        await again.stop()

    # a restart long after the rollouts (window 0) launches nothing at all
    late = await started(sim, catch_up_window_s=0.0)
    try:
        await asyncio.sleep(0.3)
        assert late.stats.created == {} and late.stats.existing == {}
    finally:
        await late.stop()


async def test_namespaces_not_enabled_get_no_jobs(sim: SimCluster) -> None:
    sim.store.create("keptntaskdefinitions", task_definition("smoke", CONTAINER))
    launcher = await started(sim)
    try:
        body = deployment("other", "x/other:1", {"keptn.sh/post-deployment-tasks": "smoke"})
        body["metadata"]["namespace"] = "elsewhere"
        sim.store.create("deployments", body)
        await wait_for("skip counted", lambda: launcher.stats.skipped["namespace_not_allowed"])
        assert sim.store.list("jobs", "elsewhere") == []
    finally:
        await launcher.stop()
    # listing the namespace is enough, annotation or not
    listed = await started(sim, allowed_namespaces=("elsewhere",), catch_up_window_s=600.0)
    try:
        await wait_for("Job in the listed namespace", lambda: sim.store.list("jobs", "elsewhere"))
    finally:
        await listed.stop()


async def test_bad_input_fails_the_task_with_a_reason_and_nothing_crashes(
    sim: SimCluster,
) -> None:
    sim.store.create(
        "keptntaskdefinitions", task_definition("slow", {**CONTAINER, "timeout": "900h"})
    )
    sim.store.create("keptntaskdefinitions", task_definition("broken", {"python": {}}))
    sim.store.create(
        "keptntaskdefinitions",
        task_definition("from-configmap", {"deno": {"configMapRef": {"name": "nowhere"}}}),
    )
    sim.store.create("keptntaskdefinitions", task_definition("good", CONTAINER))
    exporter = Exporter(ClusterAccess.plain(sim.url))
    await exporter.start()
    launcher = await started(sim)
    try:
        sim.store.create(
            "deployments",
            deployment(
                "web",
                "shop/web:2.0",
                {
                    "keptn.sh/post-deployment-tasks": "slow,broken,from-configmap,missing,good",
                },
            ),
        )
        await wait_for("five post Jobs", lambda: len(phase_jobs(sim, "post")) == 5, timeout=15)
        await wait_for("Events sent", lambda: launcher.stats.events["created"] == 5)
        assert launcher.stats.invalid == {
            "invalid_timeout": 1,
            "invalid_runtime": 1,
            "missing_configmap": 1,
            "unknown_definition": 1,
        }
        records = jobs(sim, **{keys.RESULT_LABEL: "invalid"})
        assert len(records) == 4
        for record in records:
            assert record["spec"]["suspend"] is True
            assert record["metadata"]["annotations"][keys.FAILURE_ANNOTATION]
        warnings = [e for e in sim.store.list("events", NS) if e["type"] == "Warning"]
        assert {e["reason"] for e in warnings} == {"TaskFailed"}
        assert len(warnings) == 4
        # the exporter reads the records like task outcomes: the deployment failed its checks
        key = exporter.app_key(NS, "web")

        def failed() -> bool:
            groups = exporter.deployments(NS, "web")
            return bool(groups) and "task_failed" in groups[-1].failure_reasons

        await wait_for("failed change", failed)
        assert exporter.checks.stats.task_failures["invalid_timeout"] == 1
        assert exporter.checks.stats.tasks[("post", "failed")] == 4
        await wait_for(
            "good task counted", lambda: exporter.checks.stats.tasks[("post", "succeeded")]
        )
        assert exporter.model.failures.is_open(key)
        # records of tasks that never ran are swept once nobody needs them (1 h by default)
        assert await launcher.jobs.sweep() == 0
        launcher.jobs.clock = lambda: time.time() + 7200
        assert await launcher.jobs.sweep() == 4
        await wait_for("records gone", lambda: len(phase_jobs(sim, "post")) == 1)
    finally:
        await launcher.stop()
        await exporter.stop()


async def test_a_failing_post_task_is_a_failed_change_and_a_pre_task_is_not(
    sim: SimCluster,
) -> None:
    sim.store.create(
        "keptntaskdefinitions",
        task_definition("gate", CONTAINER, **{"daylight.sim/outcome": "fail"}),
    )
    sim.store.create(
        "keptntaskdefinitions",
        task_definition("verify", CONTAINER, **{"daylight.sim/outcome": "fail"}),
    )
    exporter = Exporter(ClusterAccess.plain(sim.url))
    await exporter.start()
    launcher = await started(sim)
    try:
        sim.store.create(
            "deployments",
            deployment(
                "api",
                "shop/api:3.0",
                {
                    "keptn.sh/pre-deployment-tasks": "gate",
                    "keptn.sh/app": "shop-api",
                },
            ),
        )
        await wait_for(
            "pre task failed", lambda: exporter.checks.stats.tasks[("pre", "failed")] == 1
        )
        groups = await wait_for(
            "deployment done",
            lambda: [g for g in exporter.deployments(NS, "shop-api") if g.outcome.finished],
        )
        assert groups[-1].failure_reasons == []  # a failed pre task is reported, not a failure

        def add_post(d: dict[str, Any]) -> None:
            d["spec"]["template"]["metadata"]["annotations"]["keptn.sh/post-deployment-tasks"] = (
                "verify"
            )

        sim.store.mutate("deployments", "api", NS, add_post)
        await wait_for(
            "post task failed", lambda: exporter.checks.stats.tasks[("post", "failed")] == 1
        )
        latest = exporter.deployments(NS, "shop-api")[-1]
        await wait_for("task_failed", lambda: "task_failed" in latest.failure_reasons)
        assert latest.outcome.value == "succeeded"  # the rollout itself went fine
        phases = exporter.checks.phases(latest)
        names = {(p.name, p.status) for p in phases}
        assert ("post_deployment_tasks", "error") in names
    finally:
        await launcher.stop()
        await exporter.stop()


async def test_keptn_app_level_tasks_run_for_each_app_version(sim: SimCluster) -> None:
    sim.store.create("keptntaskdefinitions", task_definition("freeze", CONTAINER))
    sim.store.create("keptntaskdefinitions", task_definition("announce", CONTAINER))
    app = {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnApp",
        "metadata": {"name": "store", "namespace": NS},
        "spec": {
            "version": "2024.1",
            "workloads": [{"name": "cart", "version": "1.0"}, {"name": "pay", "version": "1.0"}],
            "preDeploymentTasks": ["freeze"],
            "postDeploymentTasks": ["announce"],
        },
    }
    sim.store.create("keptnapps", app)
    launcher = await started(sim)
    try:
        sim.store.create("deployments", deployment("cart", "shop/cart:1.0", {}))
        sim.store.create("deployments", deployment("pay", "shop/pay:1.0", {}))
        await wait_for(
            "app-level post Job",
            lambda: jobs(sim, **{keys.OBJECT_LABEL: "app", keys.PHASE_LABEL: "post"}),
        )
        app_jobs = jobs(sim, **{keys.OBJECT_LABEL: "app"})
        assert sorted(j["metadata"]["labels"][keys.PHASE_LABEL] for j in app_jobs) == [
            "post",
            "pre",
        ]
        for job in app_jobs:
            assert job["metadata"]["ownerReferences"][0]["kind"] == "KeptnApp"
            assert job["metadata"]["annotations"][keys.VERSION_KEY] == "2024.1"
            env = job["spec"]["template"]["spec"]["containers"][0]["env"]
            context = next(e["value"] for e in env if e["name"] == "KEPTN_CONTEXT")
            assert '"objectType":"App"' in context and '"appVersion":"2024.1"' in context
        assert len(jobs(sim)) == 2  # no workload-level tasks were asked for
    finally:
        await launcher.stop()


async def test_api_trouble_is_retried_and_rbac_refusals_are_reported(sim: SimCluster) -> None:
    sim.store.create("keptntaskdefinitions", task_definition("smoke", CONTAINER))
    launcher = await started(sim, retry_base_s=0.05)
    try:
        sim.faults.server_error(2, resource="jobs", verbs=["create"])
        sim.store.create(
            "deployments", deployment("a", "shop/a:1", {"keptn.sh/post-tasks": "smoke"})
        )
        await wait_for("Job after two 500s", lambda: phase_jobs(sim, "post"))
        assert launcher.stats.retries == 2 and launcher.stats.api_errors == {"500": 2}
        sim.faults.forbid("jobs", verbs=["create"])
        sim.store.create(
            "deployments", deployment("b", "shop/b:1", {"keptn.sh/post-tasks": "smoke"})
        )
        await wait_for("gave up on the 403", lambda: launcher.stats.gave_up == 1)
        assert len(phase_jobs(sim, "post")) == 1
        assert launcher.stats.retries == 2  # a refusal is not retried
    finally:
        await launcher.stop()


async def test_statefulsets_get_their_tasks_too(sim: SimCluster) -> None:
    sim.store.create("keptntaskdefinitions", task_definition("backup", CONTAINER))
    launcher = await started(sim)
    try:
        body = deployment(
            "db",
            "shop/db:15",
            {"keptn.sh/pre-deployment-tasks": "backup", "keptn.sh/post-deployment-tasks": "backup"},
        )
        body["spec"]["serviceName"] = "db"
        sim.store.create("statefulsets", body)
        await wait_for(
            "pre and post Jobs", lambda: phase_jobs(sim, "pre") and phase_jobs(sim, "post")
        )
        (pre,) = phase_jobs(sim, "pre")
        assert pre["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
        assert pre["metadata"]["annotations"][keys.TASK_REVISION_ANNOTATION] == "1"
        assert pre["metadata"]["annotations"][keys.KIND_ANNOTATION] == "StatefulSet"
    finally:
        await launcher.stop()
