"""The data the store's parts share: one bucket of objects per resource, and the global
resourceVersion that orders every write (as etcd revisions do).

Nothing here decides anything: reads query the buckets, writes change them and hand the
events on, the subscriptions fan those out. Each of those parts keeps its own state; this is
only the part of the state they all look at.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kubesim.events import Entry, WatchEvent
from kubesim.resources import Registry, ResourceType
from kubesim.util import JsonDict


@dataclass(slots=True)
class Snapshot:
    """A consistent view of one resource at one resourceVersion, sorted by storage key."""

    rv: int
    keys: list[str]
    entries: dict[str, Entry]


@dataclass(slots=True)
class Bucket:
    """One resource: its current objects, its retained history and its indexes."""

    rt: ResourceType
    entries: dict[str, Entry] = field(default_factory=dict)
    history: deque[WatchEvent] = field(default_factory=deque)
    compacted_rv: int = 0
    owners: dict[str, dict[str, None]] = field(default_factory=dict)
    sorted_keys: list[str] | None = None


def object_key(rt: ResourceType, name: str, namespace: str | None) -> str:
    return f"{namespace}/{name}" if rt.namespaced else name


def event_key(rt: ResourceType, event: WatchEvent) -> str:
    """The storage key of the object an event is about."""
    metadata: JsonDict = event.entry.obj["metadata"]
    return object_key(rt, metadata["name"], metadata.get("namespace"))


class Keyspace:
    """Every resource's bucket, plus the latest resourceVersion handed out (any resource)."""

    def __init__(self, *, registry: Registry) -> None:
        self.registry = registry
        self.rv = 1
        self.buckets = {rt.plural: Bucket(rt) for rt in registry}

    def bucket(self, resource: str) -> Bucket:
        return self.buckets[resource]

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv
