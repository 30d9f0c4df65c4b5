"""`daylight report --replay` on a hand-written log: exactly the deployments design §3 defines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.app.cli import main
from tests.scenario import Deployment, Log, StatefulSet, namespace, pod_template, ts

SHOP = {"app.kubernetes.io/part-of": "shop"}


def web_template(version: str, **annotations: str) -> dict[str, Any]:
    labels = {"app": "web", "app.kubernetes.io/name": "web", **SHOP}
    return pod_template(f"registry.example/web:{version}", labels, annotations or None)


def db_template(version: str) -> dict[str, Any]:
    labels = {"app": "db", "app.kubernetes.io/name": "db", **SHOP}
    return pod_template(f"registry.example/db:{version}", labels)


def build_core_log() -> Log:
    log = Log()
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    web = Deployment(log, "shop", "web", {"team": "a"}, at=0)
    # 1. first rollout
    web.set_template(0, web_template("1.0"))
    web.controller_rolls(1, "aaa1111111")
    web.complete(20)
    # 2. a StatefulSet of the same app, outside the grouping window
    db = StatefulSet(log, "shop", "db", {}, at=50)
    db.set_template(50, db_template("1"))
    db.controller_rolls(51, "d1")
    db.complete(80)
    # 3. a new version
    web.set_template(100, web_template("1.1"))
    web.controller_rolls(101, "bbb2222222")
    web.complete(130)
    # 4. kubectl rollout restart: a new ReplicaSet, but not a deployment
    web.set_template(200, web_template("1.1", **{"kubectl.kubernetes.io/restartedAt": ts(200)}))
    web.controller_rolls(201, "ccc3333333")
    web.complete(220)
    # 5. scale only: not a deployment
    web.scale(300, 4)
    web.observe_only(301)
    # 6. a version that never becomes ready: failed by progress deadline
    web.set_template(400, web_template("1.2"))
    web.controller_rolls(401, "ddd4444444")
    web.stuck(402)
    web.deadline_exceeded(1000)
    # 7. kubectl rollout undo: back to the restarted 1.1 template (reuses its ReplicaSet)
    web.set_template(1100, web_template("1.1", **{"kubectl.kubernetes.io/restartedAt": ts(200)}))
    web.controller_rolls(1101, "ccc3333333")
    web.complete(1130)
    # 8. web and db together: one app deployment of two workloads
    web.set_template(2000, web_template("1.3"))
    db.set_template(2005, db_template("2"))
    web.controller_rolls(2001, "eee5555555")
    db.controller_rolls(2006, "d2")
    web.complete(2030)
    db.complete(2040)
    return log


def run_report(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main(["report", "--replay", str(path), "--format", "json", *extra]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def summary(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            d["app"],
            d["version"],
            d["started_at"],
            d["finished_at"],
            d["outcome"],
            d["failure_reasons"],
            sorted((w["workload"], w["kind"], w["version"], w["rollback"]) for w in d["workloads"]),
        )
        for d in report["app_deployments"]
    ]


def test_core_scenario_gives_exactly_the_design_deployments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build_core_log().write(tmp_path / "core.jsonl")
    report = run_report(path, capsys)
    combined = report["app_deployments"][-1]["version"]
    assert summary(report) == [
        ("shop", "1.0", ts(0), ts(20), "succeeded", [], [("web", "Deployment", "1.0", False)]),
        ("shop", "1", ts(50), ts(80), "succeeded", [], [("db", "StatefulSet", "1", False)]),
        ("shop", "1.1", ts(100), ts(130), "succeeded", [], [("web", "Deployment", "1.1", False)]),
        (
            "shop",
            "1.2",
            ts(400),
            ts(1000),
            "failed",
            ["rollout_failed", "rollback"],
            [("web", "Deployment", "1.2", False)],
        ),
        ("shop", "1.1", ts(1100), ts(1130), "succeeded", [], [("web", "Deployment", "1.1", True)]),
        (
            "shop",
            combined,
            ts(2000),
            ts(2040),
            "succeeded",
            [],
            [("db", "StatefulSet", "2", False), ("web", "Deployment", "1.3", False)],
        ),
    ]
    assert len(combined) == 10
    (app,) = report["apps"]
    assert (app["environment"], app["namespace"], app["app"]) == ("production", "shop", "shop")
    assert app["deployments"] == 6
    assert app["successful_deployments"] == 5
    assert app["failed_changes"] == 1
    assert app["change_failure_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert app["deployment_frequency_per_day"] == pytest.approx(5 / 30, abs=1e-4)


def test_replaying_twice_gives_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build_core_log().write(tmp_path / "core.jsonl")
    assert run_report(path, capsys) == run_report(path, capsys)


def test_duplicated_events_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = build_core_log()
    single = run_report(log.write(tmp_path / "a.jsonl"), capsys)
    doubled = Log(lines=[line for line in log.lines for _ in range(2)])
    assert run_report(doubled.write(tmp_path / "b.jsonl"), capsys) == single


def history_report(log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The report of an exporter started after the log: the final objects only, as listed."""
    last_state: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in log.lines:
        meta = line["object"]["metadata"]
        last_state[(line["object"]["kind"], meta.get("namespace", ""), meta["name"])] = line
    order = {"Namespace": 0, "ReplicaSet": 1, "ControllerRevision": 1}
    start = ts(max(5000.0, log.last_at + 1000.0))
    restarted = Log()
    for line in sorted(last_state.values(), key=lambda ln: order.get(ln["object"]["kind"], 2)):
        restarted.lines.append({**line, "time": start})
    return run_report(restarted.write(tmp_path / "restart.jsonl"), capsys, "--now", start)


def test_history_rebuilt_at_start_up_counts_every_deployment_the_cluster_keeps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh exporter sees only the final objects; ReplicaSet revisions are its history."""
    report = history_report(build_core_log(), tmp_path, capsys)
    deployments = report["app_deployments"]
    assert all(d["history"] for d in deployments)
    versions = [(d["version"], d["workloads"][0]["rollback"]) for d in deployments]
    # the restart (same fingerprint as the revision before) is not a deployment; the undo
    # to 1.1 is recognised as a rollback from revision-history; web 1.3 + db 2 group together
    assert [v for v, _ in versions[:5]] == ["1.0", "1", "1.1", "1.2", "1.1"]
    assert versions[4][1] is True
    assert len(deployments) == 6
    assert sorted(w["workload"] for w in deployments[5]["workloads"]) == ["db", "web"]
    (app,) = report["apps"]
    assert app["deployments"] == 6
    assert deployments[3]["failure_reasons"] == ["rollback"]


def test_a_rollback_in_history_is_restored_when_the_undone_replicaset_was_scaled_away(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The undo to 1.1 reuses an old ReplicaSet, so its start (its creation) says nothing; the
    controller's last write to the 1.2 ReplicaSet (scaled to 0 when the undo completed, 1130)
    dates the recovery, measured from 1.2's start since history does not know it finished."""
    deployments = history_report(build_core_log(), tmp_path, capsys)["app_deployments"]
    victim, undo = deployments[3], deployments[4]
    assert (victim["version"], victim["failure_reasons"]) == ("1.2", ["rollback"])
    assert victim["restored_at"] == ts(1130)
    assert victim["time_to_restore_seconds"] == 1130 - 401
    assert undo["rollback"] and undo["rework"]


def test_a_history_rollback_without_a_dated_scale_down_has_no_restore_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without managedFields (an API server that strips them) nothing dates the recovery: the
    failure is counted, its restore left unknown rather than zero."""
    log = build_core_log()
    for line in log.lines:
        line["object"]["metadata"].pop("managedFields", None)
    deployments = history_report(log, tmp_path, capsys)["app_deployments"]
    victim, undo = deployments[3], deployments[4]
    assert victim["failure_reasons"] == ["rollback"]
    assert victim["restored_at"] is None and victim["time_to_restore_seconds"] is None
    assert not undo["rework"]


def test_an_undo_long_after_the_change_is_not_a_failure_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The undo's own start is a lower bound (the reused ReplicaSet's creation); the scale-down
    of the undone one shows it came two days later, past the 24h failure window."""
    log = Log()
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    web = Deployment(log, "shop", "web", {}, at=0)
    web.set_template(0, web_template("1.0"))
    web.controller_rolls(1, "aaa1111111")
    web.complete(20)
    web.set_template(100, web_template("1.1"))
    web.controller_rolls(101, "bbb2222222")
    web.complete(130)
    web.set_template(172_800, web_template("1.0"))
    web.controller_rolls(172_801, "aaa1111111")
    web.complete(172_830)
    deployments = history_report(log, tmp_path, capsys)["app_deployments"]
    assert [d["version"] for d in deployments] == ["1.0", "1.1", "1.0"]
    assert deployments[1]["failure_reasons"] == [] and not deployments[2]["rework"]


def test_pruned_revisions_mark_the_history_incomplete_and_older_windows_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The garbage collector took revisions 1-2 (``revisionHistoryLimit``): history starts at
    revision 3, and a window reaching before it says so instead of under-counting."""
    log = Log()
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    web = Deployment(log, "shop", "web", {}, at=0)
    web.set_template(0, web_template("1.0"))
    for index, version in enumerate(("1.0", "1.1", "1.2", "1.3")):
        at = index * 86_400.0
        if index:
            web.set_template(at, web_template(version))
        web.controller_rolls(at + 1, f"{index}aa1111111")
        web.complete(at + 20)
    for name in list(web.replicasets)[:2]:
        log.emit(4 * 86_400.0, "DELETED", web.replicasets.pop(name))
    report = history_report(log, tmp_path, capsys)
    (app,) = report["apps"]
    assert [d["version"] for d in report["app_deployments"]] == ["1.2", "1.3"]
    assert app["history_complete_since"] == ts(2 * 86_400.0 + 1)
    assert app["window_complete"] is False  # 30 days back, history only reaches 2 days
    replay = tmp_path / "restart.jsonl"
    now = ts(4 * 86_400.0 + 1000)
    recent = run_report(replay, capsys, "--now", now, "--window", "2d")
    assert recent["apps"][0]["window_complete"] is True  # the last two days are fully known
    assert recent["apps"][0]["deployments"] == 1
    assert main(["report", "--replay", str(replay), "--now", now]) == 0
    assert "* history incomplete" in capsys.readouterr().out


def test_history_from_the_first_revision_is_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app,) = history_report(build_core_log(), tmp_path, capsys)["apps"]
    assert app["history_complete_since"] is None and app["window_complete"] is True
