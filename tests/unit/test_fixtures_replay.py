"""The recorded event logs of tests/fixtures/ replay to exactly the deployments that happened.

Each fixture is a ``daylight record`` of one scenario of tests/e2e/test_exporter_scenarios.py
on the real control plane (see tests/fixtures/README.md): real kube-controller-manager
behaviour, frozen. ``daylight report --replay F --format json`` must give the app deployments
listed here, in start order. Times depend on the recording; only their order and the time to
restore (restored - finished) are checked.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from exporter.app.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

Workload = tuple[str, str, str, str, str, bool, str | None]
"""(kind, name, version, revision, outcome, rollback, failure_reason)"""

Expected = tuple[str, str, str, list[str], bool, bool, bool, list[Workload]]
"""(app, version, outcome, failure_reasons, rollback, restored, rework, workloads)"""

EXPECTED: dict[str, list[Expected]] = {
    # first rollout, new version, rollout undo, rollout restart, scale, undo back to the
    # template before the restart (same fingerprint), then a last new version
    "deployment-lifecycle": [
        ("web", "1.0.0", "succeeded", [], False, False, False,
         [("Deployment", "web", "1.0.0", "1", "succeeded", False, None)]),
        ("web", "1.1.0", "succeeded", ["rollback"], False, True, False,
         [("Deployment", "web", "1.1.0", "2", "succeeded", False, None)]),
        ("web", "1.0.0", "succeeded", [], True, False, True,
         [("Deployment", "web", "1.0.0", "3", "succeeded", True, None)]),
        ("web", "1.2.0", "succeeded", [], False, False, False,
         [("Deployment", "web", "1.2.0", "6", "succeeded", False, None)]),
    ],
    # never-ready pods until progressDeadlineSeconds (10), then rollout undo
    "progress-deadline-rollback": [
        ("api", "1.0.0", "succeeded", [], False, False, False,
         [("Deployment", "api", "1.0.0", "1", "succeeded", False, None)]),
        ("api", "2.0.0", "failed", ["rollout_failed", "rollback"], False, True, False,
         [("Deployment", "api", "2.0.0", "2", "failed", False, "progress_deadline")]),
        ("api", "1.0.0", "succeeded", [], True, False, True,
         [("Deployment", "api", "1.0.0", "3", "succeeded", True, None)]),
    ],
    # a StatefulSet and a DaemonSet (two apps) created together, then both updated
    "statefulset-daemonset": [
        ("agent", "0.9", "succeeded", [], False, False, False,
         [("DaemonSet", "agent", "0.9", "1", "succeeded", False, None)]),
        ("db", "15.1", "succeeded", [], False, False, False,
         [("StatefulSet", "db", "15.1", "1", "succeeded", False, None)]),
        ("db", "15.2", "succeeded", [], False, False, False,
         [("StatefulSet", "db", "15.2", "2", "succeeded", False, None)]),
        ("agent", "1.0", "succeeded", [], False, False, False,
         [("DaemonSet", "agent", "1.0", "2", "succeeded", False, None)]),
    ],
    # three Deployments part-of "shop" applied together, then two of them updated together;
    # the app version of a multi-workload deployment is a hash of its workload versions
    "multi-workload-app": [
        ("shop", "244320c66e", "succeeded", [], False, False, False,
         [("Deployment", "cart", "2024.1", "1", "succeeded", False, None),
          ("Deployment", "checkout", "2024.1", "1", "succeeded", False, None),
          ("Deployment", "frontend", "2024.1", "1", "succeeded", False, None)]),
        ("shop", "587ec931a8", "succeeded", [], False, False, False,
         [("Deployment", "frontend", "2024.2", "2", "succeeded", False, None),
          ("Deployment", "cart", "2024.2", "2", "succeeded", False, None)]),
    ],
}  # fmt: skip  # a table
#: Per app: (deployments, successful deployments, failed changes, rework deployments).
EXPECTED_APPS: dict[str, dict[str, tuple[int, int, int, int]]] = {
    "deployment-lifecycle": {"web": (4, 4, 1, 1)},
    "progress-deadline-rollback": {"api": (3, 2, 1, 1)},
    "statefulset-daemonset": {"agent": (2, 2, 0, 0), "db": (2, 2, 0, 0)},
    "multi-workload-app": {"shop": (2, 2, 0, 0)},
}


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def replay(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["report", "--replay", str(path), "--format", "json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def as_expected(d: dict[str, Any]) -> Expected:
    workloads: list[Workload] = [
        (
            w["kind"],
            w["name"],
            w["version"],
            w["revision"],
            w["outcome"],
            w["rollback"],
            w["failure_reason"],
        )
        for w in d["workloads"]
    ]
    return (
        d["app"],
        d["version"],
        d["outcome"],
        d["failure_reasons"],
        d["rollback"],
        d["restored_at"] is not None,
        d["rework"],
        workloads,
    )


def test_every_fixture_is_covered() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.jsonl")) == sorted(EXPECTED)
    readme = (FIXTURES / "README.md").read_text()
    for name in EXPECTED:
        assert f"{name}.jsonl" in readme, f"{name} is not described in tests/fixtures/README.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_replays_to_the_recorded_deployments(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / f"{name}.jsonl"
    assert path.stat().st_size < 2 * 1024 * 1024
    report = replay(path, capsys)
    namespaces = {d["namespace"] for d in report["app_deployments"]}
    assert len(namespaces) == 1, namespaces  # one scenario per fixture
    got = report["app_deployments"]
    assert [as_expected(d) for d in got] == EXPECTED[name]
    apps = {
        a["app"]: (
            a["deployments"],
            a["successful_deployments"],
            a["failed_changes"],
            a["rework_deployments"],
        )
        for a in report["apps"]
    }
    assert apps == EXPECTED_APPS[name]
    for d in got:
        assert d["history"] is False  # recorded from before the namespace existed: all live
        assert d["environment"] == "production"
        assert seconds(d["started_at"]) <= seconds(d["finished_at"])
        for w in d["workloads"]:
            assert seconds(d["started_at"]) <= seconds(w["started_at"])
            assert seconds(w["finished_at"]) <= seconds(d["finished_at"]) + 0.001
        if d["restored_at"] is None:
            assert d["time_to_restore_seconds"] is None
        else:
            # design §3: from the finish of a deployment that completed, from the start of
            # one that never completed (the progress-deadline failure here)
            base = d["started_at"] if d["outcome"] == "failed" else d["finished_at"]
            assert d["time_to_restore_seconds"] == pytest.approx(
                seconds(d["restored_at"]) - seconds(base), abs=0.01
            )
            assert d["time_to_restore_seconds"] >= 0
    starts = [seconds(d["started_at"]) for d in got]
    assert starts == sorted(starts)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_replay_is_deterministic(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Two replays of the same log give the same report, ids and times included."""
    path = FIXTURES / f"{name}.jsonl"
    assert replay(path, capsys) == replay(path, capsys)
