"""Who hears about the store's events: watch subscriptions, and synchronous listeners.

Fan-out is a synchronous `put_nowait`, so a snapshot and a subscription taken without an
`await` in between can never miss or repeat an event.
"""

from __future__ import annotations

from collections.abc import Callable

from kubesim import errors
from kubesim.events import Subscription, WatchEvent
from kubesim.keyspace import Keyspace
from kubesim.store_reads import EventList, Reads

Listener = Callable[[str, WatchEvent], None]


class Watches:
    def __init__(self, *, keyspace: Keyspace, reads: Reads, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        self._keyspace = keyspace
        self._reads = reads
        self._subscribers: dict[str, set[Subscription]] = {
            plural: set() for plural in keyspace.buckets
        }
        self._listeners: tuple[Listener, ...] = ()

    def add_listener(self, listener: Listener) -> None:
        """Synchronous callback after every event; how controllers learn about changes."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners = tuple(x for x in self._listeners if x is not listener)

    def watch(self, resource: str, since: int | None) -> tuple[EventList, Subscription]:
        """Initial events plus a live subscription, taken atomically.

        `since=None` means "current state first" (synthetic ADDED events, as for a watch
        without resourceVersion); otherwise every retained event after `since` is replayed.
        """
        bucket = self._keyspace.bucket(resource)
        if since is None:
            snap = self._reads.snapshot(resource)
            initial = [
                WatchEvent(snap.entries[k].rv, "ADDED", snap.entries[k], None) for k in snap.keys
            ]
        else:
            if since < bucket.compacted_rv:
                raise errors.expired(f"too old resource version: {since} ({bucket.compacted_rv})")
            initial = [e for e in bucket.history if e.rv > since]
        sub = Subscription(resource, self.queue_limit, on_close=self.unsubscribe)
        self._subscribers[resource].add(sub)
        return initial, sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers[sub.resource].discard(sub)

    def subscribers(self, resource: str) -> tuple[Subscription, ...]:
        return tuple(self._subscribers[resource])

    def deliver(self, resource: str, event: WatchEvent) -> None:
        """Hands one committed event to every watcher of `resource`, then to the listeners."""
        for sub in [*self._subscribers[resource]]:
            sub.deliver(event)
        for listener in self._listeners:
            listener(resource, event)
