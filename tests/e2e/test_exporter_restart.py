"""Restart safety on the real control plane (design §3 History): ``kill -9`` the exporter in
the middle of a rollout and of a failure, start it again with the same ``--state-file``, and it
must end up reporting what an exporter that was never interrupted reports; without a state file
the 30-day window still counts every deployment the cluster's history holds.

Two ``daylight run`` processes watch the same cluster from the start: ``steady`` is never
touched, ``restarted`` is killed with SIGKILL (no clean shutdown, no last save) and restarted.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.controlplane import ControlPlane
from tests.e2e.exporter import (
    Exporter,
    KubeNamespace,
    deployment,
    run_in_parallel,
    seconds,
    summaries,
    summary,
    value,
)

pytestmark = pytest.mark.cluster

REGISTRY = "registry.example"


def api(version: str, *, behavior: str | None = None, min_ready: int | None = None) -> Any:
    return deployment(
        "api",
        f"{REGISTRY}/api:{version}",
        behavior=behavior,
        progress_deadline=10,
        min_ready_seconds=min_ready,
    )


def in_progress(exp: Exporter, ns: str, version: str) -> bool:
    return any(
        d["version"] == version and d["outcome"] == "progressing" for d in exp.app_deployments(ns)
    )


def settled(exp: Exporter, ns: str, count: int) -> list[dict[str, Any]] | None:
    found = exp.app_deployments(ns)
    if len(found) == count and all(d["outcome"] != "progressing" for d in found):
        return found
    return None


def wait_settled(exp: Exporter, ns: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    return exp.wait_for(lambda: settled(exp, ns, count), timeout, f"{count} settled in {ns}")


def deadline_exceeded(space: KubeNamespace) -> bool:
    conditions = space.get("deployment", "api")["status"].get("conditions", [])
    return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)


def app_keys(exp: Exporter, ns: str) -> dict[str, Any]:
    (app,) = [a for a in exp.report()["apps"] if a["namespace"] == ns]
    keys = ("deployments", "successful_deployments", "failed_changes", "rework_deployments")
    return {k: app[k] for k in keys}


def expect(version: str, outcome: str = "succeeded", **extra: Any) -> dict[str, Any]:
    out = {
        "app": "api",
        "version": version,
        "outcome": outcome,
        "failure_reasons": [],
        "rollback": False,
        "restored": False,
        "rework": False,
        "workloads": [("Deployment", "api", "api", version, outcome, extra.get("rollback", False))],
    }
    out.update(extra)
    return out


def test_kill9_mid_rollout_and_mid_failure_matches_uninterrupted(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    cp = control_plane
    state = tmp_path / "daylight.sqlite"
    with (
        Exporter(cp.kubeconfig, logdir=cp.logdir, name="steady") as steady,
        Exporter(cp.kubeconfig, state_file=state, logdir=cp.logdir, name="restarted") as restarted,
    ):
        space = KubeNamespace(cp, "restart")
        ns = space.name
        labels = {"namespace": ns, "app": "api"}
        try:
            space.apply(api("1.0.0"))
            space.rollout_status("deployment/api")
            wait_settled(restarted, ns, 1)

            # mid-rollout: minReadySeconds makes the rollout take ~10 s
            space.apply(api("2.0.0", min_ready=5))
            restarted.wait_for(lambda: in_progress(restarted, ns, "2.0.0"), 20, "2.0.0 rolling")
            time.sleep(1.5)  # the state file (saved every second) has the rollout in flight
            restarted.kill9()
            restarted.restart()  # still rolling out: it resumes tracking the rollout
            assert in_progress(restarted, ns, "2.0.0")
            restarted.kill9()  # and the rollout completes while nobody watches
            space.rollout_status("deployment/api")
            restarted.restart()
            got = wait_settled(restarted, ns, 2)
            assert [d["outcome"] for d in got] == ["succeeded", "succeeded"]

            # mid-failure: the progress deadline passes while the exporter is dead
            space.apply(api("3.0.0", behavior="never-ready"))
            restarted.wait_for(lambda: in_progress(restarted, ns, "3.0.0"), 20, "3.0.0 rolling")
            restarted.kill9()
            cp.wait_until("ProgressDeadlineExceeded", lambda: deadline_exceeded(space), 40)
            restarted.restart()
            got = wait_settled(restarted, ns, 3)
            assert got[2]["outcome"] == "failed" and got[2]["failure_reasons"] == ["rollout_failed"]
            assert restarted.sample("dora_failure_active", **labels) == 1

            # killed while the failure is open: it is neither lost nor counted twice
            restarted.kill9()
            restarted.restart()
            assert restarted.sample("dora_failure_active", **labels) == 1
            assert app_keys(restarted, ns)["failed_changes"] == 1
            got = restarted.app_deployments(ns)
            assert len(got) == 3 and got[2]["restored_at"] is None

            # fixed forward while it watches again
            space.apply(api("3.0.1"))
            space.rollout_status("deployment/api")
            for exp in (steady, restarted):
                wait_settled(exp, ns, 4)

                def cleared(e: Exporter = exp) -> bool:
                    return e.sample("dora_failure_active", **labels) == 0

                exp.wait_for(cleared, 20)
            assert restarted.starts == 5

            want = [
                expect("1.0.0"),
                expect("2.0.0"),
                expect("3.0.0", "failed", failure_reasons=["rollout_failed"], restored=True),
                expect("3.0.1", rework=True),
            ]
            assert summaries(steady.report(), ns) == want
            assert summaries(restarted.report(), ns) == want
            assert app_keys(restarted, ns) == app_keys(steady, ns)
            assert app_keys(steady, ns) == {
                "deployments": 4,
                "successful_deployments": 3,
                "failed_changes": 1,
                "rework_deployments": 1,
            }
            for window in ("1d", "30d"):
                for name in ("dora_deployment_frequency_per_day", "dora_change_failure_rate"):
                    assert restarted.sample(name, window=window, **labels) == pytest.approx(
                        steady.sample(name, window=window, **labels)
                    ), (name, window)
            assert restarted.sample(
                "dora_time_to_restore_median_seconds", window="30d", **labels
            ) == pytest.approx(
                steady.sample("dora_time_to_restore_median_seconds", window="30d", **labels),
                abs=1.5,
            )

            # no state file: history rebuilt from the ReplicaSets alone still counts all four
            # (it cannot know that 3.0.0 failed: past revisions count as succeeded, README)
            revisions = sorted(
                int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                for rs in space.get("replicasets", "-l", "app=api")["items"]
            )
            assert revisions == [1, 2, 3, 4]
            with Exporter(cp.kubeconfig, logdir=cp.logdir, name="stateless") as fresh:
                got = fresh.app_deployments(ns)
                assert [d["version"] for d in got] == ["1.0.0", "2.0.0", "3.0.0", "3.0.1"]
                assert all(d["history"] for d in got)
                assert app_keys(fresh, ns)["deployments"] == 4
                metrics = fresh.metrics()
                for window, days in (("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90)):
                    frequency = value(
                        metrics, "dora_deployment_frequency_per_day", window=window, **labels
                    )
                    assert frequency == pytest.approx(4 / days, abs=1e-6), window
                # counters count what this process saw finish: nothing yet
                succeeded = {"outcome": "succeeded", **labels}
                assert value(metrics, "dora_app_deployments_total", **succeeded) == 0
                assert value(metrics, "dora_workload_info", version="3.0.1", **labels) == 1
        finally:
            space.delete()


def test_fix_while_exporter_is_down(control_plane: ControlPlane, tmp_path: Path) -> None:
    """The failure is fixed while the exporter is dead (``rollout undo`` in one namespace, a
    new version in the other); after the restart it must report the restore."""
    cp = control_plane
    state = tmp_path / "daylight.sqlite"
    steady = Exporter(cp.kubeconfig, logdir=cp.logdir, name="steady")
    restarted = Exporter(cp.kubeconfig, state_file=state, logdir=cp.logdir, name="restarted")
    spaces: dict[str, KubeNamespace] = {}
    with steady, restarted:
        try:
            spaces = {fix: KubeNamespace(cp, fix) for fix in ("undo", "forward")}

            def broken(space: KubeNamespace) -> None:
                space.apply(api("1.0.0"))
                space.rollout_status("deployment/api")
                space.apply(api("2.0.0", behavior="never-ready"))
                for exp in (steady, restarted):

                    def failed(e: Exporter = exp) -> bool:
                        return (settled(e, space.name, 2) or [{}])[-1].get("outcome") == "failed"

                    exp.wait_for(failed, 40, f"2.0.0 failed in {space.name}")

            run_in_parallel({fix: partial(broken, space) for fix, space in spaces.items()})
            time.sleep(2.5)  # the state file is saved every second: it holds both failures
            restarted.kill9()
            spaces["undo"].kubectl("rollout", "undo", "deployment/api")
            spaces["forward"].apply(api("2.0.1"))
            for space in spaces.values():
                space.rollout_status("deployment/api")
            for space in spaces.values():
                wait_settled(steady, space.name, 3)
            restarted.restart()
            mismatches = {}
            for space in spaces.values():
                ns = space.name
                labels = {"namespace": ns, "app": "api"}

                def cleared(lb: dict[str, str] = labels) -> bool:
                    return steady.sample("dora_failure_active", **lb) == 0

                steady.wait_for(cleared)
                want = [summary(d) for d in steady.app_deployments(ns)]
                assert want[1]["restored"] and want[2]["rework"], want
                got = [summary(d) for d in restarted.app_deployments(ns)]
                active = restarted.sample("dora_failure_active", **labels)
                if got != want or active != 0:
                    mismatches[ns] = {"want": want, "got": got, "failure_active": active}
            assert not mismatches, json.dumps(mismatches, indent=1)
        finally:
            for space in spaces.values():
                space.delete()


def test_rollout_finished_while_down_keeps_its_finish_time(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """One rollout completes, another exceeds its progress deadline while the exporter is
    dead; after the restart their finish times are those the uninterrupted exporter saw."""
    cp = control_plane
    state = tmp_path / "daylight.sqlite"
    steady = Exporter(cp.kubeconfig, logdir=cp.logdir, name="steady")
    restarted = Exporter(cp.kubeconfig, state_file=state, logdir=cp.logdir, name="restarted")
    spaces: dict[str, KubeNamespace] = {}
    with steady, restarted:
        try:
            spaces = {case: KubeNamespace(cp, case) for case in ("completes", "deadline")}
            for space in spaces.values():
                space.apply(api("1.0.0"))
            for space in spaces.values():
                space.rollout_status("deployment/api")
                wait_settled(restarted, space.name, 1)
            spaces["completes"].apply(api("2.0.0", min_ready=3))
            spaces["deadline"].apply(api("2.0.0", behavior="never-ready"))
            for space in spaces.values():

                def rolling(s: KubeNamespace = space) -> bool:
                    return in_progress(restarted, s.name, "2.0.0")

                restarted.wait_for(rolling, 20)
            time.sleep(1.5)  # the state file (saved every second) has both rollouts in flight
            restarted.kill9()
            for space in spaces.values():
                wait_settled(steady, space.name, 2)
            time.sleep(8)  # the exporter stays down well after both rollouts ended
            restarted.restart()
            mismatches = {}
            for case, space in spaces.items():
                got = wait_settled(restarted, space.name, 2)
                want = steady.app_deployments(space.name)
                assert [d["outcome"] for d in got] == [d["outcome"] for d in want]
                finished = [seconds(d["finished_at"]) for d in got]
                expected = [seconds(d["finished_at"]) for d in want]
                if finished != pytest.approx(expected, abs=2.0):
                    mismatches[case] = {"restarted": finished, "steady": expected}
            assert not mismatches, json.dumps(mismatches, indent=1)
        finally:
            for space in spaces.values():
                space.delete()
