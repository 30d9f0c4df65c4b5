"""Deployment controller: ReplicaSets per pod template, rolling updates, revisions, status.

Modelled on kube-controller-manager's behaviour as seen from outside:
- any template change (a `kubectl rollout restart` included) creates ReplicaSet
  `<name>-<pod-template-hash>`; only an identical template reuses an existing one (a
  rollback), which then gets revision max+1 and its old revision appended to
  `deployment.kubernetes.io/revision-history`;
- replica-only changes bump generation but create no ReplicaSet;
- rolling updates respect maxSurge/maxUnavailable and only scale old ReplicaSets down as new
  pods become available;
- conditions follow the real reasons (NewReplicaSetCreated, FoundNewReplicaSet,
  ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded,
  MinimumReplicasAvailable/Unavailable), with the real lastUpdateTime semantics the
  progress deadline is measured from.
"""

from __future__ import annotations

import contextlib

from kubesim import errors
from kubesim.controllers.common import (
    Context,
    condition,
    find_condition,
    int_or_percent,
    set_condition,
    status_patch,
    template_hash,
    without_empty,
)
from kubesim.controllers.replicaset import POD_TEMPLATE_HASH
from kubesim.util import JsonDict, as_int, clone, owner_ref, parse_rfc3339

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_NOT_COPIED = frozenset(
    {
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "kubectl.kubernetes.io/last-applied-configuration",
    }
)
_REVISION_HISTORY_MAX_CHARS = 2000


def revision_of(obj: JsonDict) -> int:
    raw = (obj["metadata"].get("annotations") or {}).get(REVISION, "0")
    try:
        return int(raw)
    except ValueError:
        return 0


def _spec_replicas(rs: JsonDict) -> int:
    return as_int(rs["spec"].get("replicas"), 1)


def _available(rs: JsonDict) -> int:
    return as_int((rs.get("status") or {}).get("availableReplicas"))


def _surge_unavailable(deploy: JsonDict, desired: int) -> tuple[int, int]:
    strategy = deploy["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, desired
    rolling = strategy.get("rollingUpdate") or {}
    surge = int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rs_annotations(deploy: JsonDict, revision: int, desired: int, surge: int) -> dict[str, str]:
    annotations = {
        k: v
        for k, v in (deploy["metadata"].get("annotations") or {}).items()
        if k not in _NOT_COPIED
    }
    annotations[DESIRED_REPLICAS] = str(desired)
    annotations[MAX_REPLICAS] = str(desired + surge)
    annotations[REVISION] = str(revision)
    return annotations


def _create_rs(ctx: Context, deploy: JsonDict, pth: str, revision: int, replicas: int) -> JsonDict:
    metadata = deploy["metadata"]
    spec = deploy["spec"]
    desired = as_int(spec.get("replicas"), 1)
    surge, _ = _surge_unavailable(deploy, desired)
    template = clone(spec["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pth
    selector = clone(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pth
    rs_spec: JsonDict = {"replicas": replicas}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    rs_spec["selector"] = selector
    rs_spec["template"] = template
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{metadata['name']}-{pth}",
            "namespace": metadata["namespace"],
            "creationTimestamp": ctx.timestamp,
            "labels": dict(template["metadata"]["labels"]),
            "annotations": _rs_annotations(deploy, revision, desired, surge),
            "ownerReferences": [owner_ref(deploy)],
        },
        "spec": rs_spec,
    }
    return ctx.store.create("replicasets", rs, copy=False)


def _bump_revision(ctx: Context, rs: JsonDict, revision: int) -> JsonDict:
    """Rollback to an existing ReplicaSet: it becomes the newest revision, and remembers the
    revision numbers it had before."""
    updated = clone(rs)
    annotations = updated["metadata"].setdefault("annotations", {})
    old = annotations.get(REVISION)
    annotations[REVISION] = str(revision)
    if old:
        history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
        history.append(old)
        while len(",".join(history)) > _REVISION_HISTORY_MAX_CHARS and len(history) > 1:
            history.pop(0)
        annotations[REVISION_HISTORY] = ",".join(history)
    return ctx.store.update("replicasets", updated, copy=False)


def _scale(ctx: Context, rs: JsonDict, replicas: int, deploy: JsonDict) -> JsonDict:
    desired = as_int(deploy["spec"].get("replicas"), 1)
    surge, _ = _surge_unavailable(deploy, desired)
    notes = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
    current = rs["metadata"].get("annotations") or {}
    if _spec_replicas(rs) == replicas and all(current.get(k) == v for k, v in notes.items()):
        return rs
    updated = dict(rs)
    updated["metadata"] = dict(rs["metadata"], annotations={**current, **notes})
    updated["spec"] = dict(rs["spec"], replicas=replicas)
    return ctx.store.update("replicasets", updated, copy=False)


def _roll(ctx: Context, deploy: JsonDict, new: JsonDict, olds: list[JsonDict]) -> None:
    desired = as_int(deploy["spec"].get("replicas"), 1)
    surge, max_unavailable = _surge_unavailable(deploy, desired)
    active_olds = [rs for rs in olds if _spec_replicas(rs) > 0]
    recreate = (deploy["spec"].get("strategy") or {}).get("type") == "Recreate"
    if recreate:
        for i, rs in enumerate(olds):
            if _spec_replicas(rs) > 0:
                olds[i] = _scale(ctx, rs, 0, deploy)
        if not any(as_int((rs.get("status") or {}).get("replicas")) for rs in olds):
            _scale(ctx, new, desired, deploy)
        return
    # Scale up the new ReplicaSet within maxSurge.
    new_count = _spec_replicas(new)
    if new_count > desired or not active_olds:
        new_count = desired
    else:
        total = sum(_spec_replicas(rs) for rs in [new, *olds])
        room = desired + surge - total
        if room > 0:
            new_count += min(room, desired - new_count)
    new = _scale(ctx, new, new_count, deploy)
    if not active_olds:
        return
    # Scale old ReplicaSets down as far as availability allows: unhealthy pods first.
    all_pods = sum(_spec_replicas(rs) for rs in [new, *olds])
    min_available = desired - max_unavailable
    new_unavailable = _spec_replicas(new) - _available(new)
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return
    olds.sort(key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]))
    cleaned = 0
    for i, rs in enumerate(olds):
        unhealthy = _spec_replicas(rs) - _available(rs)
        if cleaned >= budget or unhealthy <= 0:
            continue
        step = min(budget - cleaned, unhealthy)
        olds[i] = _scale(ctx, rs, _spec_replicas(rs) - step, deploy)
        cleaned += step
    available = sum(_available(rs) for rs in [new, *olds])
    if available <= min_available:
        return
    to_remove = available - min_available
    removed = 0
    for i, rs in enumerate(olds):
        if removed >= to_remove:
            break
        step = min(_spec_replicas(rs), to_remove - removed)
        if step > 0:
            olds[i] = _scale(ctx, rs, _spec_replicas(rs) - step, deploy)
            removed += step


def _cleanup(ctx: Context, deploy: JsonDict, olds: list[JsonDict]) -> None:
    limit = as_int(deploy["spec"].get("revisionHistoryLimit"), 10)
    excess = len(olds) - limit
    if excess <= 0:
        return
    for rs in sorted(olds, key=revision_of)[:excess]:
        status = rs.get("status") or {}
        if _spec_replicas(rs) or as_int(status.get("replicas")):
            continue
        if rs["metadata"].get("generation", 1) > as_int(status.get("observedGeneration")):
            continue
        with contextlib.suppress(errors.ApiError):
            ctx.store.delete("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])


def _status(deploy: JsonDict, new: JsonDict | None, all_rs: list[JsonDict]) -> JsonDict:
    live = [rs for rs in all_rs if _spec_replicas(rs) or (rs.get("status") or {}).get("replicas")]

    def total(field: str) -> int:
        return sum(as_int((rs.get("status") or {}).get(field)) for rs in live)

    as_int(deploy["spec"].get("replicas"), 1)
    available = total("availableReplicas")
    unavailable = max(0, sum(_spec_replicas(rs) for rs in live) - available)
    return {
        "observedGeneration": deploy["metadata"].get("generation", 1),
        "replicas": total("replicas"),
        "updatedReplicas": as_int((new.get("status") or {}).get("replicas")) if new else 0,
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }


def _complete(deploy: JsonDict, counts: JsonDict) -> bool:
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


def _conditions(
    ctx: Context,
    deploy: JsonDict,
    counts: JsonDict,
    conditions: list[JsonDict],
    new: JsonDict | None,
) -> list[JsonDict]:
    ts = ctx.timestamp
    desired = as_int(deploy["spec"].get("replicas"), 1)
    _, max_unavailable = _surge_unavailable(deploy, desired)
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
    if _complete(deploy, counts):
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


def _by_age(rs: JsonDict) -> tuple[str, str]:
    return (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"])


def _cached_revision(ctx: Context, rs: JsonDict) -> int:
    key = ("revision", rs["metadata"]["uid"], rs["metadata"]["resourceVersion"])
    found = ctx.cache.get(key)
    if found is None:
        found = ctx.cache[key] = revision_of(rs)
    return int(found)


def _is_active(rs: JsonDict) -> bool:
    return bool(_spec_replicas(rs) or (rs.get("status") or {}).get("replicas"))


def _refresh(ctx: Context, rs: JsonDict) -> JsonDict:
    found = ctx.store.peek("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])
    return found if found is not None else rs


def reconcile_deployment(ctx: Context, deploy: JsonDict) -> None:
    metadata = deploy["metadata"]
    spec = deploy["spec"]
    store = ctx.store
    pth = template_hash(ctx, deploy, POD_TEMPLATE_HASH)
    new: JsonDict | None = None
    olds: list[JsonDict] = []  # old ReplicaSets that still have (or report) pods
    old_count = 0
    max_old = 0
    # One pass over what can be a long history: most old ReplicaSets are scaled to zero and
    # only matter for the revision number and history cleanup.
    for rs in store.owned("replicasets", metadata["uid"]):
        labels = rs["metadata"].get("labels") or {}
        # Names are <deployment>-<hash>, so at most one ReplicaSet can match.
        if (
            new is None
            and labels.get(POD_TEMPLATE_HASH) == pth
            and template_hash(ctx, rs, POD_TEMPLATE_HASH) == pth
        ):
            new = rs
            continue
        old_count += 1
        max_old = max(max_old, _cached_revision(ctx, rs))
        if _is_active(rs):
            olds.append(rs)
    olds.sort(key=_by_age)
    # Condition dicts are never mutated in place, so a shallow copy of the list suffices.
    conditions = list((deploy.get("status") or {}).get("conditions") or [])
    paused = bool(spec.get("paused"))
    if new is None and not paused:
        desired = as_int(spec.get("replicas"), 1)
        surge, _ = _surge_unavailable(deploy, desired)
        active = sum(_spec_replicas(rs) for rs in olds)
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        first = 0 if recreate and active else min(desired, max(0, desired + surge - active))
        new = _create_rs(ctx, deploy, pth, max_old + 1, first)
        conditions = set_condition(
            conditions,
            condition(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{new["metadata"]["name"]}"',
                ctx.timestamp,
            ),
        )
    elif new is not None and revision_of(new) <= max_old and not paused:
        new = _bump_revision(ctx, new, max_old + 1)
        if find_condition({"conditions": conditions}, "Progressing") is None:
            conditions = set_condition(
                conditions,
                condition(
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    f'Found new replica set "{new["metadata"]["name"]}"',
                    ctx.timestamp,
                ),
            )
    if new is not None and not paused:
        _roll(ctx, deploy, new, olds)
    current = [_refresh(ctx, rs) for rs in olds]
    if new is not None:
        new = _refresh(ctx, new)
        current.append(new)
    counts = _status(deploy, new, current)
    conditions = _conditions(ctx, deploy, counts, conditions, new)
    status = without_empty(counts)
    status["conditions"] = conditions
    limit = as_int(spec.get("revisionHistoryLimit"), 10)
    if old_count > limit and _complete(deploy, counts):
        everything = store.owned("replicasets", metadata["uid"])
        _cleanup(ctx, deploy, [rs for rs in everything if new is None or rs is not new])
    updated = deploy
    if new is not None:
        revision = str(revision_of(new))
        if (metadata.get("annotations") or {}).get(REVISION) != revision:
            updated = clone(deploy)
            updated["metadata"].setdefault("annotations", {})[REVISION] = revision
            updated = store.update("deployments", updated, copy=False)
    if updated.get("status") != status:
        store.update_status("deployments", status_patch(updated, status), copy=False)
