"""Task outcomes, read back from the Job watch (in the exporter; read-only).

A Job is a task Job when it names its app and task: ``keptn.sh/app`` and ``keptn.sh/task-name``
as annotations (Keptn's own Jobs, and Daylight's launcher) or labels. Its phase is the
launcher's ``daylight.dev/task-phase`` label, else the ``pre-``/``post-`` prefix of Keptn's
task names. The outcome comes from the Job's conditions (``Complete``/``SuccessCriteriaMet``,
``Failed``/``FailureTarget``); a launcher record of a task that could not run at all (label
``daylight.dev/task-result: invalid``, suspended, never has pods) is a failure with the
reason written on it.

A failed *post*-deployment task makes the deployment it belongs to a failed change, reason
``task_failed`` (``DoraModel.task_failed``). Jobs found at start-up are history: they mark a
deployment only if the ledger does not already know the failure and no later deployment
exists (so a restart neither re-opens a restored failure nor double-counts it), and they are
not counted in ``daylight_tasks_total`` (counters count what this process observed).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass

from exporter.checks import keptn
from exporter.checks.records import CheckLedger, CheckOutcome, CheckRecord, CheckStats
from exporter.events import keys
from exporter.events.objects import Job
from exporter.events.timeutil import parse_rfc3339
from exporter.model.engine import DoraModel
from exporter.model.records import AppDeployment, AppKey, WorkloadKey

log = logging.getLogger("daylight.tasks")
MAX_SEEN = 50_000
_KEPTN_SUFFIX = re.compile(r"-\d{5}$")


@dataclass(frozen=True, slots=True)
class TaskJob:
    namespace: str
    job: str
    uid: str
    app: str
    workload: str
    version: str
    task: str  # the task definition's name
    phase: str  # "pre" | "post" | "unknown"
    object_type: str  # "Workload" | "App"
    owner_kind: str
    owner_uid: str
    revision: str
    invalid: bool
    failure: str


def task_job(job: Job) -> TaskJob | None:
    """The task a Job runs, or None for any other Job."""
    meta = job.metadata

    def value(key: str) -> str:
        return meta.annotations.get(key) or meta.labels.get(key) or ""

    task, app = value(keys.TASK_NAME_KEY), value(keys.APP_KEY)
    if not task or not app:
        return None
    phase = meta.labels.get(keys.PHASE_LABEL, "")
    if phase not in keptn.PHASES:
        phase = "unknown"
        for candidate in keptn.PHASES:  # Keptn's KeptnTask names: <phase>-<definition>-<5 digits>
            if task.startswith(candidate + "-") and not task.startswith(candidate + "-eval"):
                phase = candidate
                task = _KEPTN_SUFFIX.sub("", task[len(candidate) + 1 :]) or task
                break
    workload = value(keys.WORKLOAD_KEY)
    object_type = meta.labels.get(keys.OBJECT_LABEL, "")
    object_type = (
        "App" if object_type == "app" or (not object_type and not workload) else "Workload"
    )
    owner = next((o for o in meta.owner_references if o.uid), None)
    return TaskJob(
        namespace=meta.namespace,
        job=meta.name,
        uid=meta.uid,
        app=app,
        workload=workload,
        version=value(keys.VERSION_KEY),
        task=task,
        phase=phase,
        object_type=object_type,
        owner_kind=owner.kind if owner else "",
        owner_uid=owner.uid if owner else "",
        revision=meta.annotations.get(keys.TASK_REVISION_ANNOTATION, ""),
        invalid=meta.labels.get(keys.RESULT_LABEL) == "invalid",
        failure=meta.annotations.get(keys.FAILURE_ANNOTATION, ""),
    )


def job_outcome(job: Job) -> tuple[CheckOutcome, str, float | None]:
    """(outcome, reason, when) from the Job's conditions; outcome "running" while undecided."""
    for condition in job.status.conditions:
        if condition.status != "True":
            continue
        when = parse_rfc3339(condition.last_transition_time)
        if condition.type in ("Complete", "SuccessCriteriaMet"):
            return CheckOutcome.SUCCEEDED, "", when
        if condition.type in ("Failed", "FailureTarget"):
            reason = "timeout" if condition.reason == "DeadlineExceeded" else "job_failed"
            return CheckOutcome.FAILED, reason, when
    return CheckOutcome.RUNNING, "", None


class TaskResults:
    """Feeds task Job outcomes into the model, the counters and the check ledger."""

    def __init__(self, model: DoraModel, ledger: CheckLedger, stats: CheckStats) -> None:
        self.model = model
        self.ledger = ledger
        self.stats = stats
        self._seen: OrderedDict[str, CheckOutcome] = OrderedDict()

    def on_job(self, job: Job, event_type: str, now: float, initial: bool = False) -> None:
        if event_type == "DELETED":
            return  # the outcome (if any) was taken when it finished; a relist must not recount
        info = task_job(job)
        if info is None:
            return
        if info.invalid:
            reason, _, message = info.failure.partition(":")
            outcome, reason, when = CheckOutcome.FAILED, reason.strip() or "invalid_task", None
            message = message.strip()
        else:
            outcome, reason, when = job_outcome(job)
            message = reason
        created = parse_rfc3339(job.metadata.creation_timestamp) or now
        at = min(when if when is not None else now, now)
        previous = self._seen.get(info.uid)
        if previous in (CheckOutcome.SUCCEEDED, CheckOutcome.FAILED):
            return
        self._seen[info.uid] = outcome
        self._seen.move_to_end(info.uid)
        while len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)
        group, workload = self._deployment(info, created)
        record = self.ledger.put(
            group,
            CheckRecord(
                "task",
                info.phase if info.phase in keptn.PHASES else "post",
                info.task,
                info.object_type,
                workload,
                created,
                job=info.job,
            ),
        )
        if outcome == CheckOutcome.RUNNING:
            return
        record.outcome, record.finished_at = outcome, max(at, created)
        record.reason, record.message = reason, message
        if not initial:
            self.stats.tasks[(info.phase, outcome)] += 1
            if outcome == CheckOutcome.FAILED:
                self.stats.task_failures[reason] += 1
        if outcome == CheckOutcome.FAILED:
            log.info(
                "task %s (%s, job %s/%s) failed: %s %s",
                info.task,
                info.phase,
                info.namespace,
                info.job,
                reason,
                message,
            )
            if info.phase == "post":
                # condition times have one-second resolution: never let that move the failure
                # before the start of the deployment the task ran for
                floor = group.started_at if group is not None and not group.history else created
                self._failed_change(info, max(at, created, floor), initial)

    def _deployment(
        self, info: TaskJob, created: float
    ) -> tuple[AppDeployment | None, WorkloadKey | None]:
        """The app deployment (and workload) the task ran for, if still known."""
        candidates = self.model.deployments_of(info.owner_uid) if info.owner_uid else ()
        chosen = next(
            (w for w in candidates if info.revision and w.revision == info.revision), None
        ) or next((w for w in candidates if w.version == info.version), None)
        if chosen is not None and chosen.group is not None:
            return chosen.group, chosen.key
        app = AppKey(self.model.environment(info.namespace), info.namespace, info.app)
        group = self.model.latest_deployment(app, created)
        workload = None
        if group is not None and info.object_type == "Workload":
            workload = next((w.key for w in group.workloads if w.workload == info.workload), None)
        return group, workload

    def _failed_change(self, info: TaskJob, at: float, initial: bool) -> None:
        app = AppKey(self.model.environment(info.namespace), info.namespace, info.app)
        if initial:
            target = self.model.latest_deployment(app, at)
            newest = self.model.latest_deployment(app, float("inf"))
            if target is None or target is not newest or "task_failed" in target.failure_reasons:
                return
        if self.model.task_failed(app, "task", info.task, at, post_deployment=True):
            self.stats.failed_changes["task"] += 1
