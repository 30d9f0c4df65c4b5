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

The rolling update itself is in `rollout`, the status and its conditions in
`deployment_status`; this module finds and creates the ReplicaSets and writes back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from kubesim import errors
from kubesim.controllers.common import (
    Context,
    condition,
    controller_managed,
    find_condition,
    set_condition,
    status_patch,
    template_hash,
    without_empty,
)
from kubesim.controllers.deployment_status import complete, conditions_for, deployment_status
from kubesim.controllers.replicaset import POD_TEMPLATE_HASH
from kubesim.controllers.rollout import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    by_age,
    roll,
    spec_replicas,
    surge_unavailable,
)
from kubesim.util import JsonDict, as_int, clone, owner_ref

__all__ = [
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "REVISION",
    "REVISION_HISTORY",
    "reconcile_deployment",
    "revision_of",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
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
    surge, _ = surge_unavailable(deploy, desired)
    template = clone(spec["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pth
    selector = clone(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pth
    rs_spec: JsonDict = {"replicas": replicas}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    rs_spec["selector"] = selector
    rs_spec["template"] = template
    rs_meta = {
        "name": f"{metadata['name']}-{pth}",
        "namespace": metadata["namespace"],
        "creationTimestamp": ctx.timestamp,
        "labels": dict(template["metadata"]["labels"]),
        "annotations": _rs_annotations(deploy, revision, desired, surge),
        "ownerReferences": [owner_ref(deploy)],
    }
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": controller_managed(rs_meta, ctx.timestamp),
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
    updated["metadata"] = controller_managed(updated["metadata"], ctx.timestamp)
    return ctx.store.update("replicasets", updated, copy=False)


def _cleanup(ctx: Context, deploy: JsonDict, olds: list[JsonDict]) -> None:
    limit = as_int(deploy["spec"].get("revisionHistoryLimit"), 10)
    excess = len(olds) - limit
    if excess <= 0:
        return
    for rs in sorted(olds, key=revision_of)[:excess]:
        status = rs.get("status") or {}
        if spec_replicas(rs) or as_int(status.get("replicas")):
            continue
        if rs["metadata"].get("generation", 1) > as_int(status.get("observedGeneration")):
            continue
        with contextlib.suppress(errors.ApiError):
            ctx.store.delete("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])


def _cached_revision(ctx: Context, rs: JsonDict) -> int:
    key = ("revision", rs["metadata"]["uid"], rs["metadata"]["resourceVersion"])
    found = ctx.cache.get(key)
    if found is None:
        found = ctx.cache[key] = revision_of(rs)
    return int(found)


def _is_active(rs: JsonDict) -> bool:
    return bool(spec_replicas(rs) or (rs.get("status") or {}).get("replicas"))


def _refresh(ctx: Context, rs: JsonDict) -> JsonDict:
    found = ctx.store.peek("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])
    return found if found is not None else rs


@dataclass(slots=True)
class _Family:
    """A Deployment's ReplicaSets, as one pass over them found them."""

    new: JsonDict | None  # the one of the current template
    olds: list[JsonDict]  # the old ones that still have (or report) pods, oldest first
    old_count: int  # every old one, scaled to zero or not
    max_old: int  # the highest revision among the old ones


def _scan(ctx: Context, deploy: JsonDict, pth: str) -> _Family:
    new: JsonDict | None = None
    olds: list[JsonDict] = []
    old_count = 0
    max_old = 0
    # One pass over what can be a long history: most old ReplicaSets are scaled to zero and
    # only matter for the revision number and history cleanup.
    for rs in ctx.store.owned("replicasets", deploy["metadata"]["uid"]):
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
    olds.sort(key=by_age)
    return _Family(new, olds, old_count, max_old)


def _ensure_new(
    ctx: Context, deploy: JsonDict, pth: str, family: _Family, conditions: list[JsonDict]
) -> tuple[JsonDict | None, list[JsonDict]]:
    """Creates the ReplicaSet for a new template, or makes a reused one the newest revision
    (a rollback); nothing while paused."""
    new, olds, max_old = family.new, family.olds, family.max_old
    spec = deploy["spec"]
    if spec.get("paused"):
        return new, conditions
    if new is None:
        desired = as_int(spec.get("replicas"), 1)
        surge, _ = surge_unavailable(deploy, desired)
        active = sum(spec_replicas(rs) for rs in olds)
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        first = 0 if recreate and active else min(desired, max(0, desired + surge - active))
        new = _create_rs(ctx, deploy, pth, max_old + 1, first)
        created = condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            f'Created new replica set "{new["metadata"]["name"]}"',
            ctx.timestamp,
        )
        return new, set_condition(conditions, created)
    if revision_of(new) <= max_old:
        new = _bump_revision(ctx, new, max_old + 1)
        if find_condition({"conditions": conditions}, "Progressing") is None:
            found_rs = condition(
                "Progressing",
                "True",
                "FoundNewReplicaSet",
                f'Found new replica set "{new["metadata"]["name"]}"',
                ctx.timestamp,
            )
            conditions = set_condition(conditions, found_rs)
    return new, conditions


def _write_back(ctx: Context, deploy: JsonDict, new: JsonDict | None, status: JsonDict) -> None:
    """The Deployment's revision annotation (that of its new ReplicaSet), then its status."""
    updated = deploy
    if new is not None:
        revision = str(revision_of(new))
        if (deploy["metadata"].get("annotations") or {}).get(REVISION) != revision:
            updated = clone(deploy)
            updated["metadata"].setdefault("annotations", {})[REVISION] = revision
            updated = ctx.store.update("deployments", updated, copy=False)
    if updated.get("status") != status:
        ctx.store.update_status("deployments", status_patch(updated, status), copy=False)


def reconcile_deployment(ctx: Context, deploy: JsonDict) -> None:
    pth = template_hash(ctx, deploy, POD_TEMPLATE_HASH)
    family = _scan(ctx, deploy, pth)
    olds = family.olds
    # Condition dicts are never mutated in place, so a shallow copy of the list suffices.
    conditions = list((deploy.get("status") or {}).get("conditions") or [])
    new, conditions = _ensure_new(ctx, deploy, pth, family, conditions)
    if new is not None and not deploy["spec"].get("paused"):
        roll(ctx, deploy, new, olds)
    current = [_refresh(ctx, rs) for rs in olds]
    if new is not None:
        new = _refresh(ctx, new)
        current.append(new)
    counts = deployment_status(deploy, new, current)
    conditions = conditions_for(ctx, deploy, counts, conditions, new)
    status = without_empty(counts)
    status["conditions"] = conditions
    limit = as_int(deploy["spec"].get("revisionHistoryLimit"), 10)
    if family.old_count > limit and complete(deploy, counts):
        everything = ctx.store.owned("replicasets", deploy["metadata"]["uid"])
        _cleanup(ctx, deploy, [rs for rs in everything if new is None or rs is not new])
    _write_back(ctx, deploy, new, status)
