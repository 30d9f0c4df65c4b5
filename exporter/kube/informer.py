"""List+watch for one resource: the Kubernetes informer protocol, in asyncio.

A paginated LIST gives the starting state and a resourceVersion; a WATCH from that version
streams changes, with bookmarks so a reconnect resumes close to where it left off. A 410 Gone
means the version was compacted: list again and emit the difference as events, so consumers
see a consistent stream whatever happened on the wire. Every failure is counted and retried
with exponential backoff and jitter; 429 answers are retried after the server's Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from exporter.events.envelope import EventType
from exporter.kube.client import ApiClient, ApiError, LineTooLong
from exporter.kube.decoding import (
    Decoder,
    InformerStats,
    Line,
    MalformedBody,
    compact,
    object_key,
    object_version,
)
from exporter.kube.listing import Feed, Lister, Snapshot
from exporter.kube.resources import Resource

log = logging.getLogger("daylight.kube")


Sink = Callable[[EventType, Any, bool], None]
"""Receives (event type, decoded object, initial) for every change, in order."""


class Disabled(Exception):
    """The resource cannot be watched (missing CRD, forbidden); retried much later."""


@dataclass(slots=True)
class Backoff:
    """client-go's reflector backoff: 0.8 s doubling to 30 s, each wait drawn from [d, 2d)
    so many exporters do not reconnect in lockstep; back to 0.8 s once 2 minutes passed
    since the last reset (not after every line: a server that drops each watch after one
    event is not hammered)."""

    base_s: float = 0.8
    cap_s: float = 30.0
    reset_after_s: float = 120.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic
    _since: float = field(default_factory=time.monotonic)

    def next(self) -> float:
        now = self.monotonic()
        if now - self._since > self.reset_after_s:
            self.attempt, self._since = 0, now
        step: float = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 16)
        return step + self.rng.random() * step


class Informer:
    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        item_type: Any = None,
        page_size: int = 500,
        watch_timeout_s: int = 300,
        disabled_retry_s: float = 300.0,
        excluded_namespaces: frozenset[str] = frozenset(),
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.page_size = page_size
        self.watch_timeout_s = watch_timeout_s
        self.disabled_retry_s = disabled_retry_s
        self.excluded = excluded_namespaces
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.item_type = item_type if item_type is not None else resource.item_type
        self.cache: dict[str, Any] = {}
        self.resource_version = ""
        self.stats = InformerStats()
        self.sink: Sink = lambda _type, _obj, _initial: None
        self.name = resource.plural if namespace is None else f"{resource.plural}@{namespace}"
        self.decoder = Decoder(
            resource,
            self.item_type,
            name=self.name,
            stats=self.stats,
            excluded_namespaces=excluded_namespaces,
            clock=clock,
        )
        self.lister = Lister(
            client,
            resource,
            namespace=namespace,
            label_selector=label_selector,
            decoder=self.decoder,
            stats=self.stats,
            page_size=page_size,
            watch_timeout_s=watch_timeout_s,
        )

    # ------------------------------------------------------------------ list

    async def initial_list(self, feed: Feed | None = None) -> list[Any]:
        """The start-up snapshot, each object handed to ``feed`` once as it arrives (then
        compacted). Retries until it works; raises Disabled for a missing CRD or a
        forbidden resource."""
        snap = Snapshot(feed)
        while True:
            try:
                objects, version = await self.lister.snapshot(snap)
            except ApiError as exc:
                self._count_error(exc)
                if exc.code in (403, 404):
                    self._disable(exc)
                    raise Disabled(str(exc)) from exc
                await self._sleep_for(exc)
                continue
            except (aiohttp.ClientError, TimeoutError, OSError, MalformedBody) as exc:
                reason = "malformed" if isinstance(exc, MalformedBody) else "connection"
                self.stats.errors[reason] += 1
                delay = self.backoff.next()
                log.warning("%s: list failed (%s); retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.resource_version = version
            self.cache = objects
            self.stats.cached = len(self.cache)
            self.stats.synced = True
            self.stats.disabled = None
            return list(objects.values())

    def _disable(self, exc: ApiError) -> None:
        reason = "not_found" if exc.code == 404 else "forbidden"
        if self.stats.disabled != reason:
            log.warning(
                "%s: disabled (%s, %s); the exporter keeps running without it and retries "
                "every %.0fs",
                self.name,
                reason,
                exc.message or exc.reason,
                self.disabled_retry_s,
            )
        self.stats.disabled = reason
        self.stats.synced = False

    def _count_error(self, exc: ApiError) -> None:
        self.stats.errors[str(exc.code)] += 1

    async def _sleep_for(self, exc: ApiError) -> None:
        """The server's Retry-After on 429 and 5xx (client-go does the same), else backoff."""
        if (exc.code == 429 or exc.code >= 500) and exc.retry_after is not None:
            delay = exc.retry_after
            self.stats.restarts["throttled" if exc.code == 429 else "retry_after"] += 1
        else:
            delay = self.backoff.next()
        log.warning("%s: %s; retrying in %.1fs", self.name, exc, delay)
        await asyncio.sleep(delay)

    # ----------------------------------------------------------------- watch

    async def run(self) -> None:
        """Watch forever (after ``initial_list`` or a Disabled), relisting when needed."""
        while True:
            if self.stats.disabled is not None and not await self._retry_disabled():
                continue
            await self._watch_round()

    async def _retry_disabled(self) -> bool:
        """A disabled resource is listed again now and then; True once it works again."""
        await asyncio.sleep(self.disabled_retry_s)
        try:
            await self._relist()
        except ApiError as exc:
            self._count_error(exc)
            if exc.code in (403, 404):
                self._disable(exc)
            else:
                await self._sleep_for(exc)
            return False
        except (aiohttp.ClientError, TimeoutError, OSError, MalformedBody) as exc:
            self.stats.errors["connection"] += 1
            log.info("%s: still cannot list (%s)", self.name, exc)
            return False
        self.stats.disabled = None
        self.stats.synced = True
        log.info("%s: enabled again", self.name)
        return True

    async def _watch_round(self) -> None:
        """One watch request and what its end calls for: resume, relist, or back off."""
        opened = time.monotonic()
        before = sum(self.stats.events.values())
        try:
            gone = await self._watch_once()
        except ApiError as exc:
            self._count_error(exc)
            if exc.code in (403, 404):
                self._disable(exc)
                return
            if exc.code != 410:
                self.stats.restarts["error"] += 1
                await self._sleep_for(exc)
                return
            gone = True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.restarts["disconnect"] += 1
            delay = self.backoff.next()
            log.info("%s: watch interrupted (%s); resuming in %.1fs", self.name, exc, delay)
            await asyncio.sleep(delay)
            return
        if gone:
            await self._recover_gone()
            return
        self.stats.restarts["timeout"] += 1
        if time.monotonic() - opened < 1.0 and sum(self.stats.events.values()) == before:
            # a watch that ends at once with nothing in it: do not hammer the server
            await asyncio.sleep(self.backoff.next())

    async def _recover_gone(self) -> None:
        self.stats.restarts["gone"] += 1
        log.info("%s: resourceVersion too old (410 Gone); relisting", self.name)
        try:
            await self._relist()
        except ApiError as exc:
            self._count_error(exc)
            await self._sleep_for(exc)
        except (aiohttp.ClientError, TimeoutError, OSError, MalformedBody) as exc:
            self.stats.errors["connection"] += 1
            log.info("%s: relist failed (%s)", self.name, exc)
            await asyncio.sleep(self.backoff.next())

    async def _watch_once(self) -> bool:
        """One WATCH request; True when the server said our version is gone (410)."""
        params = self.lister.params()
        params.update(
            {
                "watch": "1",
                "allowWatchBookmarks": "true",
                # vary the rotation so many watches do not reconnect in lockstep
                "timeoutSeconds": str(int(self.watch_timeout_s * random.uniform(0.8, 1.0))),
            }
        )
        if self.resource_version:
            params["resourceVersion"] = self.resource_version
        async with self.client.stream(
            self.resource.path(self.namespace),
            params,
            read_timeout_s=self.watch_timeout_s + 60,
        ) as lines:
            async for line in lines:
                if isinstance(line, LineTooLong):
                    self.decoder.invalid("oversized_event", f"{line.size} bytes")
                    continue
                outcome = self.handle_line(line)
                if outcome is Line.GONE:
                    return True
                if outcome is Line.ERROR:
                    raise ApiError(500, "WatchError", "error event in watch stream")
        return False

    def handle_line(self, line: bytes) -> Line:
        """One watch line: into the cache and the sink (then compacted), position kept."""
        outcome, change, obj = self.decoder.line(line)
        if change is None or obj is None:
            if self.decoder.position:
                self.resource_version = self.decoder.position
            return outcome
        version = object_version(obj)
        if version:
            self.resource_version = version
        if change is EventType.DELETED:
            self.cache.pop(object_key(obj), None)
        else:
            self.cache[object_key(obj)] = obj
        self.stats.cached = len(self.cache)
        self.sink(change, obj, False)
        compact(obj)
        return outcome

    async def _relist(self) -> None:
        """After 410 Gone: a fresh snapshot, delivered as the events we missed."""
        fresh, version = await self.lister.snapshot(Snapshot(None))
        for key, old in list(self.cache.items()):
            if key not in fresh:
                self.stats.events["DELETED"] += 1
                self.sink(EventType.DELETED, old, False)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            if old is None:
                self.stats.events["ADDED"] += 1
                self.sink(EventType.ADDED, obj, False)
            elif object_version(old) != object_version(obj):
                self.stats.events["MODIFIED"] += 1
                self.sink(EventType.MODIFIED, obj, False)
        self.resource_version = version
        self.cache = fresh
        self.stats.cached = len(fresh)
        self.stats.synced = True
