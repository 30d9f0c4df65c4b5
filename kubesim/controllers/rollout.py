"""A Deployment's rolling update, one step at a time: scale the new ReplicaSet up within
maxSurge, then the old ones down as far as maxUnavailable allows (unhealthy pods first).
A Recreate strategy scales everything old to zero before the new ReplicaSet gets any pod.
"""

from __future__ import annotations

from kubesim.controllers.common import Context, controller_managed, int_or_percent
from kubesim.util import JsonDict, as_int

DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def spec_replicas(rs: JsonDict) -> int:
    return as_int(rs["spec"].get("replicas"), 1)


def available_replicas(rs: JsonDict) -> int:
    return as_int((rs.get("status") or {}).get("availableReplicas"))


def by_age(rs: JsonDict) -> tuple[str, str]:
    return (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"])


def surge_unavailable(deploy: JsonDict, desired: int) -> tuple[int, int]:
    strategy = deploy["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, desired
    rolling = strategy.get("rollingUpdate") or {}
    surge = int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def scale(ctx: Context, rs: JsonDict, replicas: int, deploy: JsonDict) -> JsonDict:
    """Sets a ReplicaSet's replicas (and its desired/max annotations); a no-op if unchanged."""
    desired = as_int(deploy["spec"].get("replicas"), 1)
    surge, _ = surge_unavailable(deploy, desired)
    notes = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
    current = rs["metadata"].get("annotations") or {}
    if spec_replicas(rs) == replicas and all(current.get(k) == v for k, v in notes.items()):
        return rs
    updated = dict(rs)
    metadata = dict(rs["metadata"], annotations={**current, **notes})
    updated["metadata"] = controller_managed(metadata, ctx.timestamp)
    updated["spec"] = dict(rs["spec"], replicas=replicas)
    return ctx.store.update("replicasets", updated, copy=False)


def roll(ctx: Context, deploy: JsonDict, new: JsonDict, olds: list[JsonDict]) -> None:
    """One step of the rollout towards `new`; `olds` is updated in place as it is scaled."""
    desired = as_int(deploy["spec"].get("replicas"), 1)
    if (deploy["spec"].get("strategy") or {}).get("type") == "Recreate":
        _recreate(ctx, deploy, new, olds, desired)
        return
    surge, max_unavailable = surge_unavailable(deploy, desired)
    active_olds = any(spec_replicas(rs) > 0 for rs in olds)
    new = scale(ctx, new, _new_count(new, olds, desired, surge, active_olds), deploy)
    if not active_olds:
        return
    # Scale old ReplicaSets down as far as availability allows: unhealthy pods first.
    min_available = desired - max_unavailable
    all_pods = sum(spec_replicas(rs) for rs in [new, *olds])
    new_unavailable = spec_replicas(new) - available_replicas(new)
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return
    olds.sort(key=by_age)
    _scale_down_unhealthy(ctx, deploy, olds, budget)
    _scale_down_available(ctx, deploy, new, olds, min_available)


def _recreate(
    ctx: Context, deploy: JsonDict, new: JsonDict, olds: list[JsonDict], desired: int
) -> None:
    for i, rs in enumerate(olds):
        if spec_replicas(rs) > 0:
            olds[i] = scale(ctx, rs, 0, deploy)
    if not any(as_int((rs.get("status") or {}).get("replicas")) for rs in olds):
        scale(ctx, new, desired, deploy)


def _new_count(
    new: JsonDict, olds: list[JsonDict], desired: int, surge: int, active_olds: bool
) -> int:
    """The new ReplicaSet's replicas: up to `desired`, within maxSurge while olds remain."""
    count = spec_replicas(new)
    if count > desired or not active_olds:
        return desired
    total = sum(spec_replicas(rs) for rs in [new, *olds])
    room = desired + surge - total
    if room > 0:
        count += min(room, desired - count)
    return count


def _scale_down_unhealthy(
    ctx: Context, deploy: JsonDict, olds: list[JsonDict], budget: int
) -> None:
    cleaned = 0
    for i, rs in enumerate(olds):
        unhealthy = spec_replicas(rs) - available_replicas(rs)
        if cleaned >= budget or unhealthy <= 0:
            continue
        step = min(budget - cleaned, unhealthy)
        olds[i] = scale(ctx, rs, spec_replicas(rs) - step, deploy)
        cleaned += step


def _scale_down_available(
    ctx: Context, deploy: JsonDict, new: JsonDict, olds: list[JsonDict], min_available: int
) -> None:
    available = sum(available_replicas(rs) for rs in [new, *olds])
    if available <= min_available:
        return
    to_remove = available - min_available
    removed = 0
    for i, rs in enumerate(olds):
        if removed >= to_remove:
            break
        step = min(spec_replicas(rs), to_remove - removed)
        if step > 0:
            olds[i] = scale(ctx, rs, spec_replicas(rs) - step, deploy)
            removed += step
