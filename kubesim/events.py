"""What flows from the store to watchers: stored versions, events, subscriptions.

An `Entry` caches its own JSON encodings, so an event fanned out to a hundred watchers (or a
list served a hundred times) is serialised once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import msgspec

from kubesim.util import JsonDict

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

_encode = msgspec.json.Encoder().encode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


class Entry:
    """One stored version of an object, with its wire encodings computed at most once."""

    __slots__ = ("_full", "_item", "builtin", "obj", "rv")

    def __init__(self, obj: JsonDict, rv: int, builtin: bool) -> None:
        self.obj = obj
        self.rv = rv
        self.builtin = builtin
        self._full: bytes | None = None
        self._item: bytes | None = None

    def full_bytes(self) -> bytes:
        """As served by GET and in watch events: with kind and apiVersion."""
        if self._full is None:
            self._full = _encode(self.obj) if self.builtin else _encode_sorted(self.obj)
        return self._full

    def item_bytes(self) -> bytes:
        """As served inside a typed list: built-in items carry no kind/apiVersion."""
        if not self.builtin:
            return self.full_bytes()
        if self._item is None:
            self._item = _encode(
                {k: v for k, v in self.obj.items() if k not in ("kind", "apiVersion")}
            )
        return self._item


@dataclass(frozen=True, slots=True)
class WatchEvent:
    rv: int
    type: EventType
    entry: Entry
    prev: Entry | None  # the version before this event, so selector transitions can be derived


class _Signal:
    """Queue sentinels: not events, so they never count against a watcher's buffer."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


CLOSED = _Signal("closed")
POKE = _Signal("poke")

QueueItem = WatchEvent | _Signal


class Subscription:
    """A live watcher: events land in its queue; if it falls too far behind it is dropped.

    Dropping rather than blocking is what the real watch cache does with slow consumers: the
    stream is closed and the client has to re-watch from the last resourceVersion it saw.

    `on_close` is called once, when the subscription closes (the store forgets it there), so
    this module needs nothing from the store: the store depends on events, not the reverse.
    """

    def __init__(self, resource: str, limit: int, on_close: Callable[[Subscription], None]) -> None:
        self.on_close = on_close
        self.resource = resource
        self.limit = limit
        self.queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        self.closed = False
        self.dropped = False

    def deliver(self, event: WatchEvent) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.limit:
            self.dropped = True
            self.close()
            return
        self.queue.put_nowait(event)

    def poke(self) -> None:
        """Wakes the consumer without an event (e.g. a fault was armed)."""
        if not self.closed:
            self.queue.put_nowait(POKE)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(CLOSED)
            self.on_close(self)
