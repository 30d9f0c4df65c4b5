"""DORA semantics on the simulated cluster (design §3), one situation per rule.

The simulated cluster runs on a clock of its own: its controllers step through simulated
time, and every store event is recorded with the instant it happened at, as ``daylight
record`` would. The recording goes through ``daylight report --replay`` (or the model, for
metrics), so minutes of rollouts take milliseconds and the times in the assertions are exact.
The same situations driven with kubectl on the real control plane are in tests/e2e.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from exporter.app.cli import main
from exporter.app.commands import replay_into
from exporter.events.keys import COMMIT_TIME_KEYS
from exporter.events.timeutil import format_rfc3339, parse_rfc3339
from exporter.kube.resources import WATCHED
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from kubesim import SimCluster
from kubesim.podmodel import BEHAVIOR_ANNOTATION, NEVER_READY

T0 = parse_rfc3339("2026-11-02T09:00:00Z") or 0.0
APP = {"app.kubernetes.io/part-of": "shop"}
_encode = msgspec.json.Encoder().encode
_WATCHED = {r.plural for r in WATCHED}


class Cluster:
    """The simulated cluster on simulated time, recording what a watch would have seen."""

    def __init__(self, *, pod_ready_s: float = 2.0) -> None:
        self.now = T0
        self.sim = SimCluster(world=False, live=False, run_controllers=False,
                              pod_ready_s=pod_ready_s, clock=lambda: self.at)  # fmt: skip  # a call
        self.lines: list[bytes] = []
        self.sim.store.add_listener(self._record)
        self.sim.store.create(
            "namespaces",
            {"metadata": {"name": "shop", "labels": {"daylight.dev/environment": "production"}}},
        )
        self.sim.controllers.step(self.now)

    @property
    def at(self) -> float:
        stepped = self.sim.controllers.now
        return self.now if stepped is None else max(self.now, stepped)

    def _record(self, resource: str, event: Any) -> None:
        if resource in _WATCHED:
            line = {"time": format_rfc3339(self.at), "type": event.type, "object": event.entry.obj}
            self.lines.append(_encode(line))

    def wait(self, seconds: float) -> None:
        """Simulated time passes; the controllers do what they would have done meanwhile."""
        self.sim.controllers.advance(self.now + seconds)
        self.now += seconds

    def set_pod_ready_s(self, seconds: float) -> None:
        """How long the pods created from now on take to become ready (image pulls, a node
        pool that has to grow)."""
        self.sim.controllers.options.pod_ready_s = seconds

    # -- what a user does with kubectl ---------------------------------------------------------

    def apply(
        self, name: str, image: str, *, replicas: int = 2, annotations: dict[str, str] | None = None
    ) -> None:
        labels = {"app": name, **APP}
        template = {
            "metadata": {"labels": labels, "annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": "main", "image": image}]},
        }
        self.sim.store.create(
            "deployments",
            {
                "metadata": {"name": name, "namespace": "shop", "labels": labels},
                "spec": {
                    "replicas": replicas,
                    "progressDeadlineSeconds": 60,
                    "revisionHistoryLimit": 3,
                    "selector": {"matchLabels": {"app": name}},
                    "template": template,
                },
            },
        )

    def edit(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        self.sim.store.mutate("deployments", name, "shop", lambda o: change(o["spec"]))

    def set_image(self, name: str, image: str) -> None:
        """``kubectl set image``: the image changes, every annotation stays as it was."""

        def change(spec: dict[str, Any]) -> None:
            spec["template"]["spec"]["containers"][0]["image"] = image

        self.edit(name, change)

    def annotate_template(self, name: str, **annotations: str | None) -> None:
        def change(spec: dict[str, Any]) -> None:
            meta = spec["template"]["metadata"]
            current = meta.setdefault("annotations", {})
            for key, value in annotations.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value

        self.edit(name, change)

    def delete_pods(self, name: str, count: int) -> None:
        """A node goes away with ``count`` of the workload's pods."""
        pods = [
            p
            for p in self.sim.store.items("pods", "shop")
            if p["metadata"]["labels"].get("app") == name
        ]
        for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"]))[:count]:
            self.sim.store.delete("pods", pod["metadata"]["name"], "shop")

    # -- what Daylight makes of it -------------------------------------------------------------

    def write(self, path: Path) -> Path:
        path.write_bytes(b"".join(line + b"\n" for line in self.lines))
        return path

    def listed(self, path: Path) -> Path:
        """What an exporter started now would list: every object as it is, nothing of the
        events before (history)."""
        now = stamp(self.at)
        with path.open("wb") as out:
            for resource in WATCHED:
                for obj in self.sim.store.items(resource.plural):
                    out.write(_encode({"time": now, "type": "ADDED", "object": obj}) + b"\n")
        return path

    def report(self, path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
        args = [
            "report",
            "--replay",
            str(path),
            "--format",
            "json",
            "--now",
            stamp(self.at),
        ]
        assert main([*args, *flags]) == 0
        result: dict[str, Any] = json.loads(capsys.readouterr().out)
        return result


def stamp(epoch: float) -> str:
    text = format_rfc3339(epoch)
    assert text is not None
    return text


def t(report_time: str | None) -> float:
    """Seconds after T0 of a report timestamp."""
    value = parse_rfc3339(report_time)
    assert value is not None, report_time
    return value - T0


def deployments(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list(report["app_deployments"])


def test_recovery_of_a_rollout_that_never_completed_runs_from_its_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1.1 never gets ready: the deadline (60 s) fails it at about 60 s after its start; it is
    fixed forward at 300 s. Its users were hurt from its start, not from the deadline."""
    cluster = Cluster()
    cluster.apply("web", "web:1.0")
    cluster.wait(30)
    cluster.set_image("web", "web:1.1")
    cluster.annotate_template("web", **{BEHAVIOR_ANNOTATION: NEVER_READY})
    cluster.wait(270)
    cluster.set_image("web", "web:1.2")
    cluster.annotate_template("web", **{BEHAVIOR_ANNOTATION: None})
    cluster.wait(60)
    report = cluster.report(cluster.write(tmp_path / "log.jsonl"), capsys)
    first, failed, fix = deployments(report)
    assert failed["version"] == "1.1" and failed["failure_reasons"] == ["rollout_failed"]
    assert failed["finished_at"] is None or t(failed["finished_at"]) >= t(failed["started_at"]) + 60
    assert t(failed["restored_at"]) == t(fix["finished_at"])
    assert failed["time_to_restore_seconds"] == pytest.approx(
        t(failed["restored_at"]) - t(failed["started_at"])
    )
    assert failed["time_to_restore_seconds"] > 300 - 30  # from the start, not the deadline
    assert fix["rework"] and first["failure_reasons"] == []


def test_a_redeployed_commit_carries_no_lead_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kubectl set image`` leaves the template's commit-time annotation as it was: the new
    image would be dated by the old commit. It carries no lead time, stays out of the
    coverage denominator, and is marked so a team sees its annotations are stale."""
    cluster = Cluster()
    commit = stamp(T0 - 3600)
    cluster.apply("web", "web:1.0", annotations={COMMIT_TIME_KEYS[0]: commit})
    cluster.wait(60)
    cluster.set_image("web", "web:1.1")
    cluster.wait(60)
    report = cluster.report(cluster.write(tmp_path / "log.jsonl"), capsys)
    shipped, again = deployments(report)
    assert shipped["lead_time_seconds"] == pytest.approx(t(shipped["finished_at"]) + 3600)
    assert again["outcome"] == "succeeded" and again["lead_time_seconds"] is None
    assert [w["redeployed_commit"] for w in again["workloads"]] == [True]
    (app,) = report["apps"]
    assert app["successful_deployments"] == 2 and app["lead_time_coverage"] == 1.0
    assert app["lead_time_median_seconds"] == shipped["lead_time_seconds"]


def test_a_scale_up_waiting_five_minutes_for_its_pods_is_not_a_failed_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scaled from 2 to 6 while the node pool grows: the new pods take 5 minutes, far past
    --degraded-after (60 s). No capacity that was there went away."""
    cluster = Cluster()
    cluster.apply("web", "web:1.0", replicas=2)
    cluster.wait(60)
    cluster.set_pod_ready_s(300)
    cluster.edit("web", lambda spec: spec.update(replicas=6))
    cluster.wait(420)
    report = cluster.report(cluster.write(tmp_path / "log.jsonl"), capsys)
    (only,) = deployments(report)
    assert only["failure_reasons"] == [] and not only["failed_change"]
    status = cluster.sim.store.peek("deployments", "web", "shop")
    assert status is not None and status["status"].get("availableReplicas") == 6  # it did wait


def test_a_node_losing_half_the_pods_for_two_minutes_is_a_failed_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four pods, two lost with their node; the replacements take two minutes to get ready:
    two available is below min(4, 4) - maxUnavailable (1) for longer than 60 s."""
    cluster = Cluster()
    cluster.apply("web", "web:1.0", replicas=4)
    cluster.wait(60)
    cluster.set_pod_ready_s(120)
    lost_at = cluster.at
    cluster.delete_pods("web", 2)
    cluster.wait(240)
    report = cluster.report(cluster.write(tmp_path / "log.jsonl"), capsys)
    (only,) = deployments(report)
    assert only["failure_reasons"] == ["degraded"] and only["failed_change"]
    restored = t(only["restored_at"]) - (lost_at - T0)
    assert 100 < restored < 200  # back when the replacements were ready (~2 min)


def test_a_paused_deployment_starts_when_it_is_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paused, edited twice (image, then an env var), resumed two minutes later: one
    deployment, started at the resume, its duration without the paused time."""
    cluster = Cluster()
    cluster.apply("web", "web:1.0")
    cluster.wait(60)
    cluster.edit("web", lambda spec: spec.update(paused=True))
    cluster.wait(10)
    cluster.set_image("web", "web:1.1")
    cluster.wait(20)

    def add_env(spec: dict[str, Any]) -> None:
        spec["template"]["spec"]["containers"][0]["env"] = [{"name": "MODE", "value": "fast"}]

    cluster.edit("web", add_env)
    cluster.wait(90)
    resumed_at = cluster.at - T0
    cluster.edit("web", lambda spec: spec.update(paused=False))
    cluster.wait(60)
    report = cluster.report(cluster.write(tmp_path / "log.jsonl"), capsys)
    first, resumed = deployments(report)
    assert first["version"] == "1.0" and resumed["version"] == "1.1"
    assert t(resumed["started_at"]) == pytest.approx(resumed_at)
    (workload,) = resumed["workloads"]
    assert t(workload["finished_at"]) - t(workload["started_at"]) < 30  # not the 2 paused min


def test_truncated_history_is_said_and_its_rollback_restores_with_a_real_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """revisionHistoryLimit 3: an exporter started after six revisions sees only the last
    four ReplicaSets (current + 3). History is complete only from the oldest one kept; the
    undo among them restores the change it undid when its ReplicaSet was scaled away."""
    cluster = Cluster()
    cluster.apply("web", "web:1.0")
    for index, version in enumerate(("1.1", "1.2", "1.3", "1.4")):
        cluster.wait(3600)
        cluster.set_image("web", f"web:{version}")
        if index == 2:
            cluster.wait(600)
            cluster.set_image("web", "web:1.2")  # kubectl rollout undo, 10 minutes later
    cluster.wait(3600)
    replicasets = sorted(
        cluster.sim.store.items("replicasets", "shop"),
        key=lambda rs: str(rs["metadata"]["creationTimestamp"]),
    )
    assert len(replicasets) == 4  # the controller pruned 1.0
    report = cluster.report(cluster.listed(tmp_path / "listed.jsonl"), capsys)
    (app,) = report["apps"]
    oldest = t(replicasets[0]["metadata"]["creationTimestamp"])
    assert t(app["history_complete_since"]) == oldest
    assert app["window_complete"] is False
    by_version = {d["version"]: d for d in deployments(report) if not d["rollback"]}
    victim = by_version["1.3"]
    assert victim["failure_reasons"] == ["rollback"]
    assert 600 <= victim["time_to_restore_seconds"] <= 660  # the undo took seconds
    undo = next(d for d in deployments(report) if d["rollback"])
    assert undo["rework"]


def test_two_deployments_naming_one_workload_are_one_series(tmp_path: Path) -> None:
    """Blue and green Deployments both say ``keptn.sh/workload: web``: one workload, so one
    series per outcome with both counted, and one info series with the version deployed last."""
    cluster = Cluster()
    cluster.apply("web-blue", "web:1.0", annotations={"keptn.sh/workload": "web"})
    cluster.wait(60)
    cluster.apply("web-green", "web:1.1", annotations={"keptn.sh/workload": "web"})
    cluster.wait(60)
    cluster.set_image("web-blue", "web:1.2")
    cluster.wait(60)
    model = DoraModel()
    last = replay_into(model, str(cluster.write(tmp_path / "log.jsonl"))).last
    assert last is not None
    text = MetricsRenderer(model).render(last).decode()
    succeeded = [ln for ln in text.splitlines() if ln.startswith("dora_deployments_total{")
                 and 'outcome="succeeded"' in ln]  # fmt: skip  # one filter
    assert len(succeeded) == 1 and 'workload="web"' in succeeded[0]
    assert succeeded[0].endswith(" 3")
    info = [ln for ln in text.splitlines() if ln.startswith("dora_workload_info{")]
    assert len(info) == 1 and 'version="1.2"' in info[0]
    durations = [
        ln for ln in text.splitlines() if ln.startswith("dora_deployment_duration_seconds_count{")
    ]
    assert len(durations) == 1 and durations[0].endswith(" 3")
