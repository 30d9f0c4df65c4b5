"""Failed changes, restore, rework and lead time from hand-written logs (design §3, issue 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.app.cli import main
from tests.scenario import Deployment, Log, namespace, pod_of, pod_template, set_available, ts

LABELS = {"app": "api", "app.kubernetes.io/name": "api"}


def api(version: str, **annotations: str) -> dict[str, Any]:
    return pod_template(f"registry.example/api:{version}", LABELS, annotations or None)


def build_failure_log() -> Log:
    log = Log()
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    d = Deployment(log, "shop", "api", {}, at=0)
    # 1.0 carries its commit time as an annotation: lead time 3600 + 20 s
    d.set_template(0, api("1.0", **{"daylight.dev/commit-time": ts(-3600)}))
    d.controller_rolls(1, "a000000001")
    d.complete(20)
    # CI registers 1.1 before the rollout; a pod of 1.1 crash-loops after it completed
    log.side(90, "CHANGE", {"commit_sha": "abc1234", "commit_time": ts(50), "version": "1.1",
                            "namespace": "shop"})  # fmt: skip  # a table
    d.set_template(100, api("1.1"))
    d.controller_rolls(101, "a000000002")
    d.complete(130)
    log.emit(150, "ADDED", pod_of(d, "a000000002", 0, 150))
    log.emit(200, "MODIFIED", pod_of(d, "a000000002", 0, 150, restarts=3, crashloop=True))
    # fix forward with 1.2; the crash-looping pod goes away after the rollout: restored
    d.set_template(300, api("1.2"))
    d.controller_rolls(301, "a000000003")
    d.complete(330)
    log.emit(331, "DELETED", pod_of(d, "a000000002", 0, 150, restarts=5, crashloop=True))
    # 1.2 degrades for longer than --degraded-after (60 s) and recovers without a deployment
    set_available(d, 1000, False)
    set_available(d, 1100, True)
    # 1.3: an incident fires and resolves; its commit is registered only afterwards
    d.set_template(1500, api("1.3"))
    d.controller_rolls(1501, "a000000004")
    d.complete(1530)
    alert = {"status": "firing", "labels": {"alertname": "HighErrorRate", "namespace": "shop",
             "app": "api"}, "fingerprint": "f00d", "startsAt": ts(2000)}  # fmt: skip  # a table
    log.side(2000, "ALERT", alert)
    log.side(2001, "ALERT", {**alert, "labels": {"alertname": "X", "namespace": "elsewhere"},
                             "fingerprint": "beef"})  # fmt: skip  # a table
    log.side(2600, "ALERT", {**alert, "status": "resolved"})
    log.side(3000, "CHANGE", {"commit_sha": "def5678", "commit_time": ts(1400),
                              "version": "1.3", "app": "api"})  # fmt: skip  # a table
    # bad input in the log is skipped, not fatal
    log.side(3001, "CHANGE", {"commit_sha": "nothex!", "commit_time": ts(1400)})
    log.side(3002, "CHANGE", {"commit_sha": "abcdef1", "commit_time": "2199-01-01T00:00:00Z"})
    return log


def report_for(log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    path = log.write(tmp_path / "failures.jsonl")
    assert main(["report", "--replay", str(path), "--format", "json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_every_failure_reason_restore_and_rework(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = report_for(build_failure_log(), tmp_path, capsys)
    rows = [
        (
            d["version"],
            d["outcome"],
            d["failure_reasons"],
            d["restored_at"],
            d["time_to_restore_seconds"],
            d["rework"],
            d["lead_time_seconds"],
        )
        for d in report["app_deployments"]
    ]
    assert rows == [
        ("1.0", "succeeded", [], None, None, False, 3620.0),
        ("1.1", "succeeded", ["crashloop"], ts(331), 201.0, False, 80.0),
        ("1.2", "succeeded", ["degraded"], ts(1100), 1100.0 - 330.0, True, None),
        ("1.3", "succeeded", ["incident"], ts(2600), 2600.0 - 1530.0, False, 130.0),
    ]
    (app,) = report["apps"]
    assert app["failed_changes"] == 3
    assert app["change_failure_rate"] == pytest.approx(0.75)
    assert app["time_to_restore_median_seconds"] == 770.0
    assert app["rework_deployments"] == 1
    assert app["lead_time_median_seconds"] == pytest.approx(130.0)
    assert app["lead_time_coverage"] == pytest.approx(0.75)  # 1.2 has no known commit
    assert app["levels"] == {
        "deployment_frequency": "medium",  # 4 in 30 days: under once a week
        "lead_time": "elite",
        "change_failure_rate": "low",
        "time_to_restore": "elite",
    }


def test_failed_rollout_restored_by_rollback_is_rework(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.test_replay_core import build_core_log

    report = report_for(build_core_log(), tmp_path, capsys)
    failed = report["app_deployments"][3]
    rollback = report["app_deployments"][4]
    assert failed["failure_reasons"] == ["rollout_failed", "rollback"]
    assert failed["restored_at"] == ts(1130)
    # it never completed (progress deadline): recovery is measured from its start (design §3)
    assert failed["started_at"] == ts(400) and failed["finished_at"] == ts(1000)
    assert failed["time_to_restore_seconds"] == 730.0
    assert rollback["rework"] is True and rollback["lead_time_seconds"] is None
