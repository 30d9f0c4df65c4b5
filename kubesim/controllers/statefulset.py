"""StatefulSet controller: ordered pods `<name>-<ordinal>`, revision-by-revision updates.

Rolling updates replace pods from the highest ordinal down, one at a time, each only after
all others are Running and Ready; `currentRevision` catches up with `updateRevision` once
every pod runs the update revision and is ready, which is what `kubectl rollout status`
waits for.
"""

from __future__ import annotations

from kubesim.controllers import podsync
from kubesim.controllers.common import Context, status_patch, without_empty
from kubesim.controllers.revisions import (
    STS_HASH_LABEL,
    ensure_revision,
    revisions_of,
    template_of,
    truncate_history,
)
from kubesim.podmodel import PodRecord, PodState
from kubesim.util import JsonDict, as_int, owner_ref

POD_REVISION_LABEL = "controller-revision-hash"
_LONG_AGO_S = 3600.0


def _new_pod(
    ctx: Context, sts: JsonDict, ordinal: int, revision: JsonDict, created_at: float | None = None
) -> PodRecord:
    metadata = sts["metadata"]
    name = f"{metadata['name']}-{ordinal}"
    template = template_of(revision)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[POD_REVISION_LABEL] = revision["metadata"]["name"]
    labels["statefulset.kubernetes.io/pod-name"] = name
    labels["apps.kubernetes.io/pod-index"] = str(ordinal)
    nodes = ctx.nodes()
    return ctx.new_pod(
        name,
        metadata["namespace"],
        owner_ref(sts),
        template,
        labels,
        nodes[ordinal % len(nodes)],
        created_at=created_at,
        revision=revision["metadata"]["name"],
        ordinal=ordinal,
    )


def _adopt(ctx: Context, sts: JsonDict, records: dict[str, PodRecord]) -> None:
    uid = sts["metadata"]["uid"]
    if uid in ctx.pods.adopted:
        return
    ctx.pods.adopted.add(uid)
    status = sts.get("status") or {}
    by_name = {r["metadata"]["name"]: r for r in revisions_of(ctx, sts)}
    revision = by_name.get(status.get("currentRevision", "")) or by_name.get(
        status.get("updateRevision", "")
    )
    if revision is None:
        return
    for ordinal in range(as_int(status.get("readyReplicas"))):
        rec = _new_pod(ctx, sts, ordinal, revision, created_at=ctx.now - _LONG_AGO_S)
        records[rec.name] = rec


def _scale_down(
    ctx: Context,
    records: dict[str, PodRecord],
    by_ordinal: dict[int | None, PodRecord],
    replicas: int,
    ordered: bool,
) -> list[int]:
    """Removes pods beyond `replicas`, highest ordinal first (one at a time when ordered);
    returns the ordinals that were in excess."""
    extra = sorted((o for o in by_ordinal if o is not None and o >= replicas), reverse=True)
    for ordinal in extra[:1] if ordered else extra:
        rec = by_ordinal.pop(ordinal)
        del records[rec.name]
        podsync.remove(ctx, rec)
    return extra


def _create_missing(
    ctx: Context,
    sts: JsonDict,
    records: dict[str, PodRecord],
    by_ordinal: dict[int | None, PodRecord],
    found: dict[str, PodState],
    update: JsonDict,
) -> bool:
    """Creates missing ordinals in order (when ordered, one only after all below are ready);
    whether any was created."""
    spec = sts["spec"]
    ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    changed = False
    for ordinal in range(as_int(spec.get("replicas"), 1)):
        have = by_ordinal.get(ordinal)
        if have is not None:
            state = found.get(have.name)
            if ordered and (state is None or not state.ready):
                break
            continue
        created = _new_pod(ctx, sts, ordinal, update)
        records[created.name] = created
        by_ordinal[ordinal] = created
        changed = True
        if ordered:
            break
    return changed


def _scale(ctx: Context, sts: JsonDict, records: dict[str, PodRecord], update: JsonDict) -> bool:
    """Brings the pods to `replicas`: scale down first, else create what is missing."""
    spec = sts["spec"]
    replicas = as_int(spec.get("replicas"), 1)
    ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    found = podsync.states(ctx, records.values())
    by_ordinal = {rec.ordinal: rec for rec in records.values()}
    extra = _scale_down(ctx, records, by_ordinal, replicas, ordered)
    if ordered and extra:
        return True
    return _create_missing(ctx, sts, records, by_ordinal, found, update) or bool(extra)


def _replace_outdated(
    ctx: Context,
    sts: JsonDict,
    records: dict[str, PodRecord],
    found: dict[str, PodState],
    update_name: str,
) -> bool:
    """Rolling update: replaces the highest outdated ordinal once everything is ready."""
    spec = sts["spec"]
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    replicas = as_int(spec.get("replicas"), 1)
    all_ready = len(records) == replicas and all(s.ready for s in found.values())
    if strategy != "RollingUpdate" or not all_ready:
        return False
    partition = as_int(
        ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
    )
    outdated = sorted(
        (
            r
            for r in records.values()
            if r.revision != update_name and (r.ordinal or 0) >= partition
        ),
        key=lambda r: r.ordinal or 0,
        reverse=True,
    )
    if not outdated:
        return False
    rec = outdated[0]
    del records[rec.name]
    del found[rec.name]
    podsync.remove(ctx, rec)
    return True


def _status(
    sts: JsonDict,
    records: dict[str, PodRecord],
    found: dict[str, PodState],
    current_name: str,
    update_name: str,
) -> tuple[JsonDict, str]:
    """The status, and the current revision: it catches up with the update revision once
    every pod runs the update and is ready."""
    replicas = as_int(sts["spec"].get("replicas"), 1)
    ready = sum(1 for s in found.values() if s.ready)
    updated_count = sum(1 for r in records.values() if r.revision == update_name)
    current_count = sum(1 for r in records.values() if r.revision == current_name)
    if updated_count == len(records) and ready == len(records) and len(records) == replicas:
        current_name, current_count = update_name, updated_count
    status = without_empty(
        {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(records),
            "readyReplicas": ready,
            "currentReplicas": current_count,
            "updatedReplicas": updated_count,
            "currentRevision": current_name,
            "updateRevision": update_name,
            "collisionCount": 0,
            "availableReplicas": ready,
        },
        keep=("replicas", "collisionCount", "availableReplicas"),
    )
    return status, current_name


def reconcile_statefulset(ctx: Context, sts: JsonDict) -> None:
    metadata = sts["metadata"]
    records = ctx.pods.of(metadata["uid"])
    _adopt(ctx, sts, records)
    podsync.drop_vanished(ctx, records)
    update, _ = ensure_revision(ctx, sts, STS_HASH_LABEL)
    update_name = update["metadata"]["name"]
    current_name = (sts.get("status") or {}).get("currentRevision") or update_name
    changed = _scale(ctx, sts, records, update)
    found = podsync.states(ctx, records.values())
    changed = _replace_outdated(ctx, sts, records, found, update_name) or changed
    podsync.mirror(ctx, records.values(), found)
    status, current_name = _status(sts, records, found, current_name, update_name)
    if sts.get("status") != status:
        ctx.store.update_status("statefulsets", status_patch(sts, status), copy=False)
    live = {current_name, update_name} | {r.revision for r in records.values()}
    truncate_history(ctx, sts, live)
    wake = podsync.next_change(found.values())
    if changed:
        wake = ctx.now
    if wake is not None:
        ctx.wake(wake, "statefulsets", metadata["namespace"], metadata["name"])
