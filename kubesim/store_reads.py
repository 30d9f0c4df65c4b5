"""The store's read side: lookups, listings and consistent snapshots (current or past).

Past states are rebuilt by undoing retained history; the last one rebuilt is kept per
resource, since a paginated list asks for the same resourceVersion page after page.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubesim import errors
from kubesim.events import Entry, WatchEvent
from kubesim.keyspace import Keyspace, Snapshot, event_key, object_key
from kubesim.util import JsonDict, clone

# Aliases: inside `Reads`, the name `list` is the method, not the builtin type.
EventList = list[WatchEvent]
ObjectList = list[JsonDict]


class Reads:
    def __init__(self, *, keyspace: Keyspace) -> None:
        self._keyspace = keyspace
        self._past: dict[str, tuple[int, Snapshot]] = {}

    def peek(self, resource: str, name: str, namespace: str | None = None) -> JsonDict | None:
        """The stored object itself (no copy): callers must not mutate it."""
        entry = self.entry(resource, name, namespace)
        return entry.obj if entry else None

    def get(self, resource: str, name: str, namespace: str | None = None) -> JsonDict | None:
        found = self.peek(resource, name, namespace)
        return clone(found) if found is not None else None

    def entry(self, resource: str, name: str, namespace: str | None = None) -> Entry | None:
        bucket = self._keyspace.bucket(resource)
        return bucket.entries.get(object_key(bucket.rt, name, namespace))

    def items(self, resource: str, namespace: str | None = None) -> Iterator[JsonDict]:
        """Stored objects without copying, in no particular order; do not mutate them."""
        for entry in [*self._keyspace.bucket(resource).entries.values()]:
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
        return len(self._keyspace.bucket(resource).entries)

    def owned(self, resource: str, owner_uid: str) -> ObjectList:
        """Objects of `resource` whose controller owner has this uid (no copies)."""
        bucket = self._keyspace.bucket(resource)
        keys = bucket.owners.get(owner_uid, {})
        return [bucket.entries[k].obj for k in keys if k in bucket.entries]

    def history(self, resource: str) -> EventList:
        return [*self._keyspace.bucket(resource).history]

    def compacted_rv(self, resource: str) -> int:
        return self._keyspace.bucket(resource).compacted_rv

    def snapshot(self, resource: str, at: int | None = None) -> Snapshot:
        """The resource as it was at resourceVersion `at` (default: now).

        Older states are rebuilt by undoing retained history; if that history was compacted
        the state is gone, and the caller gets the 410 Expired a real server would send.
        """
        bucket = self._keyspace.bucket(resource)
        rv = self._keyspace.rv
        if at is not None and at < bucket.compacted_rv:
            raise errors.expired(f"too old resource version: {at} ({bucket.compacted_rv})")
        if at is None or at >= rv or not bucket.history or at >= bucket.history[-1].rv:
            if bucket.sorted_keys is None:
                bucket.sorted_keys = sorted(bucket.entries)
            return Snapshot(at if at is not None else rv, bucket.sorted_keys, bucket.entries)
        past = self._past.get(resource)
        if past is not None and past[0] == at:
            return past[1]
        entries = dict(bucket.entries)
        for event in reversed(bucket.history):
            if event.rv <= at:
                break
            key = event_key(bucket.rt, event)
            if event.prev is None:
                entries.pop(key, None)
            else:
                entries[key] = event.prev
        snap = Snapshot(at, sorted(entries), entries)
        self._past[resource] = (at, snap)
        return snap
