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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp
import msgspec

from exporter.events.objects import ControllerRevision, ListMeta, ReplicaSet, ReplicaSetSpec, Status
from exporter.kube.client import ApiClient, ApiError, LineTooLong
from exporter.kube.resources import Resource

log = logging.getLogger("daylight.kube")

T = TypeVar("T")
MAX_ANNOTATION = 64 * 1024  # the API server caps all annotations of an object at 256 KiB


class WatchEvent(msgspec.Struct, Generic[T]):
    type: str
    object: T


class ObjectList(msgspec.Struct, Generic[T]):
    items: list[T] = []
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)


class _VersionOnlyMeta(msgspec.Struct, rename="camel"):
    resource_version: Any = ""
    namespace: Any = ""
    name: Any = ""


class _VersionOnly(msgspec.Struct):
    metadata: _VersionOnlyMeta = msgspec.field(default_factory=_VersionOnlyMeta)


_EMPTY_RAW = msgspec.Raw(b"{}")
_EMPTY_RS_SPEC = ReplicaSetSpec()


class _TypeOnly(msgspec.Struct):
    type: Any = None


_type_only = msgspec.json.Decoder(_TypeOnly)


def _event_type(line: bytes) -> object:
    try:
        return _type_only.decode(line).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


_lenient_event = msgspec.json.Decoder(WatchEvent[_VersionOnly])
_status_event = msgspec.json.Decoder(WatchEvent[Status])

Sink = Callable[[str, Any, bool], None]
"""Receives (event type, decoded object, initial) for every change, in order."""


def compact(obj: Any) -> None:
    """What the cache keeps of a ReplicaSet or ControllerRevision after the model saw it.

    A cluster keeps ~10 of them per workload, each with a full pod template; the model
    extracts what history needs when it first sees one, and later events bring fresh copies,
    so the cache needs only identity and ownership (for relists and deletions).
    """
    if isinstance(obj, ReplicaSet):
        obj.spec = _EMPTY_RS_SPEC
    elif isinstance(obj, ControllerRevision):
        obj.data = _EMPTY_RAW
    else:
        return
    obj.metadata.labels = {}
    obj.metadata.annotations = {}


class Disabled(Exception):
    """The resource cannot be watched (missing CRD, forbidden); retried much later."""


@dataclass(slots=True)
class InformerStats:
    events: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    lists: int = 0
    synced: bool = False
    disabled: str | None = None
    last_event_at: float = 0.0
    cached: int = 0


@dataclass(slots=True)
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        """Full jitter: spreads reconnects of many exporters after an API server restart."""
        ceiling = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 16)
        return self.rng.uniform(self.base_s / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


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
        self._list_decoder = msgspec.json.Decoder(ObjectList[self.item_type])  # type: ignore[name-defined]
        self._event_decoder = msgspec.json.Decoder(WatchEvent[self.item_type])  # type: ignore[name-defined]
        self.cache: dict[str, Any] = {}
        self.resource_version = ""
        self.stats = InformerStats()
        self.sink: Sink = lambda _type, _obj, _initial: None
        self.name = resource.plural if namespace is None else f"{resource.plural}@{namespace}"

    # ------------------------------------------------------------------ list

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        return params

    async def list_all(self, consume: Callable[[list[Any]], None] | None = None) -> list[Any]:
        """A consistent paginated snapshot; sets the resourceVersion to watch from.

        With ``consume``, each page is handed over as it arrives and then compacted, so a
        100k-object LIST never sits in memory at once (returns the compacted objects).
        """
        items: list[Any] = []
        params = self._params()
        params["limit"] = str(self.page_size)
        token = ""
        while True:
            if token:
                params["continue"] = token
            try:
                body = await self.client.get(self.resource.path(self.namespace), params)
            except ApiError as exc:
                if exc.code == 410 and token:  # continue token expired: start over
                    self.stats.restarts["list_expired"] += 1
                    items, token = [], ""
                    params.pop("continue", None)
                    continue
                raise
            page = self._decode_list(body)
            del body
            prepared = [obj for obj in (self._prepare(item) for item in page.items) if obj]
            if consume is not None:
                consume(prepared)
                for obj in prepared:
                    self._compact(obj)
            items.extend(prepared)
            token = page.metadata.continue_
            self.resource_version = page.metadata.resource_version
            del page
            if not token:
                break
        self.stats.lists += 1
        return items

    def _compact(self, obj: Any) -> None:
        compact(obj)

    def _decode_list(self, body: bytes) -> ObjectList[Any]:
        try:
            page: ObjectList[Any] = self._list_decoder.decode(body)
            return page
        except msgspec.ValidationError:
            # One bad item must not hide the others: decode item by item, drop the bad ones.
            raw = msgspec.json.decode(body, type=ObjectList[msgspec.Raw])
            good = []
            item_decoder = msgspec.json.Decoder(self.item_type)
            for item in raw.items:
                try:
                    good.append(item_decoder.decode(item))
                except msgspec.ValidationError as exc:
                    self._invalid("wrong_field_type", str(exc))
            return ObjectList(items=good, metadata=raw.metadata)

    def _prepare(self, obj: Any) -> Any | None:
        """Fill in what list items lack, strip oversized annotations, apply exclusions."""
        if isinstance(obj, dict):
            obj.setdefault("kind", self.resource.kind)
            obj.setdefault("apiVersion", self.resource.api_version)
            return obj
        if getattr(obj, "kind", None) == "":
            obj.kind = self.resource.kind
        meta = obj.metadata
        if meta.namespace in self.excluded:
            return None
        annotations = getattr(meta, "annotations", None)
        if annotations and any(len(v) > MAX_ANNOTATION for v in annotations.values()):
            self._invalid("oversized_annotation", f"{meta.namespace}/{meta.name}")
            meta.annotations = {k: v for k, v in annotations.items() if len(v) <= MAX_ANNOTATION}
        return obj

    @staticmethod
    def key(obj: Any) -> str:
        if isinstance(obj, dict):
            meta = obj.get("metadata", {})
            return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        return f"{obj.metadata.namespace}/{obj.metadata.name}"

    @staticmethod
    def version_of(obj: Any) -> str:
        if isinstance(obj, dict):
            return str(obj.get("metadata", {}).get("resourceVersion", ""))
        return str(obj.metadata.resource_version)

    def _invalid(self, reason: str, detail: str) -> None:
        self.stats.invalid[reason] += 1
        if self.stats.invalid[reason] <= 3 or self.stats.invalid[reason] % 1000 == 0:
            log.warning("%s: skipped invalid input (%s): %s", self.name, reason, detail[:200])

    async def initial_list(self, consume: Callable[[list[Any]], None] | None = None) -> list[Any]:
        """The start-up snapshot. Raises Disabled for a missing CRD or a forbidden resource."""
        while True:
            try:
                items = await self.list_all(consume)
            except ApiError as exc:
                self._count_error(exc)
                if exc.code in (403, 404):
                    self._disable(exc)
                    raise Disabled(str(exc)) from exc
                await self._sleep_for(exc)
                continue
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.stats.errors["connection"] += 1
                delay = self.backoff.next()
                log.warning("%s: list failed (%s); retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.backoff.reset()
            self.cache = {self.key(obj): obj for obj in items}
            self.stats.cached = len(self.cache)
            self.stats.synced = True
            self.stats.disabled = None
            return items

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
        if exc.code == 429 and exc.retry_after is not None:
            delay = exc.retry_after
            self.stats.restarts["throttled"] += 1
        else:
            delay = self.backoff.next()
        log.warning("%s: %s; retrying in %.1fs", self.name, exc, delay)
        await asyncio.sleep(delay)

    # ----------------------------------------------------------------- watch

    async def run(self) -> None:
        """Watch forever (after ``initial_list`` or a Disabled), relisting when needed."""
        while True:
            if self.stats.disabled is not None:
                await asyncio.sleep(self.disabled_retry_s)
                try:
                    await self._relist()
                except ApiError as exc:
                    self._count_error(exc)
                    if exc.code in (403, 404):
                        self._disable(exc)
                        continue
                    await self._sleep_for(exc)
                    continue
                self.stats.disabled = None
                self.stats.synced = True
                log.info("%s: enabled again", self.name)
            opened = time.monotonic()
            before = sum(self.stats.events.values())
            try:
                gone = await self._watch_once()
            except ApiError as exc:
                self._count_error(exc)
                if exc.code in (403, 404):
                    self._disable(exc)
                    continue
                if exc.code == 410:
                    gone = True
                else:
                    self.stats.restarts["error"] += 1
                    await self._sleep_for(exc)
                    continue
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.stats.restarts["disconnect"] += 1
                delay = self.backoff.next()
                log.info("%s: watch interrupted (%s); resuming in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            if gone:
                self.stats.restarts["gone"] += 1
                log.info("%s: resourceVersion too old (410 Gone); relisting", self.name)
                try:
                    await self._relist()
                except ApiError as exc:
                    self._count_error(exc)
                    await self._sleep_for(exc)
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    self.stats.errors["connection"] += 1
                    log.info("%s: relist failed (%s)", self.name, exc)
                    await asyncio.sleep(self.backoff.next())
            else:
                self.stats.restarts["timeout"] += 1
                if time.monotonic() - opened < 1.0 and sum(self.stats.events.values()) == before:
                    # a watch that ends at once with nothing in it: do not hammer the server
                    await asyncio.sleep(self.backoff.next())

    async def _watch_once(self) -> bool:
        """One WATCH request; True when the server said our version is gone (410)."""
        params = self._params()
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
                    self._invalid("oversized_event", f"{line.size} bytes")
                    continue
                outcome = self._handle_line(line)
                if outcome == "gone":
                    return True
                if outcome == "error":
                    raise ApiError(500, "WatchError", "error event in watch stream")
                self.backoff.reset()
        return False

    def _handle_line(self, line: bytes) -> str:
        try:
            event = self._event_decoder.decode(line)
        except msgspec.ValidationError as exc:
            # an ERROR event carries a Status, which does not fit the resource's type
            if _event_type(line) == "ERROR":
                return self._watch_error(line)
            self._skip_invalid_event(line, exc)
            return "ok"
        except msgspec.DecodeError as exc:
            self._invalid("malformed_json", str(exc))
            return "ok"
        kind = event.type
        if kind == "BOOKMARK":
            self.stats.events["BOOKMARK"] += 1
            self.resource_version = self.version_of(event.object) or self.resource_version
            return "ok"
        if kind == "ERROR":
            return self._watch_error(line)
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            self._invalid("unknown_event_type", kind)
            return "ok"
        obj = self._prepare(event.object)
        self.stats.events[kind] += 1
        self.stats.last_event_at = self.clock()
        if obj is None:
            return "ok"
        version = self.version_of(obj)
        if version:
            self.resource_version = version
        key = self.key(obj)
        if kind == "DELETED":
            self.cache.pop(key, None)
        else:
            self.cache[key] = obj
        self.stats.cached = len(self.cache)
        self.sink(kind, obj, False)
        self._compact(obj)
        return "ok"

    def _watch_error(self, line: bytes) -> str:
        self.stats.events["ERROR"] += 1
        try:
            status = _status_event.decode(line).object
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._invalid("malformed_error_event", line[:200].decode("utf-8", "replace"))
            return "error"
        if status.code == 410 or status.reason in ("Expired", "Gone"):
            return "gone"
        log.warning("%s: watch error %s %s", self.name, status.code, status.message)
        return "error"

    def _skip_invalid_event(self, line: bytes, exc: Exception) -> None:
        """Keep the stream position even when an object cannot be understood."""
        self._invalid("wrong_field_type", str(exc))
        try:
            lenient = _lenient_event.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        version = lenient.object.metadata.resource_version
        if isinstance(version, str) and version:
            self.resource_version = version

    async def _relist(self) -> None:
        """After 410 Gone: a fresh snapshot, delivered as the events we missed."""
        items = await self.list_all()
        fresh = {self.key(obj): obj for obj in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                self.stats.events["DELETED"] += 1
                self.sink("DELETED", old, False)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            if old is None:
                self.stats.events["ADDED"] += 1
                self.sink("ADDED", obj, False)
            elif self.version_of(old) != self.version_of(obj):
                self.stats.events["MODIFIED"] += 1
                self.sink("MODIFIED", obj, False)
        self.cache = fresh
        self.stats.cached = len(fresh)
        self.stats.synced = True
        self.backoff.reset()
