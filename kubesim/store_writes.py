"""The store's write side: validation, defaulting, commit and publication of every change.

One global, monotonically increasing resourceVersion orders every write. Each resource keeps
a bounded history of events; evicting the oldest moves the resource's compaction point, past
which a watch or a paginated list gets 410 Expired. Uids and generated names come from one
seeded random stream, so that a world is reproducible.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

from kubesim import errors
from kubesim.defaults import DEFAULTERS
from kubesim.events import Entry, EventType, WatchEvent
from kubesim.keyspace import Bucket, Keyspace, object_key
from kubesim.resources import ResourceType
from kubesim.store_reads import Reads
from kubesim.util import SAFE_ALPHABET, JsonDict, clone, controller_uid, rfc3339

_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)
_IMMUTABLE_META = ("name", "namespace", "uid", "creationTimestamp", "generateName")


def _check_precondition(rt: ResourceType, new: JsonDict, old: Entry) -> None:
    wanted = new.get("metadata", {}).get("resourceVersion")
    if wanted and wanted != old.obj["metadata"]["resourceVersion"]:
        raise errors.conflict(rt.plural, rt.group, old.obj["metadata"]["name"])


def _spec_changed(old: JsonDict, new: JsonDict) -> bool:
    if "spec" in old or "spec" in new:
        return bool(old.get("spec") != new.get("spec"))
    skip = ("metadata", "status", "kind", "apiVersion")
    return {k: v for k, v in old.items() if k not in skip} != {
        k: v for k, v in new.items() if k not in skip
    }


def _normalize(rt: ResourceType, obj: JsonDict, rv: int) -> JsonDict:
    """Field order as the real server emits it for typed objects: kind, apiVersion, ..."""
    metadata = obj["metadata"]
    metadata["resourceVersion"] = str(rv)
    ordered_meta = {k: metadata[k] for k in _META_ORDER if k in metadata}
    for k, v in metadata.items():
        ordered_meta.setdefault(k, v)
    out: JsonDict = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": ordered_meta}
    for k in ("spec",):
        if k in obj:
            out[k] = obj[k]
    for k, v in obj.items():
        if k not in out and k != "status":
            out[k] = v
    if "status" in obj:
        out["status"] = obj["status"]
    return out


def _index_owner(bucket: Bucket, key: str, old: JsonDict | None, new: JsonDict | None) -> None:
    before = controller_uid(old) if old is not None else None
    after = controller_uid(new) if new is not None else None
    if before == after:
        return
    if before is not None:
        owned = bucket.owners.get(before)
        if owned is not None:
            owned.pop(key, None)
            if not owned:
                del bucket.owners[before]
    if after is not None:
        bucket.owners.setdefault(after, {})[key] = None


def _namespace_of(rt: ResourceType, name: str, metadata: JsonDict) -> str | None:
    """The object's namespace: required for namespaced kinds, dropped for the others."""
    namespace = metadata.get("namespace")
    if rt.namespaced:
        if not isinstance(namespace, str) or not namespace:
            raise errors.invalid(rt.kind, name, "metadata.namespace: Required value")
        return namespace
    metadata.pop("namespace", None)
    return None


class Writes:
    def __init__(
        self,
        *,
        keyspace: Keyspace,
        reads: Reads,
        publish: Callable[[str, WatchEvent], None],
        seed: int,
        history_limit: int,
        clock: Callable[[], float],
    ) -> None:
        self.history_limit = history_limit
        self.clock = clock
        self._keyspace = keyspace
        self._reads = reads
        self._publish_to = publish
        self._rng = random.Random(seed)

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def random_suffix(self, length: int = 5) -> str:
        """A generateName suffix; seeded so that a world is reproducible."""
        return "".join(self._rng.choice(SAFE_ALPHABET) for _ in range(length))

    def create(
        self, resource: str, obj: JsonDict, *, copy: bool = True, now: float | None = None
    ) -> JsonDict:
        """Stores a new object. A given creationTimestamp is kept (history "in the past")."""
        bucket = self._keyspace.bucket(resource)
        rt = bucket.rt
        new = clone(obj) if copy else obj
        metadata = new.get("metadata")
        if not isinstance(metadata, dict):
            raise errors.invalid(rt.kind, "", "metadata: Required value")
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = f"{metadata['generateName']}{self.random_suffix()}"
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise errors.invalid(
                rt.kind, "", "metadata.name: Required value: name or generateName is required"
            )
        key = object_key(rt, name, _namespace_of(rt, name, metadata))
        if key in bucket.entries:
            raise errors.already_exists(rt.plural, rt.group, name)
        uid = metadata.get("uid") or self.new_uid()
        metadata["uid"] = uid
        metadata.setdefault("creationTimestamp", rfc3339(now if now is not None else self.clock()))
        if rt.has_generation:
            metadata["generation"] = 1
        defaulter = DEFAULTERS.get(resource)
        if defaulter is not None:
            defaulter(new, uid)
        return self._commit(bucket, key, "ADDED", new, None, copy)

    def update(
        self,
        resource: str,
        obj: JsonDict,
        *,
        copy: bool = True,
        with_status: bool = False,
    ) -> JsonDict:
        """PUT semantics: spec and metadata from `obj`, status kept (unless `with_status`).

        generation moves only when the spec (or, for kinds without spec, any non-metadata
        field) changes, which is what lets clients tell a scale from a status heartbeat.
        A stale metadata.resourceVersion is a 409 Conflict; an unchanged object is a no-op
        that produces no event, as on a real server.
        """
        bucket, key, old = self._existing(resource, obj)
        rt = bucket.rt
        new = clone(obj) if copy else obj
        _check_precondition(rt, new, old)
        metadata = new.setdefault("metadata", {})
        for field_name in _IMMUTABLE_META:
            if field_name in old.obj["metadata"]:
                metadata[field_name] = old.obj["metadata"][field_name]
        if rt.has_status and not with_status:
            if "status" in old.obj:
                new["status"] = old.obj["status"]
            else:
                new.pop("status", None)
        defaulter = DEFAULTERS.get(resource)
        if defaulter is not None:
            defaulter(new, metadata["uid"])
        if rt.has_generation:
            generation = old.obj["metadata"].get("generation", 1)
            if _spec_changed(old.obj, new):
                generation += 1
            metadata["generation"] = generation
        return self._commit(bucket, key, "MODIFIED", new, old, copy)

    def update_status(self, resource: str, obj: JsonDict, *, copy: bool = True) -> JsonDict:
        """The /status subresource: only `status` is taken from `obj`."""
        bucket, key, old = self._existing(resource, obj)
        _check_precondition(bucket.rt, obj, old)
        new = {k: v for k, v in old.obj.items() if k != "status"}
        new["metadata"] = dict(old.obj["metadata"])
        if "status" in obj:
            new["status"] = clone(obj["status"]) if copy else obj["status"]
        return self._commit(bucket, key, "MODIFIED", new, old, copy)

    def mutate(
        self,
        resource: str,
        name: str,
        namespace: str | None,
        change: Callable[[JsonDict], None],
        *,
        status: bool = False,
    ) -> JsonDict:
        """Read-modify-write helper for tests and the demo driver."""
        current = self._reads.get(resource, name, namespace)
        if current is None:
            rt = self._keyspace.bucket(resource).rt
            raise errors.not_found(rt.plural, rt.group, name)
        change(current)
        if status:
            return clone(self.update_status(resource, current, copy=False))
        return clone(self.update(resource, current, copy=False))

    def delete(self, resource: str, name: str, namespace: str | None = None) -> JsonDict:
        bucket = self._keyspace.bucket(resource)
        rt = bucket.rt
        key = object_key(rt, name, namespace)
        old = bucket.entries.get(key)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, name)
        rv = self._keyspace.next_rv()
        final = dict(old.obj)
        final["metadata"] = dict(old.obj["metadata"], resourceVersion=str(rv))
        entry = Entry(final, rv, rt.builtin)
        del bucket.entries[key]
        bucket.sorted_keys = None
        _index_owner(bucket, key, old.obj, None)
        self._publish(bucket, WatchEvent(rv, "DELETED", entry, old))
        return clone(final)

    def compact(self, resource: str | None = None) -> None:
        """Forgets all history up to now, like an etcd compaction: older versions become 410."""
        for plural in [resource] if resource else [*self._keyspace.buckets]:
            bucket = self._keyspace.bucket(plural)
            bucket.history.clear()
            bucket.compacted_rv = self._keyspace.rv

    # -- internals ---------------------------------------------------------------------------
    def _existing(self, resource: str, obj: JsonDict) -> tuple[Bucket, str, Entry]:
        bucket = self._keyspace.bucket(resource)
        rt = bucket.rt
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            raise errors.invalid(rt.kind, "", "metadata.name: Required value")
        key = object_key(rt, metadata["name"], metadata.get("namespace"))
        old = bucket.entries.get(key)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, metadata["name"])
        return bucket, key, old

    def _commit(
        self,
        bucket: Bucket,
        key: str,
        kind: EventType,
        new: JsonDict,
        old: Entry | None,
        copy: bool,
    ) -> JsonDict:
        """Stores `new`; returns a copy, or (copy=False) the stored object itself, read-only."""
        rt = bucket.rt
        if old is not None:
            candidate = _normalize(rt, new, int(old.obj["metadata"]["resourceVersion"]))
            if candidate == old.obj:
                return clone(old.obj) if copy else old.obj
        rv = self._keyspace.next_rv()
        stored = _normalize(rt, new, rv)
        entry = Entry(stored, rv, rt.builtin)
        bucket.entries[key] = entry
        if old is None:
            bucket.sorted_keys = None
        _index_owner(bucket, key, old.obj if old else None, stored)
        self._publish(bucket, WatchEvent(rv, kind, entry, old))
        return clone(stored) if copy else stored

    def _publish(self, bucket: Bucket, event: WatchEvent) -> None:
        if len(bucket.history) >= self.history_limit:
            evicted = bucket.history.popleft()
            bucket.compacted_rv = evicted.rv
        bucket.history.append(event)
        self._publish_to(bucket.rt.plural, event)
