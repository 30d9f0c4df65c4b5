"""KeptnApp: the app deployment is a new KeptnApp version becoming fully deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.app.cli import main
from tests.scenario import Deployment, Log, namespace, pod_template, ts


def keptn_app(version: str, revision: int, workloads: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnApp",
        "metadata": {"name": "shop", "namespace": "store", "uid": "uid-keptnapp-shop",
                     "creationTimestamp": ts(0), "generation": revision},
        "spec": {"version": version, "revision": revision,
                 "workloads": [{"name": n, "version": v} for n, v in workloads.items()]},
    }  # fmt: skip  # a table


def template(name: str, version: str) -> dict[str, Any]:
    labels = {"app": name, "app.kubernetes.io/name": name, "app.kubernetes.io/version": version}
    return pod_template(f"registry.example/{name}:{version}", labels)


def test_keptn_app_versions_are_the_app_deployments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Log()
    log.emit(0, "ADDED", namespace("store", 0))
    log.emit(0, "ADDED", keptn_app("1.0", 1, {"web": "1", "db": "1"}))
    web = Deployment(log, "store", "web", {}, at=0)
    db = Deployment(log, "store", "db", {}, at=0)
    web.set_template(0, template("web", "1"))
    web.controller_rolls(1, "w000000001")
    # db starts after the grouping window but belongs to the same KeptnApp version
    db.set_template(100, template("db", "1"))
    db.controller_rolls(101, "d000000001")
    web.complete(20)
    db.complete(130)
    log.emit(200, "MODIFIED", keptn_app("1.1", 2, {"web": "2", "db": "1"}))
    web.set_template(201, template("web", "2"))
    web.controller_rolls(202, "w000000002")
    web.complete(230)
    path = log.write(tmp_path / "keptn.jsonl")
    assert main(["report", "--replay", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = [
        (d["app"], d["version"], d["started_at"], d["finished_at"],
         sorted(w["workload"] for w in d["workloads"]))
        for d in report["app_deployments"]
    ]  # fmt: skip  # a table
    assert rows == [
        ("shop", "1.0", ts(0), ts(130), ["db", "web"]),
        ("shop", "1.1", ts(201), ts(230), ["web"]),
    ]
