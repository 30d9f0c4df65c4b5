"""A consistent snapshot of one resource, the way client-go's reflector gets one.

First choice, a *streaming list*: a watch with ``sendInitialEvents=true`` and
``resourceVersionMatch=NotOlderThan``, served by the API server's watch cache one object at a
time and ended by a bookmark annotated ``k8s.io/initial-events-end`` (on by default since
Kubernetes 1.34). Memory stays at one object, etcd is not read. When the server does not
serve it (422: the WatchList feature is off; or the stream ends early), a paginated LIST
(consistent, ``limit`` pages; served from the watch cache where ConsistentListFromCache is
on, 1.34+). If a continue token expires mid-way, the list starts over — but every object is
handed to ``feed`` once: a retry skips what was fed unchanged, feeds changed objects again as
MODIFIED and objects that vanished as DELETED, so the model never sees a page twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from exporter.events.envelope import EventType
from exporter.kube.client import ApiClient, ApiError, LineTooLong
from exporter.kube.decoding import Decoder, InformerStats, Line, compact, object_key, object_version
from exporter.kube.resources import Resource

log = logging.getLogger("daylight.kube")

Feed = Callable[[EventType, Any], None]
"""Receives each object of a snapshot once, as it arrives (then it is compacted)."""

INITIAL_EVENTS_END = b'"k8s.io/initial-events-end"'
WATCH_LIST_UNSERVED = frozenset({400, 422})  # the WatchList feature is off, or too old a server


class StreamEnded(Exception):
    """The streaming list ended before its initial-events-end bookmark."""


class Snapshot:
    """One snapshot, across restarts of it: what the current try saw, and what was fed."""

    def __init__(self, feed: Feed | None) -> None:
        self.feed = feed
        self.objects: dict[str, Any] = {}
        self.fed: dict[str, tuple[str, Any]] = {}  # key -> (resourceVersion, object)
        self.resource_version = ""

    def add(self, obj: Any) -> None:
        key = object_key(obj)
        self.objects[key] = obj
        if self.feed is not None:
            version = object_version(obj)
            before = self.fed.get(key)
            if before is None or before[0] != version:
                self.fed[key] = (version, obj)
                self.feed(EventType.ADDED if before is None else EventType.MODIFIED, obj)
        compact(obj)

    def restart(self) -> None:
        self.objects = {}

    def finish(self) -> dict[str, Any]:
        """Objects fed by an earlier try but absent from the last one were deleted meanwhile."""
        if self.feed is not None:
            for key in [k for k in self.fed if k not in self.objects]:
                _, obj = self.fed.pop(key)
                self.feed(EventType.DELETED, obj)
        return self.objects


class Lister:
    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        *,
        namespace: str | None,
        label_selector: str | None,
        decoder: Decoder,
        stats: InformerStats,
        page_size: int,
        watch_timeout_s: int,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.decoder = decoder
        self.stats = stats
        self.page_size = page_size
        self.watch_timeout_s = watch_timeout_s
        self.streaming = True  # off for this process once the server said it does not serve it
        self.name = decoder.name

    def params(self) -> dict[str, str]:
        return {"labelSelector": self.label_selector} if self.label_selector else {}

    async def snapshot(self, snap: Snapshot) -> tuple[dict[str, Any], str]:
        """(key → object, resourceVersion to watch from). ApiError and connection errors
        propagate; the caller retries with the same ``snap``, so nothing is fed twice."""
        snap.restart()
        if self.streaming:
            try:
                await self._stream(snap)
                return self._done(snap)
            except ApiError as exc:
                if exc.code not in WATCH_LIST_UNSERVED:
                    raise
                self.streaming = False
                log.info("%s: no streaming list (%s); using paginated lists", self.name, exc)
            except StreamEnded as exc:
                log.info("%s: %s; falling back to a paginated list", self.name, exc)
            snap.restart()
        await self._pages(snap)
        return self._done(snap)

    def _done(self, snap: Snapshot) -> tuple[dict[str, Any], str]:
        self.stats.lists += 1
        return snap.finish(), snap.resource_version

    async def _stream(self, snap: Snapshot) -> None:
        params = self.params()
        params.update(
            {
                "watch": "1",
                "sendInitialEvents": "true",
                "resourceVersionMatch": "NotOlderThan",
                "allowWatchBookmarks": "true",
                "timeoutSeconds": str(self.watch_timeout_s),
            }
        )
        path = self.resource.path(self.namespace)
        read_timeout = self.watch_timeout_s + 60
        async with self.client.stream(path, params, read_timeout_s=read_timeout) as lines:
            async for line in lines:
                if isinstance(line, LineTooLong):
                    self.decoder.invalid("oversized_event", f"{line.size} bytes")
                    continue
                outcome, change, obj = self.decoder.line(line)
                if outcome is Line.GONE:
                    raise ApiError(410, "Expired", "streaming list: resourceVersion too old")
                if outcome is Line.ERROR:
                    raise ApiError(500, "WatchError", "error event in the streaming list")
                if obj is not None and change is not EventType.DELETED:
                    snap.add(obj)
                elif self.decoder.position and INITIAL_EVENTS_END in line:
                    snap.resource_version = self.decoder.position
                    return
        raise StreamEnded("the streaming list ended before its last initial event")

    async def _pages(self, snap: Snapshot) -> None:
        params = self.params()
        params["limit"] = str(self.page_size)
        token = ""
        path = self.resource.path(self.namespace)
        while True:
            if token:
                params["continue"] = token
            try:
                body = await self.client.get(path, params)
            except ApiError as exc:
                if exc.code == 410 and token:  # continue token expired: start over
                    self.stats.restarts["list_expired"] += 1
                    log.info("%s: continue token expired; listing again", self.name)
                    snap.restart()
                    token = ""
                    params.pop("continue", None)
                    continue
                raise
            page = self.decoder.page(body)
            del body
            for item in page.items:
                obj = self.decoder.prepare(item)
                if obj is not None:
                    snap.add(obj)
            token = page.metadata.continue_
            snap.resource_version = page.metadata.resource_version
            if not token:
                return
