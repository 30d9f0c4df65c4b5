"""From wire bytes to objects: LIST pages and watch lines of one resource, decoded into the
slim types of :mod:`exporter.events.objects`.

Decoding never raises past this module for bad input: an item or event that does not fit
is skipped, counted by reason and logged (rate-limited), and the stream position is kept
whenever the line still says which ``resourceVersion`` it carried.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

import msgspec

from exporter.events.envelope import EventType
from exporter.events.objects import (
    ControllerRevision,
    ListMeta,
    ReplicaSet,
    ReplicaSetSpec,
    Status,
)
from exporter.kube import jsonscan
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


class _TypeOnly(msgspec.Struct):
    type: Any = None


_EMPTY_RAW = msgspec.Raw(b"{}")
_EMPTY_RS_SPEC = ReplicaSetSpec()
_type_only = msgspec.json.Decoder(_TypeOnly)
_lenient_event = msgspec.json.Decoder(WatchEvent[_VersionOnly])
_status_event = msgspec.json.Decoder(WatchEvent[Status])
_list_meta = msgspec.json.Decoder(ListMeta)


class MalformedBody(Exception):
    """An answer of the API server that is not what the protocol says (e.g. a proxy's HTML)."""


def _event_type(line: bytes) -> object:
    try:
        return _type_only.decode(line).type
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


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


class Line(Enum):
    """What one watch line meant for the stream."""

    EVENT = "event"  # an object changed (or a bookmark, or a skipped bad line): go on
    GONE = "gone"  # 410: our resourceVersion was compacted, list again
    ERROR = "error"  # the server reported an error: reconnect


_CHANGES = {t.value: t for t in EventType}


def object_key(obj: Any) -> str:
    if isinstance(obj, dict):
        meta = obj.get("metadata", {})
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


def object_version(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("metadata", {}).get("resourceVersion", ""))
    return str(obj.metadata.resource_version)


class Decoder:
    """Typed decoding of one resource's LIST pages and watch lines."""

    def __init__(
        self,
        resource: Resource,
        item_type: Any,
        *,
        name: str,
        stats: InformerStats,
        excluded_namespaces: frozenset[str] = frozenset(),
        clock: Callable[[], float],
    ) -> None:
        self.resource = resource
        self.item_type = item_type
        self.name = name
        self.stats = stats
        self.excluded = excluded_namespaces
        self.clock = clock
        self._list: msgspec.json.Decoder[ObjectList[Any]] = msgspec.json.Decoder(
            ObjectList[item_type]
        )
        self._event: msgspec.json.Decoder[WatchEvent[Any]] = msgspec.json.Decoder(
            WatchEvent[item_type]
        )
        self._item: msgspec.json.Decoder[Any] = msgspec.json.Decoder(item_type)
        self.position = ""
        """The resourceVersion the last line carried when it was a bookmark or a bad line."""

    # ------------------------------------------------------------------ lists

    def page(self, body: bytes) -> ObjectList[Any]:
        """A LIST page; raises MalformedBody only when it is not a list at all."""
        try:
            page: ObjectList[Any] = self._list.decode(body)
            return page
        except (msgspec.ValidationError, RecursionError):
            # One bad item must not hide the others: decode item by item, drop the bad ones.
            return self._page_item_by_item(body)
        except msgspec.DecodeError as exc:
            raise MalformedBody(f"LIST answer is not JSON: {exc}") from None

    def _page_item_by_item(self, body: bytes) -> ObjectList[Any]:
        try:
            spans = jsonscan.members(body)
            meta = spans.get(b"metadata")
            metadata = _list_meta.decode(body[meta[0] : meta[1]]) if meta else ListMeta()
            items = spans.get(b"items")
            if items is None or body[items[0] : items[1]] == b"null":
                elements: list[tuple[int, int]] = []
            else:
                elements = jsonscan.elements(body, *items)
        except (jsonscan.ScanError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedBody(f"LIST answer is not a list: {exc}") from None
        good = []
        for start, end in elements:
            try:
                good.append(self._item.decode(body[start:end]))
            except msgspec.ValidationError as exc:
                self.invalid("wrong_field_type", str(exc))
            except msgspec.DecodeError as exc:
                self.invalid("malformed_json", str(exc))
            except RecursionError:
                self.invalid("too_deep", f"a list item of {end - start} bytes nested too deeply")
        return ObjectList(items=good, metadata=metadata)

    def prepare(self, obj: Any) -> Any | None:
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
            self.invalid("oversized_annotation", f"{meta.namespace}/{meta.name}")
            meta.annotations = {k: v for k, v in annotations.items() if len(v) <= MAX_ANNOTATION}
        return obj

    def invalid(self, reason: str, detail: str) -> None:
        self.stats.invalid[reason] += 1
        if self.stats.invalid[reason] <= 3 or self.stats.invalid[reason] % 1000 == 0:
            log.warning("%s: skipped invalid input (%s): %s", self.name, reason, detail[:200])

    # ------------------------------------------------------------------ watch lines

    def line(self, line: bytes) -> tuple[Line, EventType | None, Any]:
        """One watch line: what it means for the stream, and the change it carries (its
        type and object), if any. Returns a plain tuple: this runs for every event."""
        self.position = ""
        try:
            event = self._event.decode(line)
        except msgspec.ValidationError as exc:
            # an ERROR event carries a Status, which does not fit the resource's type
            if _event_type(line) == "ERROR":
                return self._watch_error(line), None, None
            self._skip_invalid_event(line, exc)
            return Line.EVENT, None, None
        except msgspec.DecodeError as exc:
            self.invalid("malformed_json", str(exc))
            return Line.EVENT, None, None
        except RecursionError:
            self.invalid("too_deep", f"a watch event of {len(line)} bytes nested too deeply")
            return Line.EVENT, None, None
        kind = event.type
        if kind == "BOOKMARK":
            self.stats.events["BOOKMARK"] += 1
            self.position = object_version(event.object)
            return Line.EVENT, None, None
        change = _CHANGES.get(kind)
        if change is None:
            if kind == "ERROR":
                return self._watch_error(line), None, None
            self.invalid("unknown_event_type", str(kind)[:64])
            return Line.EVENT, None, None
        obj = self.prepare(event.object)
        self.stats.events[kind] += 1
        self.stats.last_event_at = self.clock()
        return Line.EVENT, change, obj

    def _watch_error(self, line: bytes) -> Line:
        self.stats.events["ERROR"] += 1
        try:
            status = _status_event.decode(line).object
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            self.invalid("malformed_error_event", line[:200].decode("utf-8", "replace"))
            return Line.ERROR
        if status.code == 410 or status.reason in ("Expired", "Gone"):
            return Line.GONE
        log.warning("%s: watch error %s %s", self.name, status.code, status.message)
        return Line.ERROR

    def _skip_invalid_event(self, line: bytes, exc: Exception) -> None:
        """Keep the stream position even when an object cannot be understood."""
        self.invalid("wrong_field_type", str(exc))
        try:
            lenient = _lenient_event.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return
        version = lenient.object.metadata.resource_version
        if isinstance(version, str) and version:
            self.position = version
