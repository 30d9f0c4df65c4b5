"""The simulated cluster's object store: etcd plus the API server's watch cache, in memory.

One global, monotonically increasing resourceVersion orders every write, as etcd revisions do.
Each resource keeps a bounded history of events; a watch or a paginated list that needs an
event the history no longer holds is answered with 410 Expired, which is exactly the condition
a real client must recover from by relisting. The store is single-threaded: it is mutated
from the event loop thread only, and watch fan-out is a synchronous `put_nowait`, so a
snapshot and a subscription taken without an `await` in between can never miss or repeat an
event.

`Store` is a thin facade over three parts that each own their state, over one shared
`Keyspace` (the buckets and the resourceVersion): `Reads` (lookups, listings, snapshots),
`Writes` (validation, commit, history retention, publication) and `Watches` (subscriptions
and listeners).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from kubesim.events import Entry, Subscription
from kubesim.keyspace import Keyspace, Snapshot, object_key
from kubesim.resources import Registry
from kubesim.store_reads import EventList, ObjectList, Reads
from kubesim.store_watches import Listener, Watches
from kubesim.store_writes import Writes
from kubesim.util import JsonDict

__all__ = ["EventList", "Listener", "ObjectList", "Snapshot", "Store", "object_key"]


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
        self.keyspace = Keyspace(registry=self.registry)
        self.reads = Reads(keyspace=self.keyspace)
        self.watches = Watches(
            keyspace=self.keyspace, reads=self.reads, queue_limit=watch_queue_limit
        )
        self.writes = Writes(
            keyspace=self.keyspace,
            reads=self.reads,
            publish=self.watches.deliver,
            seed=seed,
            history_limit=history_limit,
            clock=clock,
        )

    # -- global state ------------------------------------------------------------------------
    @property
    def rv(self) -> int:
        """The latest resourceVersion handed out (any resource)."""
        return self.keyspace.rv

    @property
    def history_limit(self) -> int:
        return self.writes.history_limit

    @property
    def watch_queue_limit(self) -> int:
        return self.watches.queue_limit

    @property
    def clock(self) -> Callable[[], float]:
        return self.writes.clock

    def new_uid(self) -> str:
        return self.writes.new_uid()

    def random_suffix(self, length: int = 5) -> str:
        """A generateName suffix; seeded so that a world is reproducible."""
        return self.writes.random_suffix(length)

    def add_listener(self, listener: Listener) -> None:
        """Synchronous callback after every event; how controllers learn about changes."""
        self.watches.add_listener(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.watches.remove_listener(listener)

    # -- reads -------------------------------------------------------------------------------
    def peek(self, resource: str, name: str, namespace: str | None = None) -> JsonDict | None:
        """The stored object itself (no copy): callers must not mutate it."""
        return self.reads.peek(resource, name, namespace)

    def get(self, resource: str, name: str, namespace: str | None = None) -> JsonDict | None:
        return self.reads.get(resource, name, namespace)

    def entry(self, resource: str, name: str, namespace: str | None = None) -> Entry | None:
        return self.reads.entry(resource, name, namespace)

    def items(self, resource: str, namespace: str | None = None) -> Iterator[JsonDict]:
        """Stored objects without copying, in no particular order; do not mutate them."""
        return self.reads.items(resource, namespace)

    def list(self, resource: str, namespace: str | None = None) -> ObjectList:
        return self.reads.list(resource, namespace)

    def count(self, resource: str) -> int:
        return self.reads.count(resource)

    def owned(self, resource: str, owner_uid: str) -> ObjectList:
        """Objects of `resource` whose controller owner has this uid (no copies)."""
        return self.reads.owned(resource, owner_uid)

    def history(self, resource: str) -> EventList:
        return self.reads.history(resource)

    def compacted_rv(self, resource: str) -> int:
        return self.reads.compacted_rv(resource)

    def compact(self, resource: str | None = None) -> None:
        """Forgets all history up to now, like an etcd compaction: older versions become 410."""
        self.writes.compact(resource)

    def snapshot(self, resource: str, at: int | None = None) -> Snapshot:
        """The resource as it was at resourceVersion `at` (default: now); 410 once compacted."""
        return self.reads.snapshot(resource, at)

    # -- watches -----------------------------------------------------------------------------
    def watch(self, resource: str, since: int | None) -> tuple[EventList, Subscription]:
        """Initial events plus a live subscription, taken atomically (see `Watches.watch`)."""
        return self.watches.watch(resource, since)

    def unsubscribe(self, sub: Subscription) -> None:
        self.watches.unsubscribe(sub)

    def subscribers(self, resource: str) -> tuple[Subscription, ...]:
        return self.watches.subscribers(resource)

    # -- writes ------------------------------------------------------------------------------
    def create(
        self, resource: str, obj: JsonDict, *, copy: bool = True, now: float | None = None
    ) -> JsonDict:
        """Stores a new object. A given creationTimestamp is kept (history "in the past")."""
        return self.writes.create(resource, obj, copy=copy, now=now)

    def update(
        self,
        resource: str,
        obj: JsonDict,
        *,
        copy: bool = True,
        with_status: bool = False,
    ) -> JsonDict:
        """PUT semantics: spec and metadata from `obj`, status kept (see `Writes.update`)."""
        return self.writes.update(resource, obj, copy=copy, with_status=with_status)

    def update_status(self, resource: str, obj: JsonDict, *, copy: bool = True) -> JsonDict:
        """The /status subresource: only `status` is taken from `obj`."""
        return self.writes.update_status(resource, obj, copy=copy)

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
        return self.writes.mutate(resource, name, namespace, change, status=status)

    def delete(self, resource: str, name: str, namespace: str | None = None) -> JsonDict:
        return self.writes.delete(resource, name, namespace)
