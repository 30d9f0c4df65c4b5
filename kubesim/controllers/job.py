"""Job controller, enough for launcher tests: a Job succeeds or fails after a delay.

`daylight.sim/outcome: fail` (on the Job or its pod template) makes it fail with
BackoffLimitExceeded; `daylight.sim/duration-seconds` sets how long it runs (default 5).
"""

from __future__ import annotations

from kubesim.controllers.common import Context, status_patch
from kubesim.util import JsonDict, annotations_of, as_int, clone, parse_rfc3339, rfc3339

OUTCOME_ANNOTATION = "daylight.sim/outcome"
DURATION_ANNOTATION = "daylight.sim/duration-seconds"
DEFAULT_DURATION_S = 5.0


def _setting(job: JsonDict, key: str) -> str | None:
    template = (job.get("spec") or {}).get("template") or {}
    return annotations_of(job).get(key) or annotations_of(template).get(key)


def _finished(status: JsonDict) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _condition(kind: str, reason: str, message: str, ts: str) -> JsonDict:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def reconcile_job(ctx: Context, job: JsonDict) -> None:
    metadata = job["metadata"]
    status = clone(job.get("status") or {})
    if _finished(status) or (job.get("spec") or {}).get("suspend"):
        return
    try:
        duration = float(_setting(job, DURATION_ANNOTATION) or DEFAULT_DURATION_S)
    except ValueError:
        duration = DEFAULT_DURATION_S
    if "startTime" not in status:
        status = {"startTime": ctx.timestamp, "active": 1, "terminating": 0, "ready": 0}
        status["uncountedTerminatedPods"] = {}
    start = parse_rfc3339(status["startTime"])
    ends = start + duration
    if ctx.now >= ends:
        ts = rfc3339(ends)
        status.pop("active", None)
        if (_setting(job, OUTCOME_ANNOTATION) or "succeed").lower() in ("fail", "failed"):
            backoff = as_int((job.get("spec") or {}).get("backoffLimit"), 6)
            status["conditions"] = [
                _condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    ts,
                ),
                _condition(
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    ts,
                ),
            ]
            status["failed"] = backoff + 1
        else:
            status["conditions"] = [
                _condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    ts,
                ),
                _condition(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    ts,
                ),
            ]
            status["completionTime"] = ts
            status["succeeded"] = as_int((job.get("spec") or {}).get("completions"), 1)
    else:
        ctx.wake(ends, "jobs", metadata["namespace"], metadata["name"])
    if status != job.get("status"):
        ctx.store.update_status("jobs", status_patch(job, status), copy=False)
