"""Degradation is lost capacity (design §3), in the three sequences the real control plane
showed the first reading of the rule getting wrong (tests/e2e/test_semantics.py):

- a scale-down, then a scale-up back to the deployed size waiting for a node: not a loss;
- a scale-up that completed, then a node losing half the pods: a loss;
- pods lost while a scale-up waits: dated from the loss, not from when the scale-up made
  the Deployment unavailable.

The floor is what the workload last had in full: at its completion, or after a scale since.
Statuses here are the Deployment controller's: ``Available`` is ``availableReplicas >=
replicas - maxUnavailable`` (25%, rounded down), its transition time kept while it holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.app.cli import main
from tests.scenario import Deployment, Log, namespace, pod_template, ts

LABELS = {"app": "web"}


def deployed(log: Log, replicas: int) -> Deployment:
    """web:1.0 rolled out with ``replicas`` pods, complete at 20 s."""
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    d = Deployment(log, "shop", "web", {}, at=0, replicas=replicas)
    d.set_template(0, pod_template("registry.example/web:1.0", LABELS))
    d.controller_rolls(1, "b000000001")
    d.complete(20)
    return d


def observed(d: Deployment, at: float, available: int) -> None:
    """The controller's status with ``available`` pods of the desired ones (a scale, pods lost
    or back), every pod of the current ReplicaSet."""
    desired = d.obj["spec"]["replicas"]
    status = d.obj["status"]
    up = available >= desired - desired // 4
    condition = status["conditions"][0]
    if (condition["status"] == "True") != up:
        condition = {
            **condition,
            "status": "True" if up else "False",
            "reason": "MinimumReplicasAvailable" if up else "MinimumReplicasUnavailable",
            "lastTransitionTime": ts(at),
        }
    status.update(
        observedGeneration=d.generation,
        replicas=desired,
        updatedReplicas=desired,
        readyReplicas=available,
        availableReplicas=available,
        conditions=[{**condition, "lastUpdateTime": ts(at)}, *status["conditions"][1:]],
    )
    d.log.emit(at, "MODIFIED", d.obj)


def scaled(d: Deployment, at: float, replicas: int, available: int) -> None:
    """``kubectl scale``: the spec, then the controller's status."""
    d.scale(at, replicas)
    observed(d, at + 1, available)


def report(log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    path = log.write(tmp_path / "capacity.jsonl")
    assert main(["report", "--replay", str(path), "--format", "json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_a_scale_up_back_to_the_deployed_size_after_a_scale_down_is_not_degradation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Log()
    d = deployed(log, replicas=4)
    scaled(d, 100, 2, available=2)  # the night: two pods are enough
    scaled(d, 200, 4, available=2)  # the morning: two more wait for a node for 400 s
    observed(d, 600, available=4)
    (only,) = report(log, tmp_path, capsys)["app_deployments"]
    assert only["failure_reasons"] == [] and only["restored_at"] is None


def test_losing_half_the_pods_after_a_completed_scale_up_is_degradation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Log()
    d = deployed(log, replicas=2)
    scaled(d, 100, 4, available=2)  # two new pods wait for a node
    observed(d, 150, available=4)  # the node came: four pods in full
    observed(d, 300, available=2)  # a node is drained: half of them lost for 200 s
    observed(d, 500, available=4)
    (only,) = report(log, tmp_path, capsys)["app_deployments"]
    assert only["failure_reasons"] == ["degraded"]
    assert only["restored_at"] == ts(500)
    assert only["time_to_restore_seconds"] == 500.0 - 20.0


def test_pods_lost_while_a_scale_up_waits_are_degraded_only_after_degraded_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Log()
    d = deployed(log, replicas=4)
    scaled(d, 100, 6, available=4)  # Available=False from 101: two new pods wait
    observed(d, 400, available=2)  # two of the four lost for 30 s: under --degraded-after
    observed(d, 430, available=4)
    observed(d, 800, available=2)  # lost again, for 200 s: degraded
    observed(d, 1000, available=6)
    (only,) = report(log, tmp_path, capsys)["app_deployments"]
    assert only["failure_reasons"] == ["degraded"]
    assert only["restored_at"] == ts(1000)
    assert only["time_to_restore_seconds"] == 1000.0 - 20.0


def test_started_while_a_scale_up_waits_is_not_degradation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Daylight (re)starts while two new pods wait for a node: what the workload had in full
    before is unknown, so the pods it has at first sight are the floor, not the desired six."""
    before = Log()
    d = deployed(before, replicas=4)
    scaled(d, 100, 6, available=4)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for line in before.lines:
        last[(line["object"]["kind"], line["object"]["metadata"]["name"])] = line
    after = Log(rv=before.rv)
    order = {"Namespace": 0, "ReplicaSet": 1, "Deployment": 2}
    for line in sorted(last.values(), key=lambda ln: order[ln["object"]["kind"]]):
        after.lines.append({**line, "time": ts(200), "type": "ADDED"})
    d.log = after
    observed(d, 600, available=6)  # the node came 400 s later
    observed(d, 700, available=3)  # then a node is drained: half of six lost for 200 s
    observed(d, 900, available=6)
    (only,) = report(after, tmp_path, capsys)["app_deployments"]

    assert only["history"] and only["failure_reasons"] == ["degraded"]
    assert only["restored_at"] == ts(900)
