"""ReplicaSet controller: keeps `spec.replicas` pods and reports their readiness in status."""

from __future__ import annotations

from kubesim.controllers import podsync
from kubesim.controllers.common import Context, status_patch, without_empty
from kubesim.podmodel import PodRecord, PodState
from kubesim.util import JsonDict, as_int, owner_ref, parse_rfc3339

POD_TEMPLATE_HASH = "pod-template-hash"
_LONG_AGO_S = 3600.0


def _adopt(ctx: Context, rs: JsonDict, records: dict[str, PodRecord]) -> None:
    """First sight of a ReplicaSet we did not scale ourselves (e.g. history written straight
    into the store): take over its existing Pods, or invent already-running ones matching
    its reported status, so that a settled world stays settled."""
    uid = rs["metadata"]["uid"]
    if uid in ctx.pods.adopted:
        return
    ctx.pods.adopted.add(uid)
    template = rs["spec"].get("template") or {}
    owner = owner_ref(rs)
    namespace = rs["metadata"]["namespace"]
    for pod in ctx.store.owned("pods", uid):
        name = pod["metadata"]["name"]
        created = parse_rfc3339(pod["metadata"]["creationTimestamp"])
        rec = ctx.new_pod(
            name,
            namespace,
            owner,
            template,
            dict(pod["metadata"].get("labels") or {}),
            pod["spec"].get("nodeName", ctx.nodes()[0]),
            created_at=created,
        )
        rec.uid, rec.materialized = pod["metadata"]["uid"], True
        records[name] = rec
    if records:
        return
    status = rs.get("status") or {}
    ready = min(as_int(status.get("readyReplicas")), as_int(rs["spec"].get("replicas"), 1))
    for _ in range(ready):
        _add_pod(ctx, rs, records, created_at=ctx.now - _LONG_AGO_S)


def _add_pod(
    ctx: Context, rs: JsonDict, records: dict[str, PodRecord], created_at: float | None = None
) -> None:
    metadata = rs["metadata"]
    template = rs["spec"].get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    name = f"{metadata['name']}-{ctx.suffix()}"
    while name in records:
        name = f"{metadata['name']}-{ctx.suffix()}"
    nodes = ctx.nodes()
    node = nodes[(len(records) + sum(map(ord, name))) % len(nodes)]
    records[name] = ctx.new_pod(
        name,
        metadata["namespace"],
        owner_ref(rs),
        template,
        labels,
        node,
        created_at=created_at,
        revision=labels.get(POD_TEMPLATE_HASH, ""),
    )


def _deletion_rank(rec: PodRecord, state: PodState) -> tuple[int, int, float]:
    """Which pods go first on scale-down: pending, then not ready, then the newest."""
    return (state.phase == "Running", state.ready, -rec.created_at)


def reconcile_replicaset(ctx: Context, rs: JsonDict) -> None:
    metadata = rs["metadata"]
    uid = metadata["uid"]
    records = ctx.pods.of(uid)
    _adopt(ctx, rs, records)
    podsync.drop_vanished(ctx, records)
    desired = as_int(rs["spec"].get("replicas"), 1)
    while len(records) < desired:
        _add_pod(ctx, rs, records)
    found = podsync.states(ctx, records.values())
    if len(records) > desired:
        doomed = sorted(records.values(), key=lambda r: _deletion_rank(r, found[r.name]))
        for rec in doomed[: len(records) - desired]:
            del records[rec.name]
            del found[rec.name]
            podsync.remove(ctx, rec)
    podsync.mirror(ctx, records.values(), found)
    min_ready = as_int(rs["spec"].get("minReadySeconds"))
    ready = sum(1 for s in found.values() if s.ready)
    available = sum(
        1
        for s in found.values()
        if s.ready and s.ready_since is not None and s.ready_since + min_ready <= ctx.now
    )
    status = without_empty(
        {
            "replicas": len(records),
            "fullyLabeledReplicas": len(records),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": metadata.get("generation", 1),
        },
        keep=("replicas",),
    )
    if rs.get("status") != status:
        ctx.store.update_status("replicasets", status_patch(rs, status), copy=False)
    wake = podsync.next_change(found.values())
    if min_ready:
        pending = [
            s.ready_since + min_ready
            for s in found.values()
            if s.ready and s.ready_since is not None and s.ready_since + min_ready > ctx.now
        ]
        wake = min([*pending, *([wake] if wake is not None else [])], default=None)
    if wake is not None:
        ctx.wake(wake, "replicasets", metadata["namespace"], metadata["name"])
