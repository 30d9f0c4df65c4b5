"""Task Jobs as the exporter reads them: which Jobs are tasks, their phase and outcome, and
how a failed post-deployment task reaches the ledger (once, also across restarts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from exporter.checks.records import CheckLedger, CheckOutcome, CheckStats
from exporter.checks.tasks import TaskResults, job_outcome, task_job
from exporter.events.envelope import ObjectEvent
from exporter.events.objects import Job
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from tests.scenario import T0, Deployment, Log, pod_template, ts


def job(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    conditions: list[dict[str, str]] | None = None,
    created: float = 100.0,
    owner_uid: str = "",
) -> Job:
    body: dict[str, Any] = {
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "creationTimestamp": ts(created),
            "labels": labels or {},
            "annotations": annotations or {},
            "ownerReferences": [{"kind": "Deployment", "name": "api", "uid": owner_uid}]
            if owner_uid
            else [],
        },
        "status": {"conditions": conditions or []},
    }
    return msgspec.json.decode(json.dumps(body), type=Job)


def failed(at: float) -> list[dict[str, str]]:
    return [
        {
            "type": "Failed",
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "lastTransitionTime": ts(at),
        }
    ]


def test_keptn_and_daylight_task_jobs_are_recognised() -> None:
    keptn_job = job(
        "post-smoke-12345-abcde",
        annotations={
            "keptn.sh/app": "shop",
            "keptn.sh/workload": "api",
            "keptn.sh/version": "1.2",
            "keptn.sh/task-name": "post-smoke-12345",
        },
    )
    info = task_job(keptn_job)
    assert info is not None
    assert (info.phase, info.task, info.app, info.object_type) == (
        "post",
        "smoke",
        "shop",
        "Workload",
    )
    ours = job(
        "x",
        labels={
            "keptn.sh/app": "shop-label",
            "keptn.sh/task-name": "smoke",
            "daylight.dev/task-phase": "pre",
            "daylight.dev/task-object": "app",
        },
        annotations={"keptn.sh/app": "shop app (exact)"},
    )
    info = task_job(ours)
    assert info is not None
    assert (info.phase, info.app, info.object_type) == ("pre", "shop app (exact)", "App")
    assert task_job(job("backup-nightly", labels={"app": "backup"})) is None
    odd = task_job(job("y", annotations={"keptn.sh/app": "a", "keptn.sh/task-name": "t"}))
    assert odd is not None and odd.phase == "unknown"


def test_outcomes_from_conditions() -> None:
    assert job_outcome(job("a"))[0] == CheckOutcome.RUNNING
    done = job(
        "b", conditions=[{"type": "Complete", "status": "True", "lastTransitionTime": ts(5)}]
    )
    assert job_outcome(done)[:2] == (CheckOutcome.SUCCEEDED, "")
    deadline = job(
        "c", conditions=[{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]
    )
    assert job_outcome(deadline)[:2] == (CheckOutcome.FAILED, "timeout")
    not_yet = job("d", conditions=[{"type": "Failed", "status": "False"}])
    assert job_outcome(not_yet)[0] == CheckOutcome.RUNNING


def at(seconds: float) -> float:
    return T0.timestamp() + seconds


def model_with_deployment(tmp_path: Path) -> tuple[DoraModel, str]:
    log = Log()
    api = Deployment(log, "shop", "api", {"app": "api"}, at=10)
    api.set_template(10, pod_template("shop/api:1.0", {"app": "api"}))
    api.controller_rolls(11, "aaa")
    api.complete(40)
    model = DoraModel()
    for event in eventlog.read(log.write(tmp_path / "log.jsonl")):
        assert isinstance(event, ObjectEvent)
        model.apply(event)
    model.advance(at(50))
    return model, api.uid


LABELS = {"keptn.sh/app": "api", "keptn.sh/task-name": "smoke", "daylight.dev/task-phase": "post"}


def test_a_failed_post_task_marks_the_deployment_once(tmp_path: Path) -> None:
    model, uid = model_with_deployment(tmp_path)
    stats = CheckStats()
    results = TaskResults(model, CheckLedger(), stats)
    running = job("post-smoke", labels=LABELS, owner_uid=uid, created=45)
    results.on_job(running, "ADDED", at(45.5))
    broken = job("post-smoke", labels=LABELS, owner_uid=uid, created=45, conditions=failed(60))
    results.on_job(broken, "MODIFIED", at(61))
    results.on_job(broken, "MODIFIED", at(62))  # repeated status updates count once
    (group,) = model.apps[next(iter(model.apps))].deployments
    assert group.failure_reasons == ["task_failed"]
    assert group.failed_change_at == at(60)  # the Job's failure time, not the receive time
    assert stats.tasks == {("post", "failed"): 1}
    assert stats.task_failures == {"job_failed": 1}
    assert model.stats.app(group.app).change_failures == {"task_failed": 1}
    # an exporter restart lists the same Job again: no new count, no second mark
    restarted = TaskResults(model, CheckLedger(), CheckStats())
    restarted.on_job(broken, "ADDED", at(500), initial=True)
    assert model.stats.app(group.app).change_failures == {"task_failed": 1}
    assert restarted.stats.tasks == {}


def test_failed_tasks_found_at_start_up_are_history(tmp_path: Path) -> None:
    model, uid = model_with_deployment(tmp_path)
    results = TaskResults(model, CheckLedger(), CheckStats())
    broken = job("post-smoke", labels=LABELS, owner_uid=uid, created=45, conditions=failed(60))
    results.on_job(broken, "ADDED", at(70), initial=True)
    (group,) = model.apps[next(iter(model.apps))].deployments
    assert group.failure_reasons == ["task_failed"]  # the failure happened: it is recorded
    assert results.stats.tasks == {}  # but not counted as observed by this process


def test_pre_task_failures_and_unknown_phases_never_fail_a_change(tmp_path: Path) -> None:
    model, uid = model_with_deployment(tmp_path)
    results = TaskResults(model, CheckLedger(), CheckStats())
    pre = {**LABELS, "daylight.dev/task-phase": "pre"}
    results.on_job(
        job("pre-smoke", labels=pre, owner_uid=uid, conditions=failed(60)), "ADDED", at(61)
    )
    odd = {"keptn.sh/app": "api", "keptn.sh/task-name": "cleanup"}
    results.on_job(job("odd", labels=odd, owner_uid=uid, conditions=failed(60)), "ADDED", at(61))
    (group,) = model.apps[next(iter(model.apps))].deployments
    assert group.failure_reasons == []
    assert results.stats.tasks == {("pre", "failed"): 1, ("unknown", "failed"): 1}
