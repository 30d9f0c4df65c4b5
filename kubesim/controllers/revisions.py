"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

Each distinct pod template is stored once as `<owner>-<hash>` with an int64 `revision` and
`data` in the strategic-merge-patch shape the real controllers write
(`{"spec": {"template": {"$patch": "replace", ...}}}`). Returning to an earlier template
reuses its revision object and bumps its `revision` to max+1, as on a real cluster.
"""

from __future__ import annotations

import contextlib

from kubesim import errors
from kubesim.controllers.common import Context
from kubesim.store import Store
from kubesim.util import JsonDict, as_int, clone, owner_ref, safe_hash

STS_HASH_LABEL = "controller.kubernetes.io/hash"
DS_HASH_LABEL = "controller-revision-hash"


def revision_data(template: JsonDict) -> JsonDict:
    return {"spec": {"template": {"$patch": "replace", **clone(template)}}}


def template_of(revision: JsonDict) -> JsonDict:
    template = clone(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def revisions_of_uid(store: Store, owner_uid: str) -> list[JsonDict]:
    """The owner's ControllerRevisions, oldest revision first."""
    return sorted(
        store.owned("controllerrevisions", owner_uid),
        key=lambda r: (as_int(r.get("revision")), r["metadata"]["name"]),
    )


def revisions_of(ctx: Context, owner: JsonDict) -> list[JsonDict]:
    return revisions_of_uid(ctx.store, owner["metadata"]["uid"])


def ensure_revision(ctx: Context, owner: JsonDict, hash_label: str) -> tuple[JsonDict, str]:
    """The ControllerRevision for the owner's current template (created or bumped)."""
    metadata = owner["metadata"]
    template = owner["spec"].get("template") or {}
    data = revision_data(template)
    digest = safe_hash(data)
    existing = revisions_of(ctx, owner)
    latest = max((as_int(r.get("revision")) for r in existing), default=0)
    equal = [r for r in existing if r.get("data") == data]
    if equal:
        found = equal[-1]
        if as_int(found.get("revision")) < latest:
            updated = clone(found)
            updated["revision"] = latest + 1
            found = ctx.store.update("controllerrevisions", updated, copy=False)
        return found, (found["metadata"].get("labels") or {}).get(hash_label, digest)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[hash_label] = digest
    revision: JsonDict = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{metadata['name']}-{digest}",
            "namespace": metadata["namespace"],
            "creationTimestamp": ctx.timestamp,
            "labels": labels,
            "ownerReferences": [owner_ref(owner)],
        },
        "data": data,
        "revision": latest + 1,
    }
    if hash_label == DS_HASH_LABEL and metadata.get("annotations"):
        revision["metadata"]["annotations"] = dict(metadata["annotations"])
    return ctx.store.create("controllerrevisions", revision, copy=False), digest


def truncate_history(ctx: Context, owner: JsonDict, live: set[str]) -> None:
    """Keeps at most revisionHistoryLimit revisions that no pod or status refers to."""
    limit = as_int(owner["spec"].get("revisionHistoryLimit"), 10)
    dead = [r for r in revisions_of(ctx, owner) if r["metadata"]["name"] not in live]
    for r in dead[: max(0, len(dead) - limit)]:
        with contextlib.suppress(errors.ApiError):
            ctx.store.delete(
                "controllerrevisions", r["metadata"]["name"], r["metadata"]["namespace"]
            )
