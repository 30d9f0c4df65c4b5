"""A Deployment's status: replica counts summed over its live ReplicaSets, and the Available
and Progressing conditions with the real reasons and the lastUpdateTime semantics the
progress deadline is measured from."""

from __future__ import annotations

from kubesim.controllers.common import Context, condition, set_condition
from kubesim.controllers.rollout import spec_replicas, surge_unavailable
from kubesim.util import JsonDict, as_int, parse_rfc3339


def deployment_status(deploy: JsonDict, new: JsonDict | None, all_rs: list[JsonDict]) -> JsonDict:
    live = [rs for rs in all_rs if spec_replicas(rs) or (rs.get("status") or {}).get("replicas")]

    def total(field: str) -> int:
        return sum(as_int((rs.get("status") or {}).get(field)) for rs in live)

    available = total("availableReplicas")
    unavailable = max(0, sum(spec_replicas(rs) for rs in live) - available)
    return {
        "observedGeneration": deploy["metadata"].get("generation", 1),
        "replicas": total("replicas"),
        "updatedReplicas": as_int((new.get("status") or {}).get("replicas")) if new else 0,
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }


def complete(deploy: JsonDict, counts: JsonDict) -> bool:
    desired = as_int(deploy["spec"].get("replicas"), 1)
    return bool(
        counts["updatedReplicas"] == desired
        and counts["replicas"] == desired
        and counts["availableReplicas"] == desired
        and counts["observedGeneration"] >= deploy["metadata"].get("generation", 1)
    )


def _progressing(old: JsonDict, new: JsonDict) -> bool:
    def get(s: JsonDict, f: str) -> int:
        return as_int(s.get(f))

    old_olds = get(old, "replicas") - get(old, "updatedReplicas")
    new_olds = get(new, "replicas") - get(new, "updatedReplicas")
    return (
        get(new, "updatedReplicas") > get(old, "updatedReplicas")
        or new_olds < old_olds
        or get(new, "readyReplicas") > get(old, "readyReplicas")
        or get(new, "availableReplicas") > get(old, "availableReplicas")
    )


def conditions_for(
    ctx: Context,
    deploy: JsonDict,
    counts: JsonDict,
    conditions: list[JsonDict],
    new: JsonDict | None,
) -> list[JsonDict]:
    ts = ctx.timestamp
    desired = as_int(deploy["spec"].get("replicas"), 1)
    _, max_unavailable = surge_unavailable(deploy, desired)
    if counts["availableReplicas"] >= desired - max_unavailable:
        available = condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            ts,
        )
    else:
        available = condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            ts,
        )
    conditions = set_condition(conditions, available)
    deadline = deploy["spec"].get("progressDeadlineSeconds")
    if deadline is None or deploy["spec"].get("paused"):
        return conditions
    rs_name = new["metadata"]["name"] if new else ""
    old_status = deploy.get("status") or {}
    current = next((c for c in conditions if c.get("type") == "Progressing"), None)
    if complete(deploy, counts):
        return set_condition(
            conditions,
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                ts,
            ),
        )
    if _progressing(old_status, counts):
        progress = condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
            ts,
        )
        if current is not None and current.get("status") == "True":
            progress["lastTransitionTime"] = current.get("lastTransitionTime", ts)
        return [c for c in conditions if c.get("type") != "Progressing"] + [progress]
    if current is not None and current.get("reason") != "NewReplicaSetAvailable":
        if current.get("reason") == "ProgressDeadlineExceeded":
            return conditions
        since = parse_rfc3339(current.get("lastUpdateTime") or ts)
        if since + as_int(deadline) <= ctx.now:
            return set_condition(
                conditions,
                condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    ts,
                ),
            )
        meta = deploy["metadata"]
        ctx.wake(since + as_int(deadline), "deployments", meta["namespace"], meta["name"])
    return conditions
