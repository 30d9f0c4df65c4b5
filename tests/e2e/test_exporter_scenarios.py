"""The exporter against real controllers: what happened in the cluster is what it reports.

Each test starts ``daylight run`` (a separate process, exactly as a user runs it) and
``daylight record`` before creating anything, then runs its scenarios in parallel, one
namespace each, with real kube-controller-manager rollouts and kwok pods. Every scenario checks
both ``/metrics`` and the JSON report. At the end each scenario's recording is replayed
(``daylight report --replay``) and must give the same app deployments as the live run.

``DAYLIGHT_RECORD_FIXTURES=1`` also writes the recordings of the scenarios named in
``FIXTURES`` to tests/fixtures/ (see tests/fixtures/README.md).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.controlplane import ControlPlane
from tests.e2e.exporter import (
    Exporter,
    KubeNamespace,
    Recorder,
    all_stopped,
    deployment,
    deployments_in,
    filter_event_log,
    pod_template,
    replay_report,
    run_in_parallel,
    seconds,
    select,
    summary,
    value,
)

pytestmark = pytest.mark.cluster

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures"
#: Model flags of every exporter here (and of the replays compared with it).
MODEL_FLAGS = ("--degraded-after", "10s", "--rollout-timeout", "60s")
REGISTRY = "registry.example"
HEX10 = re.compile(r"^[0-9a-f]{10}$")


def ok(app: str, version: str, workloads: list[tuple[Any, ...]], **extra: Any) -> dict[str, Any]:
    """The expected ``summary()`` of an app deployment (defaults: succeeded, no failure)."""
    out: dict[str, Any] = {
        "app": app,
        "version": version,
        "outcome": "succeeded",
        "failure_reasons": [],
        "rollback": False,
        "restored": False,
        "rework": False,
        "workloads": workloads,
    }
    out.update(extra)
    out["failure_reasons"] = sorted(out["failure_reasons"])
    return out


def wd(
    kind: str, name: str, version: str, outcome: str = "succeeded", rollback: bool = False
) -> tuple[Any, ...]:
    """An expected workload deployment in ``summary()`` form (workload name = object name)."""
    return (kind, name, name, version, outcome, rollback)


def settled(exp: Exporter, ns: str, count: int) -> list[dict[str, Any]] | None:
    """The namespace's app deployments once there are ``count`` and none is in progress."""
    found = exp.app_deployments(ns)
    if len(found) == count and all(d["outcome"] != "progressing" for d in found):
        return found
    return None


def wait_settled(exp: Exporter, ns: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    return exp.wait_for(
        lambda: settled(exp, ns, count), timeout, f"{count} finished app deployments in {ns}"
    )


def replay_matches_live(
    live: dict[str, Any], recording: Path, tmp: Path, ns: str, fixture: str | None
) -> None:
    """The recording of ``ns`` replays to the app deployments the live exporter reported."""
    events = tmp / f"{ns}.jsonl"
    lines = filter_event_log(recording, events, ns)
    assert lines > 0, f"nothing recorded for {ns}"
    # recorded from before the namespace existed: everything in it came through the watch
    entries = [json.loads(line) for line in events.read_bytes().splitlines()]
    assert entries[0]["object"]["kind"] == "Namespace", entries[0]
    assert all(seconds(e["time"]) > seconds(entries[0]["time"]) for e in entries[1:])
    replayed = replay_report(events, *MODEL_FLAGS)
    want = deployments_in(live, ns)
    got = deployments_in(replayed, ns)
    assert [summary(d) for d in got] == [summary(d) for d in want], f"replay of {ns}"
    for a, b in zip(got, want, strict=True):
        assert [w["revision"] for w in a["workloads"]] == [w["revision"] for w in b["workloads"]]
        for key in ("started_at", "finished_at", "restored_at"):
            if b[key] is None:
                assert a[key] is None, (ns, key, a, b)
            else:
                assert abs(seconds(a[key]) - seconds(b[key])) < 2.5, (ns, key, a[key], b[key])
    if fixture and os.environ.get("DAYLIGHT_RECORD_FIXTURES"):
        FIXTURE_DIR.mkdir(exist_ok=True)
        (FIXTURE_DIR / f"{fixture}.jsonl").write_bytes(events.read_bytes())


def run_recorded(
    cp: ControlPlane,
    tmp: Path,
    scenarios: dict[str, tuple[str | None, Callable[[Exporter, KubeNamespace], None]]],
) -> None:
    """Start the exporter and the recorder, run the scenarios in parallel namespaces, compare
    the live report with each namespace's replay (and keep the named ones as fixtures)."""
    recording = tmp / "recording.jsonl"
    namespaces: dict[str, KubeNamespace] = {}
    with (
        Exporter(cp.kubeconfig, *MODEL_FLAGS, logdir=cp.logdir) as exp,
        Recorder(cp.kubeconfig, recording, logdir=cp.logdir) as recorder,
        all_stopped(recorder),
    ):
        try:
            for name in scenarios:
                namespaces[name] = KubeNamespace(cp, name)

            def bind(name: str) -> Callable[[], None]:
                return lambda: scenarios[name][1](exp, namespaces[name])

            run_in_parallel({name: bind(name) for name in scenarios})
            live = exp.report()
            recorder.stop()
            for name, (fixture, _) in scenarios.items():
                replay_matches_live(live, recording, tmp, namespaces[name].name, fixture)
        finally:
            for space in namespaces.values():
                space.delete()


# ----------------------------------------------------------------------------- rollouts


def lifecycle(exp: Exporter, space: KubeNamespace) -> None:
    """(a) first rollout and a new version, (d) rollout undo, (b) rollout restart and
    (c) scaling are not deployments, nor is an undo back to the template before a restart."""
    ns = space.name

    def web(version: str) -> dict[str, Any]:
        return deployment("web", f"{REGISTRY}/web:{version}")

    space.apply(web("1.0.0"))
    space.rollout_status("deployment/web")
    wait_settled(exp, ns, 1)
    space.apply(web("1.1.0"))
    space.rollout_status("deployment/web")
    got = wait_settled(exp, ns, 2)
    assert [d["version"] for d in got] == ["1.0.0", "1.1.0"]  # from the image tag
    metrics = exp.metrics()
    labels = {"namespace": ns, "app": "web"}
    assert value(metrics, "dora_deployments_total", outcome="succeeded", **labels) == 2
    assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 2
    assert value(metrics, "dora_workload_info", version="1.1.0", **labels) == 1
    assert value(metrics, "dora_deployment_frequency_per_day", window="1d", **labels) == 2

    space.kubectl("rollout", "undo", "deployment/web")  # (d) back to 1.0.0
    space.rollout_status("deployment/web")
    got = wait_settled(exp, ns, 3)
    assert got[2]["rollback"] is True and got[2]["version"] == "1.0.0"

    space.kubectl("rollout", "restart", "deployment/web")  # (b)
    space.rollout_status("deployment/web")
    space.kubectl("scale", "deployment/web", "--replicas=3")  # (c)
    space.rollout_status("deployment/web")
    # back to the template before the restart: the same fingerprint, not a deployment
    space.kubectl("rollout", "undo", "deployment/web")
    space.rollout_status("deployment/web")
    rs = space.get("replicasets", "-l", "app=web")["items"]
    assert len(rs) == 3, "restart made its own ReplicaSet"
    dep = space.get("deployment", "web")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5"
    # a last real change: once it is reported, everything before it has been seen
    space.apply(web("1.2.0"))
    space.rollout_status("deployment/web")
    got = wait_settled(exp, ns, 4)
    workload = [wd("Deployment", "web", "1.0.0")]
    assert [summary(d) for d in got] == [
        ok("web", "1.0.0", workload),
        ok(
            "web",
            "1.1.0",
            [wd("Deployment", "web", "1.1.0")],
            failure_reasons=["rollback"],
            restored=True,
        ),
        ok(
            "web",
            "1.0.0",
            [wd("Deployment", "web", "1.0.0", rollback=True)],
            rollback=True,
            rework=True,
        ),
        ok("web", "1.2.0", [wd("Deployment", "web", "1.2.0")]),
    ]
    assert [d["workloads"][0]["revision"] for d in got] == ["1", "2", "3", "6"]
    assert all(d["finished_at"] and d["history"] is False for d in got)
    assert got[1]["time_to_restore_seconds"] == pytest.approx(
        seconds(got[1]["restored_at"]) - seconds(got[1]["finished_at"]), abs=0.01
    )
    metrics = exp.metrics()
    assert value(metrics, "dora_deployments_total", outcome="succeeded", **labels) == 4
    assert value(metrics, "dora_deployments_total", outcome="failed", **labels) == 0
    assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 4
    assert value(metrics, "dora_app_deployments_total", outcome="failed", **labels) == 0
    assert select(metrics, "dora_change_failures_total", **labels) == [
        ({"environment": "production", **labels, "reason": "rollback"}, 1.0)
    ]
    assert value(metrics, "dora_rework_deployments_total", **labels) == 1
    assert value(metrics, "dora_time_to_restore_seconds_count", **labels) == 1
    assert value(metrics, "dora_deployment_duration_seconds_count", **labels) == 4
    assert value(metrics, "dora_failure_active", **labels) == 0
    assert value(metrics, "dora_app_info", **labels) == 1
    assert value(metrics, "dora_app_info", version="1.2.0", **labels) == 1
    assert (
        value(
            metrics,
            "dora_workload_info",
            version="1.2.0",
            workload="web",
            kind="Deployment",
            **labels,
        )
        == 1
    )
    assert value(metrics, "dora_deployment_frequency_per_day", window="1d", **labels) == 4
    assert value(metrics, "dora_deployment_frequency_per_day", window="30d", **labels) == (
        pytest.approx(4 / 30, abs=1e-6)
    )
    assert value(metrics, "dora_change_failure_rate", window="30d", **labels) == 0.25
    (app,) = [a for a in exp.report()["apps"] if a["namespace"] == ns]
    assert (app["deployments"], app["successful_deployments"], app["failed_changes"]) == (4, 4, 1)
    assert app["rework_deployments"] == 1


def sets(exp: Exporter, space: KubeNamespace) -> None:
    """(g) a StatefulSet update and a DaemonSet update: kinds and ControllerRevision numbers."""
    ns = space.name
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]},
    }

    def db(version: str) -> dict[str, Any]:
        spec = {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": pod_template("db", f"{REGISTRY}/db:{version}"),
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": spec,
        }

    def agent(version: str) -> dict[str, Any]:
        spec = {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": pod_template("agent", f"{REGISTRY}/agent:{version}"),
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": spec,
        }

    space.apply(service, db("15.1"), agent("0.9"))
    space.rollout_status("statefulset/db")
    space.rollout_status("daemonset/agent")
    wait_settled(exp, ns, 2)
    space.apply(db("15.2"), agent("1.0"))
    space.rollout_status("statefulset/db")
    space.rollout_status("daemonset/agent")
    got = wait_settled(exp, ns, 4)
    by_app = {
        app: [summary(d) for d in got if d["app"] == app] for app in ("db", "agent")
    }  # the two apps' rollouts interleave in start order
    assert by_app == {
        "db": [
            ok("db", "15.1", [wd("StatefulSet", "db", "15.1")]),
            ok("db", "15.2", [wd("StatefulSet", "db", "15.2")]),
        ],
        "agent": [
            ok("agent", "0.9", [wd("DaemonSet", "agent", "0.9")]),
            ok("agent", "1.0", [wd("DaemonSet", "agent", "1.0")]),
        ],
    }
    for app in ("db", "agent"):
        revisions = [d["workloads"][0]["revision"] for d in got if d["app"] == app]
        assert revisions == ["1", "2"], app
    kind_revs = {
        (cr["metadata"]["ownerReferences"][0]["kind"], cr["revision"])
        for cr in space.get("controllerrevisions")["items"]
    }
    assert kind_revs == {("StatefulSet", 1), ("StatefulSet", 2), ("DaemonSet", 1), ("DaemonSet", 2)}
    metrics = exp.metrics()
    for app, kind, version in (("db", "StatefulSet", "15.2"), ("agent", "DaemonSet", "1.0")):
        labels = {"namespace": ns, "app": app, "workload": app, "kind": kind}
        assert value(metrics, "dora_deployments_total", outcome="succeeded", **labels) == 2
        assert value(metrics, "dora_deployments_total", outcome="failed", **labels) == 0
        assert value(metrics, "dora_workload_info", version=version, **labels) == 1
        assert value(metrics, "dora_deployment_duration_seconds_count", **labels) == 2
        app_labels = {"namespace": ns, "app": app}
        assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **app_labels) == 2
        assert value(metrics, "dora_failure_active", **app_labels) == 0


def shop_part(name: str, version: str, min_ready: int | None = None) -> dict[str, Any]:
    """A Deployment of the app ``shop``; the version label wins over the image tag."""
    labels = {
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/version": version,
    }
    image = f"{REGISTRY}/{name}:build-{version}"
    return deployment(name, image, labels=labels, min_ready_seconds=min_ready)


def multi_workload_app(exp: Exporter, space: KubeNamespace) -> None:
    """(h) three Deployments of one app (``app.kubernetes.io/part-of``) applied together are
    one app deployment; two of them updated together are the next one."""
    ns = space.name

    # minReadySeconds: every rollout takes a few seconds, so none of them completes before
    # the last one of the same kubectl apply has started (see test_grouping_window_...)
    def part(name: str, version: str) -> dict[str, Any]:
        return shop_part(name, version, min_ready=2)

    space.apply(part("frontend", "2024.1"), part("cart", "2024.1"), part("checkout", "2024.1"))
    for name in ("frontend", "cart", "checkout"):
        space.rollout_status(f"deployment/{name}")
    wait_settled(exp, ns, 1)
    space.apply(part("frontend", "2024.2"), part("cart", "2024.2"))
    for name in ("frontend", "cart"):
        space.rollout_status(f"deployment/{name}")
    got = wait_settled(exp, ns, 2)
    first = sorted(wd("Deployment", n, "2024.1") for n in ("frontend", "cart", "checkout"))
    second = sorted(wd("Deployment", n, "2024.2") for n in ("frontend", "cart"))
    assert [sorted(summary(d)["workloads"]) for d in got] == [first, second]
    assert all(d["app"] == "shop" and d["outcome"] == "succeeded" for d in got)
    assert all(not d["failure_reasons"] and not d["rollback"] for d in got)
    versions = [d["version"] for d in got]
    assert all(HEX10.match(v) for v in versions) and versions[0] != versions[1], versions
    metrics = exp.metrics()
    labels = {"namespace": ns, "app": "shop"}
    assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 2
    # the app's current version covers all three workloads (not only the two just deployed)
    ((info, _),) = select(metrics, "dora_app_info", **labels)
    assert HEX10.match(info["version"]) and info["version"] != versions[0], info
    assert value(metrics, "dora_deployment_frequency_per_day", window="1d", **labels) == 2
    for name, count, version in (
        ("frontend", 2, "2024.2"),
        ("cart", 2, "2024.2"),
        ("checkout", 1, "2024.1"),
    ):
        w = {"workload": name, "kind": "Deployment", **labels}
        assert value(metrics, "dora_deployments_total", outcome="succeeded", **w) == count
        assert value(metrics, "dora_workload_info", version=version, **w) == 1
    (app,) = [a for a in exp.report()["apps"] if a["namespace"] == ns]
    assert (app["app"], app["deployments"], app["successful_deployments"]) == ("shop", 2, 2)


def test_rollouts_restarts_scaling_and_multi_workload_apps(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    run_recorded(
        control_plane,
        tmp_path,
        {
            "lifecycle": ("deployment-lifecycle", lifecycle),
            "sets": ("statefulset-daemonset", sets),
            "shop": ("multi-workload-app", multi_workload_app),
        },
    )


# ------------------------------------------------------------------------------ failures


def api(version: str, *, behavior: str | None = None, deadline: int = 10) -> dict[str, Any]:
    return deployment(
        "api", f"{REGISTRY}/api:{version}", behavior=behavior, progress_deadline=deadline
    )


def failing_then_fixed(
    exp: Exporter,
    space: KubeNamespace,
    behavior: str,
    reason: str,
    fix: str,
) -> list[dict[str, Any]]:
    """1.0.0, then 2.0.0 with ``behavior`` until the report shows ``reason`` and an open
    failure, then ``fix`` (rollback with ``rollout undo`` or fix-forward to 2.0.1)."""
    ns = space.name
    labels = {"namespace": ns, "app": "api"}
    deadline = 10 if behavior == "never-ready" else 600
    space.apply(api("1.0.0", deadline=deadline))
    space.rollout_status("deployment/api")
    wait_settled(exp, ns, 1)
    space.apply(api("2.0.0", behavior=behavior, deadline=deadline))

    def failing() -> dict[str, Any] | None:
        found = exp.app_deployments(ns)
        metrics = exp.metrics()
        active = value(metrics, "dora_failure_active", **labels)
        if len(found) == 2 and reason in found[1]["failure_reasons"] and active == 1:
            return found[1]
        return None

    broken = exp.wait_for(failing, 60, f"{reason} of 2.0.0 in {ns}")
    metrics = exp.metrics()
    assert value(metrics, "dora_change_failures_total", reason=reason, **labels) == 1
    if reason == "rollout_failed":
        assert broken["outcome"] == "failed"
        assert broken["workloads"][0]["failure_reason"] == "progress_deadline"
        assert value(metrics, "dora_deployments_total", outcome="failed", **labels) == 1
        assert value(metrics, "dora_app_deployments_total", outcome="failed", **labels) == 1
    assert broken["restored_at"] is None
    assert value(metrics, "dora_workload_info", version="1.0.0", **labels) == 1

    if fix == "rollback":
        space.kubectl("rollout", "undo", "deployment/api")
    else:
        space.apply(api("2.0.1", deadline=deadline))
    space.rollout_status("deployment/api")
    got = wait_settled(exp, ns, 3)
    exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 0, 20, "restore")
    got = exp.app_deployments(ns)
    failed = got[1]
    assert failed["restored_at"] is not None
    # restored when the fix completed (and, for a crash loop, its pods were gone)
    restored_after = seconds(failed["restored_at"]) - seconds(got[2]["finished_at"])
    assert -0.001 <= restored_after < 10, (failed, got[2])
    # design §3: from the finish of a change that completed, from the start of one that
    # never did (failed on its deadline, or replaced while crash-looping)
    hurt_from = failed["finished_at"] if failed["outcome"] == "succeeded" else failed["started_at"]
    assert failed["time_to_restore_seconds"] == pytest.approx(
        seconds(failed["restored_at"]) - seconds(hurt_from), abs=0.01
    )
    if reason == "rollout_failed":
        assert failed["time_to_restore_seconds"] > seconds(failed["finished_at"]) - seconds(
            failed["started_at"]
        )  # longer than the deadline took: not measured from it
    metrics = exp.metrics()
    assert value(metrics, "dora_time_to_restore_seconds_count", **labels) == 1
    assert value(metrics, "dora_rework_deployments_total", **labels) == 1
    assert value(metrics, "dora_change_failures_total", reason=reason, **labels) == 1
    assert value(metrics, "dora_failure_active", **labels) == 0
    fixed = "1.0.0" if fix == "rollback" else "2.0.1"
    assert value(metrics, "dora_workload_info", version=fixed, **labels) == 1
    assert value(metrics, "dora_deployments_total", outcome="failed", **labels) == 1
    (app,) = [a for a in exp.report()["apps"] if a["namespace"] == ns]
    assert (app["deployments"], app["failed_changes"], app["rework_deployments"]) == (3, 1, 1)
    assert app["change_failure_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert app["time_to_restore_median_seconds"] == pytest.approx(
        failed["time_to_restore_seconds"], abs=0.01
    )
    assert value(metrics, "dora_time_to_restore_median_seconds", window="1d", **labels) == (
        pytest.approx(failed["time_to_restore_seconds"], abs=0.01)
    )
    return got


def deadline_rollback(exp: Exporter, space: KubeNamespace) -> None:
    """(e) never-ready pods until progressDeadlineSeconds: 10, then ``rollout undo``."""
    got = failing_then_fixed(exp, space, "never-ready", "rollout_failed", "rollback")
    assert [summary(d) for d in got] == [
        ok("api", "1.0.0", [wd("Deployment", "api", "1.0.0")]),
        ok(
            "api",
            "2.0.0",
            [wd("Deployment", "api", "2.0.0", "failed")],
            outcome="failed",
            failure_reasons=["rollout_failed", "rollback"],
            restored=True,
        ),
        ok(
            "api",
            "1.0.0",
            [wd("Deployment", "api", "1.0.0", rollback=True)],
            rollback=True,
            rework=True,
        ),
    ]
    assert got[1]["failure_reasons"] == ["rollout_failed", "rollback"]  # in order of detection
    assert [d["workloads"][0]["revision"] for d in got] == ["1", "2", "3"]


def deadline_fix_forward(exp: Exporter, space: KubeNamespace) -> None:
    """(e) the same failed rollout, restored by a new version instead."""
    got = failing_then_fixed(exp, space, "never-ready", "rollout_failed", "fix-forward")
    assert [summary(d) for d in got] == [
        ok("api", "1.0.0", [wd("Deployment", "api", "1.0.0")]),
        ok(
            "api",
            "2.0.0",
            [wd("Deployment", "api", "2.0.0", "failed")],
            outcome="failed",
            failure_reasons=["rollout_failed"],
            restored=True,
        ),
        ok("api", "2.0.1", [wd("Deployment", "api", "2.0.1")], rework=True),
    ]


def crashloop_rollback(exp: Exporter, space: KubeNamespace) -> None:
    """(f) a crash-looping new version (reason crashloop), rolled back."""
    got = failing_then_fixed(exp, space, "crashloop", "crashloop", "rollback")
    assert [summary(d) for d in got] == [
        ok("api", "1.0.0", [wd("Deployment", "api", "1.0.0")]),
        ok(
            "api",
            "2.0.0",
            [wd("Deployment", "api", "2.0.0", "failed")],
            outcome="failed",
            failure_reasons=["crashloop", "rollback"],
            restored=True,
        ),
        ok(
            "api",
            "1.0.0",
            [wd("Deployment", "api", "1.0.0", rollback=True)],
            rollback=True,
            rework=True,
        ),
    ]
    assert got[1]["failure_reasons"][0] == "crashloop"
    assert got[1]["workloads"][0]["failure_reason"] == "rollback"


def not_ready(space: KubeNamespace, pod: str) -> None:
    """What a failing readiness probe does: the kubelet (here: us) sets Ready=False."""
    patch = '{"status":{"conditions":[{"type":"Ready","status":"False","reason":"ProbeFailed"}]}}'
    space.kubectl("patch", "pod", pod, "--subresource=status", "--type=strategic", "-p", patch)


def degraded(exp: Exporter, space: KubeNamespace) -> None:
    """A completed Deployment whose pods stop being ready (kwok only sets Pending pods ready,
    so a status patch sticks): Available=False for longer than --degraded-after (10s) is a
    failed change, reason degraded; replacing the pods restores it without a deployment."""
    ns = space.name
    labels = {"namespace": ns, "app": "api"}
    space.apply(api("1.0.0"))
    space.rollout_status("deployment/api")
    wait_settled(exp, ns, 1)
    for pod in space.get("pods", "-l", "app=api")["items"]:
        not_ready(space, pod["metadata"]["name"])

    def unavailable() -> bool:
        conditions = space.get("deployment", "api")["status"]["conditions"]
        return any(c["type"] == "Available" and c["status"] == "False" for c in conditions)

    space.cp.wait_until("Available=False", unavailable, timeout=30)
    exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 1, 40, "degraded")
    (dep,) = exp.app_deployments(ns)
    assert dep["failure_reasons"] == ["degraded"] and dep["outcome"] == "succeeded"
    assert value(exp.metrics(), "dora_change_failures_total", reason="degraded", **labels) == 1

    space.kubectl("delete", "pods", "-l", "app=api", "--wait=false")
    space.rollout_status("deployment/api")
    exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 0, 30, "restored")
    (dep,) = exp.app_deployments(ns)
    assert summary(dep) == ok(
        "api",
        "1.0.0",
        [wd("Deployment", "api", "1.0.0")],
        failure_reasons=["degraded"],
        restored=True,
    )
    assert dep["time_to_restore_seconds"] > 10
    metrics = exp.metrics()
    assert value(metrics, "dora_time_to_restore_seconds_count", **labels) == 1
    assert value(metrics, "dora_rework_deployments_total", **labels) == 0
    assert value(metrics, "dora_app_deployments_total", outcome="succeeded", **labels) == 1
    assert value(metrics, "dora_change_failure_rate", window="1d", **labels) == 1


def test_failures_and_restores(control_plane: ControlPlane, tmp_path: Path) -> None:
    run_recorded(
        control_plane,
        tmp_path,
        {
            "deadline-rollback": ("progress-deadline-rollback", deadline_rollback),
            "deadline-fix": (None, deadline_fix_forward),
            "crashloop": (None, crashloop_rollback),
            "degraded": (None, degraded),
        },
    )


def test_crashloop_fixed_forward_is_a_failed_change(control_plane: ControlPlane) -> None:
    """The counters and the report must tell the same story about a crash loop that was
    fixed forward before the rollout ended."""
    cp = control_plane
    with Exporter(cp.kubeconfig, *MODEL_FLAGS, logdir=cp.logdir) as exp:
        space = KubeNamespace(cp, "crashfix")
        try:
            crashloop_fixed_forward(exp, space)
        finally:
            space.delete()


def crashloop_fixed_forward(exp: Exporter, space: KubeNamespace) -> None:
    namespace = space.name
    labels = {"namespace": namespace, "app": "api"}
    space.apply(api("1.0.0", deadline=600))
    space.rollout_status("deployment/api")
    wait_settled(exp, namespace, 1)
    space.apply(api("2.0.0", behavior="crashloop", deadline=600))
    exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 1, 30, "crashloop")
    space.apply(api("2.0.1", deadline=600))
    space.rollout_status("deployment/api")
    exp.wait_for(lambda: exp.sample("dora_failure_active", **labels) == 0, 30, "restored")
    metrics = exp.metrics()
    assert value(metrics, "dora_change_failures_total", reason="crashloop", **labels) == 1
    assert value(metrics, "dora_time_to_restore_seconds_count", **labels) == 1
    report = exp.report()
    (app,) = [a for a in report["apps"] if a["namespace"] == namespace]
    crashed = [d for d in deployments_in(report, namespace) if d["version"] == "2.0.0"]
    assert app["failed_changes"] == 1, app
    assert len(crashed) == 1 and crashed[0]["failure_reasons"] == ["crashloop"], crashed
    assert crashed[0]["restored_at"] is not None


def test_grouping_window_does_not_depend_on_rollout_speed(control_plane: ControlPlane) -> None:
    """design §3: the workload deployments of one app that start within the grouping window
    (30s) of the first form one app deployment, however fast the first one completed."""
    cp = control_plane
    with Exporter(cp.kubeconfig, *MODEL_FLAGS, logdir=cp.logdir) as exp:
        space = KubeNamespace(cp, "grouping")
        ns = space.name
        try:
            space.apply(shop_part("frontend", "1", 2), shop_part("cart", "1", 2))
            space.rollout_status("deployment/frontend")
            space.rollout_status("deployment/cart")
            wait_settled(exp, ns, 1)
            space.apply(shop_part("frontend", "2"))
            space.rollout_status("deployment/frontend")
            exp.wait_for(lambda: settled(exp, ns, 2), 30, "frontend 2 finished")
            space.apply(shop_part("cart", "2"))  # seconds later: well within the window
            space.rollout_status("deployment/cart")

            def cart_seen() -> list[dict[str, Any]] | None:
                found = exp.app_deployments(ns)
                done = all(d["outcome"] == "succeeded" for d in found)
                versions = {(w["workload"], w["version"]) for d in found for w in d["workloads"]}
                return found if done and ("cart", "2") in versions else None

            live = exp.wait_for(cart_seen, 30, "cart 2 finished")
            with Exporter(cp.kubeconfig, *MODEL_FLAGS, logdir=cp.logdir, name="history") as fresh:
                history = fresh.app_deployments(ns)

            def groups(found: list[dict[str, Any]]) -> list[list[str]]:
                return [
                    sorted(f"{w['workload']}={w['version']}" for w in d["workloads"]) for d in found
                ]

            assert groups(history) == [["cart=1", "frontend=1"], ["cart=2", "frontend=2"]]
            assert groups(live) == groups(history)
        finally:
            space.delete()
