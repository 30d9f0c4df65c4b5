"""DaemonSet controller: one pod per simulated node, replaced maxUnavailable at a time."""

from __future__ import annotations

from kubesim.controllers import podsync
from kubesim.controllers.common import Context, int_or_percent, status_patch, without_empty
from kubesim.controllers.revisions import (
    DS_HASH_LABEL,
    ensure_revision,
    template_of,
    truncate_history,
)
from kubesim.podmodel import PodRecord
from kubesim.util import JsonDict, as_int, owner_ref

_LONG_AGO_S = 3600.0


def _new_pod(
    ctx: Context,
    ds: JsonDict,
    node: str,
    revision: JsonDict,
    digest: str,
    taken: set[str],
    created_at: float | None = None,
) -> PodRecord:
    metadata = ds["metadata"]
    name = f"{metadata['name']}-{ctx.suffix()}"
    while name in taken:
        name = f"{metadata['name']}-{ctx.suffix()}"
    template = template_of(revision)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[DS_HASH_LABEL] = digest
    labels["pod-template-generation"] = str(metadata.get("generation", 1))
    return ctx.new_pod(
        name,
        metadata["namespace"],
        owner_ref(ds),
        template,
        labels,
        node,
        created_at=created_at,
        revision=digest,
    )


def reconcile_daemonset(ctx: Context, ds: JsonDict) -> None:
    metadata = ds["metadata"]
    uid = metadata["uid"]
    records = ctx.pods.of(uid)
    revision, digest = ensure_revision(ctx, ds, DS_HASH_LABEL)
    if uid not in ctx.pods.adopted:
        ctx.pods.adopted.add(uid)
        ready = as_int((ds.get("status") or {}).get("numberReady"))
        for node in ctx.nodes()[:ready]:
            rec = _new_pod(ctx, ds, node, revision, digest, set(records), ctx.now - _LONG_AGO_S)
            records[rec.name] = rec
    podsync.drop_vanished(ctx, records)
    nodes = ctx.nodes()
    by_node = {rec.node: rec for rec in records.values()}
    changed = False
    for node in nodes:
        if node not in by_node:
            rec = _new_pod(ctx, ds, node, revision, digest, set(records))
            records[rec.name] = rec
            by_node[node] = rec
            changed = True
    found = podsync.states(ctx, records.values())
    strategy = ds["spec"].get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        max_unavailable = int_or_percent(
            (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), len(nodes), True
        )
        unavailable = sum(1 for s in found.values() if not s.ready)
        outdated = [r for r in records.values() if r.revision != digest]
        # Outdated pods that are unavailable anyway go first, then healthy ones within budget.
        outdated.sort(key=lambda r: (found[r.name].ready, r.node))
        budget = max_unavailable - unavailable
        for rec in outdated:
            if found[rec.name].ready:
                if budget <= 0:
                    break
                budget -= 1
            del records[rec.name]
            del found[rec.name]
            podsync.remove(ctx, rec)
            changed = True
    podsync.mirror(ctx, records.values(), found)
    ready = sum(1 for s in found.values() if s.ready)
    status = without_empty(
        {
            "currentNumberScheduled": len(records),
            "numberMisscheduled": 0,
            "desiredNumberScheduled": len(nodes),
            "numberReady": ready,
            "observedGeneration": metadata.get("generation", 1),
            "updatedNumberScheduled": sum(1 for r in records.values() if r.revision == digest),
            "numberAvailable": ready,
            "numberUnavailable": len(nodes) - ready,
        },
        keep=(
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
        ),
    )
    if ds.get("status") != status:
        ctx.store.update_status("daemonsets", status_patch(ds, status), copy=False)
    live = {revision["metadata"]["name"]} | {
        f"{metadata['name']}-{r.revision}" for r in records.values()
    }
    truncate_history(ctx, ds, live)
    wake = ctx.now if changed else podsync.next_change(found.values())
    if wake is not None:
        ctx.wake(wake, "daemonsets", metadata["namespace"], metadata["name"])
