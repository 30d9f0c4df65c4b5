"""DORA semantics that a real cluster puts to the test (issue 13 items 1-4, design §3).

Real kube-controller-manager rollouts, a real scheduler and kwok pods, driven with kubectl
exactly as a user does it:

1. a rollout that never completed (a broken image, ``progressDeadlineSeconds``) and is fixed
   forward with ``kubectl set image``: its time to restore runs from its start;
2. ``kubectl set image`` leaving a stale ``daylight.dev/commit-time`` (and commit sha) on the
   pod template: the new deployment redeploys a commit, so it has no lead time, is out of the
   coverage denominator and is counted in ``daylight_redeployed_commits_total``;
3. a scale-up whose new pods wait for a node (a held-back node pool, the new node added by
   hand as a cluster autoscaler would) is not degradation, nor is one back to the deployed
   size after a scale-down; a node drained of half the app's pods with nowhere to put them
   is, also when those pods came with a completed scale-up, and pods lost while a scale-up
   waits are degraded only --degraded-after after the loss; the app is restored when the
   node comes back;
4. ``kubectl rollout pause``, two edits, ``kubectl rollout resume``: one deployment, started
   at the resume, whose duration leaves out the time it sat paused.

One ``daylight run`` (``--degraded-after 10s``) watches the cluster; the scenarios of the
selected tests run in parallel from the first test on, one namespace (and node pool) each, and
each test waits for its own. Times the exporter reports are compared with the test's own clock
around the kubectl call that caused them, within ``TOLERANCE``.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.controlplane import NODE_ANNOTATION, ControlPlane
from tests.e2e.exporter import Exporter, KubeNamespace, deployment, seconds, select, value

pytestmark = pytest.mark.cluster

DEGRADED_AFTER = 10.0
FLAGS = ("--degraded-after", f"{DEGRADED_AFTER:.0f}s", "--rollout-timeout", "60s")
REGISTRY = "registry.example"
#: How far a time the exporter reports may lie outside the test's own clock readings around
#: the kubectl call that caused it: the exporter stamps an event when it receives it, or with
#: an object's own timestamp (whole seconds), on a loaded two-core machine.
TOLERANCE = 3.0
#: The broken rollout's progressDeadlineSeconds.
DEADLINE = 10
#: How long the scale-up waits for its node: well past --degraded-after.
SCALE_WAIT = 2.5 * DEGRADED_AFTER
#: How long the Deployment sits paused after its first edit.
PAUSED = 12.0
#: The commit-time annotation is this old when the first deployment starts.
COMMIT_AGE = 3600
REVISION = "deployment.kubernetes.io/revision"

Scenario = Callable[[Exporter, ControlPlane], None]


# ------------------------------------------------------------------------------- helpers


def settled(exp: Exporter, ns: str, count: int) -> list[dict[str, Any]] | None:
    """The namespace's app deployments once there are ``count`` and none is in progress."""
    found = exp.app_deployments(ns)
    if len(found) == count and all(d["outcome"] != "progressing" for d in found):
        return found
    return None


def wait_settled(exp: Exporter, ns: str, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    return exp.wait_for(lambda: settled(exp, ns, count), timeout, f"{count} settled in {ns}")


def app_summary(exp: Exporter, ns: str, app: str) -> dict[str, Any]:
    apps: list[dict[str, Any]] = exp.report()["apps"]
    (found,) = [a for a in apps if a["namespace"] == ns and a["app"] == app]
    return found


def condition(space: KubeNamespace, name: str, kind: str) -> dict[str, Any] | None:
    conditions = space.get("deployment", name)["status"].get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), None)


def unavailable_since(space: KubeNamespace, name: str) -> float | None:
    """When the Deployment's Available condition turned False, if it is False."""
    available = condition(space, name, "Available")
    if available is None or available["status"] != "False":
        return None
    return seconds(available["lastTransitionTime"])


def pods(space: KubeNamespace, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = space.get("pods", "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def image_of(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def unschedulable(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(
        c["type"] == "PodScheduled" and c["status"] == "False" and c["reason"] == "Unschedulable"
        for c in conditions
    )


class Pool:
    """A node pool of one scenario: tainted kwok nodes only its pods tolerate and select, with
    room for ``pods`` pods each, added one at a time as a cluster autoscaler adds them."""

    KEY = "daylight.test/pool"

    def __init__(self, cp: ControlPlane, name: str) -> None:
        self.cp = cp
        self.name = name
        self.nodes: list[str] = []

    def add(self, pods: int) -> str:
        node = f"{self.name}-{len(self.nodes)}"
        room = {"cpu": "32", "memory": "256Gi", "pods": str(pods), "ephemeral-storage": "1Ti"}
        manifest = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node,
                "annotations": {NODE_ANNOTATION[0]: NODE_ANNOTATION[1]},
                "labels": {"kubernetes.io/hostname": node, self.KEY: self.name},
            },
            "spec": {"taints": [{"key": self.KEY, "value": self.name, "effect": "NoSchedule"}]},
            "status": {"allocatable": room, "capacity": room},
        }
        self.cp.kubectl("create", "-f", "-", input=json.dumps(manifest))
        self.nodes.append(node)
        self.cp.kubectl("wait", "--for=condition=Ready", f"node/{node}", "--timeout=60s")
        return node

    def place(self, workload: dict[str, Any]) -> dict[str, Any]:
        """The workload's pods go to this pool and nowhere else."""
        spec = workload["spec"]["template"]["spec"]
        spec["nodeSelector"] = {self.KEY: self.name}
        spec["tolerations"] = [
            {"key": self.KEY, "operator": "Equal", "value": self.name, "effect": "NoSchedule"}
        ]
        return workload

    def delete(self, space: KubeNamespace) -> None:
        """The namespace first (kwok deletes its pods while their nodes exist), then the nodes."""
        space.delete()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = self.cp.kubectl("get", "pods", "-n", space.name, "-o", "name", check=False)
            if left.returncode != 0 or not left.stdout.strip():
                break
            time.sleep(0.5)
        if self.nodes:
            self.cp.kubectl("delete", "node", *self.nodes, "--wait=false", check=False)


# ----------------------------------------------------------------- 1. never completed


def rollout_that_never_completed(exp: Exporter, cp: ControlPlane) -> None:
    """A broken image fails on its progress deadline and is fixed forward with kubectl set
    image: time to restore = restored - the failed deployment's start, not its deadline."""
    space = KubeNamespace(cp, "neverdone")
    ns = space.name
    labels = {"namespace": ns, "app": "api"}
    try:
        space.apply(deployment("api", f"{REGISTRY}/api:1.0.0", progress_deadline=DEADLINE))
        space.rollout_status("deployment/api")
        wait_settled(exp, ns, 1)

        broke_from = time.time()
        space.kubectl("set", "image", "deployment/api", f"api={REGISTRY}/api:2.0.0-never-ready")
        broke_to = time.time()

        def failing() -> dict[str, Any] | None:
            found = exp.app_deployments(ns)
            if len(found) != 2 or found[1]["outcome"] != "failed":
                return None
            return found[1] if exp.sample("dora_failure_active", **labels) == 1 else None

        broken = exp.wait_for(failing, 120, f"the 2.0.0 rollout failed in {ns}")
        assert broken["failure_reasons"] == ["rollout_failed"], broken
        assert broken["workloads"][0]["failure_reason"] == "progress_deadline", broken
        assert broken["restored_at"] is None
        progressing = condition(space, "api", "Progressing")
        assert progressing is not None and progressing["reason"] == "ProgressDeadlineExceeded"
        deadline_at = seconds(progressing["lastUpdateTime"])
        assert not any(ready(p) for p in pods(space, "api") if "never-ready" in image_of(p))

        fix_from = time.time()
        space.kubectl("set", "image", "deployment/api", f"api={REGISTRY}/api:2.0.1")
        space.rollout_status("deployment/api")
        fix_to = time.time()
        exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 0, 30, "restored")
        first, failed, fix = wait_settled(exp, ns, 3)

        assert [d["version"] for d in (first, failed, fix)] == [
            "1.0.0",
            "2.0.0-never-ready",
            "2.0.1",
        ]
        assert fix["outcome"] == "succeeded" and fix["rework"] is True, fix
        started, finished = seconds(failed["started_at"]), seconds(failed["finished_at"])
        restored = seconds(failed["restored_at"])
        # the failed deployment started with its kubectl set image, ended at its deadline,
        # and was restored when the fix completed
        assert broke_from - TOLERANCE <= started <= broke_to + TOLERANCE, (broke_from, failed)
        assert abs(finished - deadline_at) <= TOLERANCE, (deadline_at, failed)
        assert finished - started >= DEADLINE - 1, failed  # the deadline counts whole seconds
        assert seconds(fix["finished_at"]) - 0.001 <= restored <= fix_to + TOLERANCE, (fix, failed)
        # time to restore runs from the start, so it includes the wait for the deadline
        ttr = failed["time_to_restore_seconds"]
        assert ttr == pytest.approx(restored - started, abs=0.01), failed
        assert ttr - (restored - finished) >= DEADLINE - 1, failed
        assert fix_from - broke_to - TOLERANCE <= ttr <= fix_to - broke_from + TOLERANCE, (
            broke_from,
            fix_from,
            fix_to,
            failed,
        )
        metrics = exp.metrics()
        assert value(metrics, "dora_time_to_restore_seconds_count", **labels) == 1
        assert value(metrics, "dora_time_to_restore_seconds_sum", **labels) == pytest.approx(
            ttr, abs=0.01
        )
        median = value(metrics, "dora_time_to_restore_median_seconds", window="1d", **labels)
        assert median == pytest.approx(ttr, abs=0.01)
        assert value(metrics, "dora_change_failures_total", reason="rollout_failed", **labels) == 1
        assert value(metrics, "dora_rework_deployments_total", **labels) == 1
        assert app_summary(exp, ns, "api")["time_to_restore_median_seconds"] == pytest.approx(
            ttr, abs=0.01
        )
    finally:
        space.delete()


# ------------------------------------------------------------------ 2. redeployed commit


def redeployed_commit(exp: Exporter, cp: ControlPlane) -> None:
    """kubectl set image keeps the template's commit annotations: the new deployment ships a
    commit that reached production before. One app identifies its commit by commit time
    alone, the other by sha."""
    space = KubeNamespace(cp, "redeploy")
    ns = space.name
    commit_at = int(time.time()) - COMMIT_AGE
    stamp = datetime.fromtimestamp(commit_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shas = {"timed": None, "signed": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"}
    try:
        manifests = []
        for name, sha in shas.items():
            manifest = deployment(name, f"{REGISTRY}/{name}:1.0.0")
            annotations = manifest["spec"]["template"]["metadata"]["annotations"]
            annotations["daylight.dev/commit-time"] = stamp
            if sha is not None:
                annotations["daylight.dev/commit-sha"] = sha
            manifests.append(manifest)
        space.apply(*manifests)
        for name in shas:
            space.rollout_status(f"deployment/{name}")
        first = {d["app"]: d for d in wait_settled(exp, ns, 2)}
        for name, sha in shas.items():
            shipped = first[name]
            lead = seconds(shipped["finished_at"]) - commit_at
            assert shipped["lead_time_seconds"] == pytest.approx(lead, abs=0.01), shipped
            assert shipped["workloads"][0]["redeployed_commit"] is False
            assert shipped["workloads"][0]["commit_sha"] == sha

        before = exp.sample("daylight_redeployed_commits_total")
        assert before is not None
        for name in shas:
            space.kubectl("set", "image", f"deployment/{name}", f"{name}={REGISTRY}/{name}:1.0.1")
        for name in shas:
            space.rollout_status(f"deployment/{name}")
        found = wait_settled(exp, ns, 4)

        metrics = exp.metrics()
        for name, sha in shas.items():
            # kubectl set image left the commit annotations as they were
            template = space.get("deployment", name)["spec"]["template"]
            annotations = template["metadata"]["annotations"]
            assert annotations["daylight.dev/commit-time"] == stamp
            assert annotations.get("daylight.dev/commit-sha") == sha
            assert template["spec"]["containers"][0]["image"] == f"{REGISTRY}/{name}:1.0.1"
            old, new = [d for d in found if d["app"] == name]
            assert new["version"] == "1.0.1" and new["outcome"] == "succeeded", new
            assert new["lead_time_seconds"] is None, new
            assert [w["redeployed_commit"] for w in new["workloads"]] == [True], new
            assert not new["failure_reasons"] and not new["rollback"], new
            # out of the coverage denominator: one of one covered, the median is the first's
            app = app_summary(exp, ns, name)
            assert app["successful_deployments"] == 2, app
            assert app["lead_time_coverage"] == 1.0, app
            assert app["lead_time_median_seconds"] == pytest.approx(
                old["lead_time_seconds"], abs=0.01
            )
            labels = {"namespace": ns, "app": name}
            assert value(metrics, "dora_lead_time_seconds_count", **labels) == 1
            assert value(metrics, "dora_lead_time_coverage_ratio", window="1d", **labels) == 1
            assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 2
        assert value(metrics, "daylight_redeployed_commits_total") == before + len(shas)
    finally:
        space.delete()


# -------------------------------------------------------------- 3. capacity, not Available


def scale_up_waiting_for_a_node(exp: Exporter, cp: ControlPlane) -> None:
    """kubectl scale 2 -> 4 with room for two: the new pods wait, unschedulable, and the
    Deployment is not Available for well past --degraded-after, until a node is added. The
    capacity the deployment completed with never went away: no failed change."""
    space = KubeNamespace(cp, "scaleup")
    pool = Pool(cp, space.name)
    try:
        pool.add(pods=2)
        space.apply(pool.place(deployment("web", f"{REGISTRY}/web:1.0.0", replicas=2)))
        space.rollout_status("deployment/web")
        (shipped,) = wait_settled(exp, space.name, 1)
        scaled_up_without_failing(exp, cp, space, pool, shipped)
    finally:
        pool.delete(space)


def scale_up_after_a_scale_down(exp: Exporter, cp: ControlPlane) -> None:
    """Deployed with four pods, scaled down to two (another workload takes the room), then
    back up to four that wait for a node: two pods were the capacity, so the wait for the
    deployed size again is no loss either."""
    space = KubeNamespace(cp, "downup")
    pool = Pool(cp, space.name)
    try:
        pool.add(pods=4)
        space.apply(pool.place(deployment("web", f"{REGISTRY}/web:1.0.0", replicas=4)))
        space.rollout_status("deployment/web")
        (shipped,) = wait_settled(exp, space.name, 1)
        space.kubectl("scale", "deployment/web", "--replicas=2")
        space.rollout_status("deployment/web")
        cp.wait_until("two web pods", lambda: len(pods(space, "web")) == 2, 30)
        space.apply(pool.place(deployment("other", f"{REGISTRY}/other:1.0.0", replicas=2)))
        space.rollout_status("deployment/other")
        scaled_up_without_failing(exp, cp, space, pool, shipped)
    finally:
        pool.delete(space)


def scaled_up_without_failing(
    exp: Exporter, cp: ControlPlane, space: KubeNamespace, pool: Pool, shipped: dict[str, Any]
) -> None:
    """kubectl scale web to four with room for two more pods short: two wait unschedulable,
    the Deployment not Available, for well past --degraded-after; then a node is added. The
    deployment ``shipped`` never becomes a failed change."""
    ns = space.name
    labels = {"namespace": ns, "app": "web"}
    space.kubectl("scale", "deployment/web", "--replicas=4")
    scaled_at = time.time()
    since = cp.wait_until("web not Available", lambda: unavailable_since(space, "web"), 30)
    while time.time() < scaled_at + SCALE_WAIT:
        assert exp.sample("dora_failure_active", **labels) == 0, "a scale-up degraded"
        time.sleep(1.0)
    waiting = [p for p in pods(space, "web") if not ready(p)]
    assert len(waiting) == 2 and all(map(unschedulable, waiting)), waiting
    still = unavailable_since(space, "web")
    assert still == since, "the Deployment became Available without its new pods"
    assert time.time() - since >= 2 * DEGRADED_AFTER

    pool.add(pods=2)  # the autoscaler's new node
    space.rollout_status("deployment/web")
    assert len([p for p in pods(space, "web") if ready(p)]) == 4
    available = condition(space, "web", "Available")
    assert available is not None and available["status"] == "True"

    (after,) = [d for d in exp.app_deployments(ns) if d["app"] == "web"]
    assert after["started_at"] == shipped["started_at"]
    assert after["outcome"] == "succeeded", after
    assert after["failure_reasons"] == [] and after["restored_at"] is None, after
    metrics = exp.metrics()
    assert value(metrics, "dora_failure_active", **labels) == 0
    assert [s for s in select(metrics, "dora_change_failures_total", **labels) if s[1]] == []
    assert value(metrics, "dora_change_failure_rate", window="1d", **labels) == 0
    assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 1
    assert app_summary(exp, ns, "web")["failed_changes"] == 0


def node_loses_half_the_pods(exp: Exporter, cp: ControlPlane) -> None:
    """Four pods on two full nodes; kubectl drain one: its two pods are evicted and their
    replacements have nowhere to go. Lost capacity for longer than --degraded-after is a
    failed change (degraded); kubectl uncordon brings the capacity back and restores it."""
    space = KubeNamespace(cp, "nodeloss")
    pool = Pool(cp, space.name)
    try:
        pool.add(pods=2)
        pool.add(pods=2)
        space.apply(pool.place(deployment("web", f"{REGISTRY}/web:1.0.0", replicas=4)))
        space.rollout_status("deployment/web")
        (shipped,) = wait_settled(exp, space.name, 1)
        node = holding(space, pool, 2)
        drained_until_degraded(exp, cp, space, node, waiting=2)
        restored = uncordoned_until_restored(exp, cp, space, node, back=4)
        assert restored["started_at"] == shipped["started_at"]
    finally:
        pool.delete(space)


def node_loses_half_the_pods_after_a_scale_up(exp: Exporter, cp: ControlPlane) -> None:
    """Deployed with two pods, scaled to four that wait for a second node, which comes: the
    four are the capacity now, and a node drained of half of them is degradation."""
    space = KubeNamespace(cp, "uploss")
    pool = Pool(cp, space.name)
    try:
        pool.add(pods=2)
        space.apply(pool.place(deployment("web", f"{REGISTRY}/web:1.0.0", replicas=2)))
        space.rollout_status("deployment/web")
        (shipped,) = wait_settled(exp, space.name, 1)
        space.kubectl("scale", "deployment/web", "--replicas=4")
        cp.wait_until("web not Available", lambda: unavailable_since(space, "web"), 30)
        pool.add(pods=2)
        space.rollout_status("deployment/web")
        assert len([p for p in pods(space, "web") if ready(p)]) == 4
        node = holding(space, pool, 2)
        drained_until_degraded(exp, cp, space, node, waiting=2)
        restored = uncordoned_until_restored(exp, cp, space, node, back=4)
        assert restored["started_at"] == shipped["started_at"]
    finally:
        pool.delete(space)


def pods_lost_while_a_scale_up_waits(exp: Exporter, cp: ControlPlane) -> None:
    """Four pods on two full nodes, scaled to six: two wait, the Deployment is not Available,
    and that is no loss. Past --degraded-after a node is drained: degraded, but only
    --degraded-after after the pods were lost, not at once (the Available condition turned
    for the scale-up); restored when the four are back, the scale-up still waiting."""
    space = KubeNamespace(cp, "lossup")
    pool = Pool(cp, space.name)
    labels = {"namespace": space.name, "app": "web"}
    try:
        pool.add(pods=2)
        pool.add(pods=2)
        space.apply(pool.place(deployment("web", f"{REGISTRY}/web:1.0.0", replicas=4)))
        space.rollout_status("deployment/web")
        (shipped,) = wait_settled(exp, space.name, 1)
        space.kubectl("scale", "deployment/web", "--replicas=6")
        since = cp.wait_until("web not Available", lambda: unavailable_since(space, "web"), 30)
        while time.time() < since + 1.5 * DEGRADED_AFTER:
            assert exp.sample("dora_failure_active", **labels) == 0, "a scale-up degraded"
            time.sleep(1.0)
        node = holding(space, pool, 2)
        drained_until_degraded(exp, cp, space, node, waiting=4)
        assert unavailable_since(space, "web") == since, "Available turned with the drain"
        restored = uncordoned_until_restored(exp, cp, space, node, back=4)
        assert restored["started_at"] == shipped["started_at"]
        assert len([p for p in pods(space, "web") if not ready(p)]) == 2  # still waiting
    finally:
        pool.delete(space)


def holding(space: KubeNamespace, pool: Pool, count: int) -> str:
    """The pool's first node, which holds ``count`` of the app's pods."""
    node = pool.nodes[0]
    on_node = [p for p in pods(space, "web") if p["spec"].get("nodeName") == node]
    assert len(on_node) == count, f"{node} holds {len(on_node)} pods, not {count}"
    return node


def drained_until_degraded(
    exp: Exporter, cp: ControlPlane, space: KubeNamespace, node: str, waiting: int
) -> dict[str, Any]:
    """kubectl drain ``node``: its pods' replacements (``waiting`` pods in all) are
    unschedulable, and the deployment is a failed change, degraded, no sooner than
    --degraded-after after the drain began."""
    ns = space.name
    labels = {"namespace": ns, "app": "web"}
    drained_from = time.time()
    cp.kubectl("drain", node, "--ignore-daemonsets", "--timeout=60s", timeout=90)
    deadline = time.monotonic() + 60
    while exp.sample("dora_failure_active", **labels) != 1:
        assert time.monotonic() < deadline, "the lost capacity was never a failure"
        time.sleep(0.25)
    noticed = time.time()
    assert noticed - drained_from >= DEGRADED_AFTER - 0.5, "degraded before --degraded-after"
    pending = [p for p in pods(space, "web") if not ready(p)]
    assert len(pending) == waiting and all(map(unschedulable, pending)), pending
    (failed,) = exp.app_deployments(ns)
    assert failed["failure_reasons"] == ["degraded"], failed
    assert failed["outcome"] == "succeeded" and failed["restored_at"] is None, failed
    metrics = exp.metrics()
    assert value(metrics, "dora_change_failures_total", reason="degraded", **labels) == 1
    return failed


def uncordoned_until_restored(
    exp: Exporter, cp: ControlPlane, space: KubeNamespace, node: str, back: int
) -> dict[str, Any]:
    """kubectl uncordon ``node``: once ``back`` pods are ready again the failure is restored;
    the deployment had completed, so its time to restore runs from its finish."""
    ns = space.name
    labels = {"namespace": ns, "app": "web"}
    back_from = time.time()
    cp.kubectl("uncordon", node)
    cp.wait_until(
        f"{back} web pods ready", lambda: len([p for p in pods(space, "web") if ready(p)]) >= back
    )
    back_to = time.time()
    exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 0, 30, "restored")
    (restored,) = exp.app_deployments(ns)
    assert restored["failure_reasons"] == ["degraded"], restored
    at = seconds(restored["restored_at"])
    assert back_from - TOLERANCE <= at <= back_to + TOLERANCE, (back_from, back_to, restored)
    ttr = restored["time_to_restore_seconds"]
    assert ttr == pytest.approx(at - seconds(restored["finished_at"]), abs=0.01), restored
    assert ttr > DEGRADED_AFTER
    metrics = exp.metrics()
    assert value(metrics, "dora_time_to_restore_seconds_count", **labels) == 1
    assert value(metrics, "dora_rework_deployments_total", **labels) == 0
    assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 1
    assert value(metrics, "dora_change_failure_rate", window="1d", **labels) == 1
    assert value(metrics, "dora_failure_active", **labels) == 0
    return restored


# ------------------------------------------------------------------- 4. paused rollout


def paused_rollout(exp: Exporter, cp: ControlPlane) -> None:
    """kubectl rollout pause, set image, set env, a wait, kubectl rollout resume: one
    deployment with both edits, started at the resume, its duration without the pause."""
    space = KubeNamespace(cp, "paused")
    ns = space.name
    labels = {"namespace": ns, "app": "api"}
    try:
        space.apply(deployment("api", f"{REGISTRY}/api:1.0.0"))
        space.rollout_status("deployment/api")
        wait_settled(exp, ns, 1)

        space.kubectl("rollout", "pause", "deployment/api")
        first_edit = time.time()
        space.kubectl("set", "image", "deployment/api", f"api={REGISTRY}/api:2.0.0")
        space.kubectl("set", "env", "deployment/api", "GREETING=hello")
        while time.time() < first_edit + PAUSED:
            assert len(exp.app_deployments(ns)) == 1, "an edit of a paused Deployment started"
            time.sleep(1.0)
        assert len(space.get("replicasets", "-l", "app=api")["items"]) == 1

        resume_from = time.time()
        space.kubectl("rollout", "resume", "deployment/api")
        resume_to = time.time()
        space.rollout_status("deployment/api")
        done = time.time()
        first, second = wait_settled(exp, ns, 2)

        assert second["version"] == "2.0.0" and second["outcome"] == "succeeded", second
        assert not second["failure_reasons"] and not second["rollback"], second
        (workload,) = second["workloads"]
        assert workload["revision"] == "2", second  # one new ReplicaSet for both edits
        rs = space.get("replicasets", "-l", "app=api")["items"]
        assert len(rs) == 2
        (newest,) = [r for r in rs if r["metadata"]["annotations"].get(REVISION) == "2"]
        container = newest["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"{REGISTRY}/api:2.0.0"
        assert {"name": "GREETING", "value": "hello"} in container.get("env", [])

        started, finished = seconds(second["started_at"]), seconds(second["finished_at"])
        assert resume_from - TOLERANCE <= started <= resume_to + TOLERANCE, (resume_from, second)
        assert started - first_edit >= PAUSED - TOLERANCE, (first_edit, second)
        duration = finished - started
        assert 0 <= duration <= done - resume_from + TOLERANCE, (resume_from, done, second)
        assert duration < PAUSED
        metrics = exp.metrics()
        w = {"workload": "api", "kind": "Deployment", **labels}
        assert value(metrics, "dora_deployment_duration_seconds_count", **w) == 2
        durations = [
            seconds(d["workloads"][0]["finished_at"]) - seconds(d["workloads"][0]["started_at"])
            for d in (first, second)
        ]
        total = value(metrics, "dora_deployment_duration_seconds_sum", **w)
        assert total == pytest.approx(sum(durations), abs=0.01), durations
        assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 2
    finally:
        space.delete()


# ------------------------------------------------------------------------------ running

SCENARIOS: tuple[Scenario, ...] = (
    rollout_that_never_completed,
    redeployed_commit,
    scale_up_waiting_for_a_node,
    scale_up_after_a_scale_down,
    node_loses_half_the_pods,
    node_loses_half_the_pods_after_a_scale_up,
    pods_lost_while_a_scale_up_waits,
    paused_rollout,
)


class Scenarios:
    """The selected tests' scenarios, running in parallel against one exporter."""

    def __init__(self, futures: dict[str, Future[float]]) -> None:
        self.futures = futures

    def outcome(self, scenario: Scenario) -> None:
        """Wait for ``scenario``; its failure, if any, is raised here."""
        elapsed = self.futures[scenario.__name__].result()
        print(f"scenario {scenario.__name__}: {elapsed:.1f}s")


@pytest.fixture(scope="module")
def scenarios(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[Scenarios]:
    here = Path(__file__)
    selected = {
        getattr(item, "originalname", item.name)
        for item in request.session.items
        if Path(item.path) == here
    }
    wanted = [s for s in SCENARIOS if f"test_{s.__name__}" in selected]
    cp = control_plane
    with Exporter(cp.kubeconfig, *FLAGS, logdir=cp.logdir, name="semantics") as exp:
        began = time.monotonic()

        def run(scenario: Scenario) -> float:
            try:
                scenario(exp, cp)
            except BaseException as exc:
                elapsed = time.monotonic() - began
                trace = "".join(traceback.format_exception(exc))
                raise AssertionError(
                    f"{scenario.__name__} failed after {elapsed:.0f}s:\n{trace}\n"
                    f"----- {exp.name} stderr:\n{exp.stderr_tail(40)}"
                ) from exc
            return time.monotonic() - began

        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            futures = {s.__name__: pool.submit(run, s) for s in wanted}
            yield Scenarios(futures)


def test_rollout_that_never_completed(scenarios: Scenarios) -> None:
    """Item 1: time to restore of a rollout failed on its deadline runs from its start."""
    scenarios.outcome(rollout_that_never_completed)


def test_redeployed_commit(scenarios: Scenarios) -> None:
    """Item 2: a stale commit annotation after kubectl set image gives no lead time."""
    scenarios.outcome(redeployed_commit)


def test_scale_up_waiting_for_a_node(scenarios: Scenarios) -> None:
    """Item 3a: a scale-up waiting past --degraded-after for a node is not a failed change."""
    scenarios.outcome(scale_up_waiting_for_a_node)


def test_scale_up_after_a_scale_down(scenarios: Scenarios) -> None:
    """Item 3a: nor is a scale-up back to the deployed size after a scale-down."""
    scenarios.outcome(scale_up_after_a_scale_down)


def test_node_loses_half_the_pods(scenarios: Scenarios) -> None:
    """Item 3b: a node losing half the app's pods past --degraded-after is one, restored."""
    scenarios.outcome(node_loses_half_the_pods)


def test_node_loses_half_the_pods_after_a_scale_up(scenarios: Scenarios) -> None:
    """Item 3b: also when the pods it loses came with a scale-up that completed."""
    scenarios.outcome(node_loses_half_the_pods_after_a_scale_up)


def test_pods_lost_while_a_scale_up_waits(scenarios: Scenarios) -> None:
    """Item 3b: pods lost during a waiting scale-up degrade only --degraded-after later."""
    scenarios.outcome(pods_lost_while_a_scale_up_waits)


def test_paused_rollout(scenarios: Scenarios) -> None:
    """Item 4: pause, two edits, resume: one deployment from the resume, pause left out."""
    scenarios.outcome(paused_rollout)
