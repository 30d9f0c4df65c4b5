"""The simulated cluster's object store: etcd plus the API server's watch cache, in memory.

One global, monotonically increasing resourceVersion orders every write, as etcd revisions do.
Each resource keeps a bounded history of events; a watch or a paginated list that needs an
event the history no longer holds is answered with 410 Expired, which is exactly the condition
a real client must recover from by relisting. The store is single-threaded: it is mutated
from the event loop thread only, and watch fan-out is a synchronous `put_nowait`, so a
snapshot and a subscription taken without an `await` in between can never miss or repeat an
event.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kubesim import errors
from kubesim.defaults import DEFAULTERS
from kubesim.events import Entry, EventType, Subscription, WatchEvent
from kubesim.resources import Registry, ResourceType
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


@dataclass(slots=True)
class Snapshot:
    """A consistent view of one resource at one resourceVersion, sorted by storage key."""

    rv: int
    keys: list[str]
    entries: dict[str, Entry]


@dataclass(slots=True)
class _Bucket:
    rt: ResourceType
    entries: dict[str, Entry] = field(default_factory=dict)
    history: deque[WatchEvent] = field(default_factory=deque)
    compacted_rv: int = 0
    subscribers: set[Subscription] = field(default_factory=set)
    owners: dict[str, dict[str, None]] = field(default_factory=dict)
    sorted_keys: list[str] | None = None
    past: tuple[int, Snapshot] | None = None


Listener = Callable[[str, WatchEvent], None]
# Aliases: inside `Store`, the name `list` is the method, not the builtin type.
EventList = list[WatchEvent]
ObjectList = list[JsonDict]


def object_key(rt: ResourceType, name: str, namespace: str | None) -> str:
    return f"{namespace}/{name}" if rt.namespaced else name


class Store:
    def __init__(
        self,
        registry: Registry | None = None,
        *,
        seed: int = 0,
        history_limit: int = 1000,
        watch_queue_limit: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else Registry()
        self.history_limit = history_limit
        self.watch_queue_limit = watch_queue_limit
        self.clock = clock
        self._rv = 1
        self._rng = random.Random(seed)
        self._buckets = {rt.plural: _Bucket(rt) for rt in self.registry}
        self._listeners: tuple[Listener, ...] = ()

    # -- global state ------------------------------------------------------------------------
    @property
    def rv(self) -> int:
        """The latest resourceVersion handed out (any resource)."""
        return self._rv

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def random_suffix(self, length: int = 5) -> str:
        """A generateName suffix; seeded so that a world is reproducible."""
        return "".join(self._rng.choice(SAFE_ALPHABET) for _ in range(length))

    def add_listener(self, listener: Listener) -> None:
        """Synchronous callback after every event; how controllers learn about changes."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners = tuple(x for x in self._listeners if x is not listener)

    # -- reads -------------------------------------------------------------------------------
    def peek(self, resource: str, name: str, namespace: str | None = None) -> JsonDict | None:
        """The stored object itself (no copy): callers must not mutate it."""
        bucket = self._buckets[resource]
        entry = bucket.entries.get(object_key(bucket.rt, name, namespace))
        return entry.obj if entry else None

    def get(self, resource: str, name: str, namespace: str | None = None) -> JsonDict | None:
        found = self.peek(resource, name, namespace)
        return clone(found) if found is not None else None

    def entry(self, resource: str, name: str, namespace: str | None = None) -> Entry | None:
        bucket = self._buckets[resource]
        return bucket.entries.get(object_key(bucket.rt, name, namespace))

    def items(self, resource: str, namespace: str | None = None) -> Iterator[JsonDict]:
        """Stored objects without copying, in no particular order; do not mutate them."""
        for entry in [*self._buckets[resource].entries.values()]:
            if namespace is None or entry.obj["metadata"].get("namespace") == namespace:
                yield entry.obj

    def list(self, resource: str, namespace: str | None = None) -> ObjectList:
        snap = self.snapshot(resource)
        out = []
        for key in snap.keys:
            obj = snap.entries[key].obj
            if namespace is None or obj["metadata"].get("namespace") == namespace:
                out.append(clone(obj))
        return out

    def count(self, resource: str) -> int:
        return len(self._buckets[resource].entries)

    def owned(self, resource: str, owner_uid: str) -> ObjectList:
        """Objects of `resource` whose controller owner has this uid (no copies)."""
        bucket = self._buckets[resource]
        keys = bucket.owners.get(owner_uid, {})
        return [bucket.entries[k].obj for k in keys if k in bucket.entries]

    def history(self, resource: str) -> EventList:
        return [*self._buckets[resource].history]

    def compacted_rv(self, resource: str) -> int:
        return self._buckets[resource].compacted_rv

    def compact(self, resource: str | None = None) -> None:
        """Forgets all history up to now, like an etcd compaction: older versions become 410."""
        for plural in [resource] if resource else [*self._buckets]:
            bucket = self._buckets[plural]
            bucket.history.clear()
            bucket.compacted_rv = self._rv

    # -- snapshots for lists -----------------------------------------------------------------
    def snapshot(self, resource: str, at: int | None = None) -> Snapshot:
        """The resource as it was at resourceVersion `at` (default: now).

        Older states are rebuilt by undoing retained history; if that history was compacted
        the state is gone, and the caller gets the 410 Expired a real server would send.
        """
        bucket = self._buckets[resource]
        if at is not None and at < bucket.compacted_rv:
            raise errors.expired(f"too old resource version: {at} ({bucket.compacted_rv})")
        if at is None or at >= self._rv or not bucket.history or at >= bucket.history[-1].rv:
            if bucket.sorted_keys is None:
                bucket.sorted_keys = sorted(bucket.entries)
            return Snapshot(at if at is not None else self._rv, bucket.sorted_keys, bucket.entries)
        if at < bucket.compacted_rv:
            raise errors.expired(f"too old resource version: {at} ({bucket.compacted_rv})")
        if bucket.past is not None and bucket.past[0] == at:
            return bucket.past[1]
        entries = dict(bucket.entries)
        for event in reversed(bucket.history):
            if event.rv <= at:
                break
            key = object_key(
                bucket.rt,
                event.entry.obj["metadata"]["name"],
                event.entry.obj["metadata"].get("namespace"),
            )
            if event.prev is None:
                entries.pop(key, None)
            else:
                entries[key] = event.prev
        snap = Snapshot(at, sorted(entries), entries)
        bucket.past = (at, snap)
        return snap

    # -- watches -----------------------------------------------------------------------------
    def watch(self, resource: str, since: int | None) -> tuple[EventList, Subscription]:
        """Initial events plus a live subscription, taken atomically.

        `since=None` means "current state first" (synthetic ADDED events, as for a watch
        without resourceVersion); otherwise every retained event after `since` is replayed.
        """
        bucket = self._buckets[resource]
        if since is None:
            snap = self.snapshot(resource)
            initial = [
                WatchEvent(snap.entries[k].rv, "ADDED", snap.entries[k], None) for k in snap.keys
            ]
        else:
            if since < bucket.compacted_rv:
                raise errors.expired(f"too old resource version: {since} ({bucket.compacted_rv})")
            initial = [e for e in bucket.history if e.rv > since]
        sub = Subscription(resource, self.watch_queue_limit, on_close=self.unsubscribe)
        bucket.subscribers.add(sub)
        return initial, sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._buckets[sub.resource].subscribers.discard(sub)

    def subscribers(self, resource: str) -> tuple[Subscription, ...]:
        return tuple(self._buckets[resource].subscribers)

    # -- writes ------------------------------------------------------------------------------
    def create(
        self, resource: str, obj: JsonDict, *, copy: bool = True, now: float | None = None
    ) -> JsonDict:
        """Stores a new object. A given creationTimestamp is kept (history "in the past")."""
        bucket = self._buckets[resource]
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
        namespace = metadata.get("namespace")
        if rt.namespaced:
            if not isinstance(namespace, str) or not namespace:
                raise errors.invalid(rt.kind, name, "metadata.namespace: Required value")
        else:
            metadata.pop("namespace", None)
            namespace = None
        key = object_key(rt, name, namespace)
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
        self._check_precondition(rt, new, old)
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
            if self._spec_changed(old.obj, new):
                generation += 1
            metadata["generation"] = generation
        return self._commit(bucket, key, "MODIFIED", new, old, copy)

    def update_status(self, resource: str, obj: JsonDict, *, copy: bool = True) -> JsonDict:
        """The /status subresource: only `status` is taken from `obj`."""
        bucket, key, old = self._existing(resource, obj)
        self._check_precondition(bucket.rt, obj, old)
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
        current = self.get(resource, name, namespace)
        if current is None:
            rt = self._buckets[resource].rt
            raise errors.not_found(rt.plural, rt.group, name)
        change(current)
        if status:
            return clone(self.update_status(resource, current, copy=False))
        return clone(self.update(resource, current, copy=False))

    def delete(self, resource: str, name: str, namespace: str | None = None) -> JsonDict:
        bucket = self._buckets[resource]
        rt = bucket.rt
        key = object_key(rt, name, namespace)
        old = bucket.entries.get(key)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, name)
        self._rv += 1
        final = dict(old.obj)
        final["metadata"] = dict(old.obj["metadata"], resourceVersion=str(self._rv))
        entry = Entry(final, self._rv, rt.builtin)
        del bucket.entries[key]
        bucket.sorted_keys = None
        self._index_owner(bucket, key, old.obj, None)
        self._publish(bucket, WatchEvent(self._rv, "DELETED", entry, old))
        return clone(final)

    # -- internals ---------------------------------------------------------------------------
    def _existing(self, resource: str, obj: JsonDict) -> tuple[_Bucket, str, Entry]:
        bucket = self._buckets[resource]
        rt = bucket.rt
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            raise errors.invalid(rt.kind, "", "metadata.name: Required value")
        key = object_key(rt, metadata["name"], metadata.get("namespace"))
        old = bucket.entries.get(key)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, metadata["name"])
        return bucket, key, old

    @staticmethod
    def _check_precondition(rt: ResourceType, new: JsonDict, old: Entry) -> None:
        wanted = new.get("metadata", {}).get("resourceVersion")
        if wanted and wanted != old.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, old.obj["metadata"]["name"])

    @staticmethod
    def _spec_changed(old: JsonDict, new: JsonDict) -> bool:
        if "spec" in old or "spec" in new:
            return bool(old.get("spec") != new.get("spec"))
        skip = ("metadata", "status", "kind", "apiVersion")
        return {k: v for k, v in old.items() if k not in skip} != {
            k: v for k, v in new.items() if k not in skip
        }

    def _normalize(self, rt: ResourceType, obj: JsonDict, rv: int) -> JsonDict:
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

    def _commit(
        self,
        bucket: _Bucket,
        key: str,
        kind: EventType,
        new: JsonDict,
        old: Entry | None,
        copy: bool,
    ) -> JsonDict:
        """Stores `new`; returns a copy, or (copy=False) the stored object itself, read-only."""
        rt = bucket.rt
        if old is not None:
            candidate = self._normalize(rt, new, int(old.obj["metadata"]["resourceVersion"]))
            if candidate == old.obj:
                return clone(old.obj) if copy else old.obj
        self._rv += 1
        stored = self._normalize(rt, new, self._rv)
        entry = Entry(stored, self._rv, rt.builtin)
        bucket.entries[key] = entry
        if old is None:
            bucket.sorted_keys = None
        self._index_owner(bucket, key, old.obj if old else None, stored)
        self._publish(bucket, WatchEvent(self._rv, kind, entry, old))
        return clone(stored) if copy else stored

    def _index_owner(
        self, bucket: _Bucket, key: str, old: JsonDict | None, new: JsonDict | None
    ) -> None:
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

    def _publish(self, bucket: _Bucket, event: WatchEvent) -> None:
        if len(bucket.history) >= self.history_limit:
            evicted = bucket.history.popleft()
            bucket.compacted_rv = evicted.rv
        bucket.history.append(event)
        for sub in [*bucket.subscribers]:
            sub.deliver(event)
        for listener in self._listeners:
            listener(bucket.rt.plural, event)
