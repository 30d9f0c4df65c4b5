"""Event logs (design §5): JSON Lines of watch events, for record, replay and report.

Objects are stored exactly as the API serves them and decoded with the same slim types as
the live watch, so a replay exercises the same model input as a live run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from exporter.events.envelope import EventType, ObjectEvent, SideInput, SideKind
from exporter.events.objects import AnyObject
from exporter.events.timeutil import format_rfc3339, parse_rfc3339
from exporter.kube.resources import BY_KIND, WATCHED

log = logging.getLogger("daylight.eventlog")
MAX_LINE = 8 * 1024 * 1024


class _KindOnly(msgspec.Struct):
    kind: str = ""


class _Line(msgspec.Struct):
    time: str
    type: str
    object: msgspec.Raw = msgspec.Raw(b"")
    alert: dict[str, Any] | None = None
    change: dict[str, Any] | None = None


class EventLogError(Exception):
    pass


_line_decoder = msgspec.json.Decoder(_Line)
_kind_decoder = msgspec.json.Decoder(_KindOnly)
_object_decoders: dict[str, msgspec.json.Decoder[AnyObject]] = {
    r.kind: msgspec.json.Decoder(r.item_type) for r in WATCHED
}


def read(path: Path | str, *, strict: bool = False) -> Iterator[ObjectEvent | SideInput]:
    """Events of a log in file order; bad lines are logged and skipped unless ``strict``."""
    with open(path, "rb") as handle:
        yield from read_stream(handle, name=str(path), strict=strict)


def read_stream(
    handle: BinaryIO, *, name: str = "event log", strict: bool = False
) -> Iterator[ObjectEvent | SideInput]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            event = decode_line(line)
        except EventLogError as exc:
            if strict:
                raise EventLogError(f"{name}:{number}: {exc}") from None
            log.warning("%s:%d: skipped: %s", name, number, exc)
            continue
        if event is not None:
            yield event


def decode_line(line: bytes) -> ObjectEvent | SideInput | None:
    if len(line) > MAX_LINE:
        raise EventLogError(f"line longer than {MAX_LINE} bytes")
    try:
        entry = _line_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EventLogError(f"not an event line: {exc}") from None
    when = parse_rfc3339(entry.time)
    if when is None:
        raise EventLogError(f"bad time {entry.time!r}")
    if entry.type in ("ALERT", "CHANGE"):
        body = entry.alert if entry.type == "ALERT" else entry.change
        if body is None:
            raise EventLogError(f"{entry.type} line without its body")
        return SideInput(when, SideKind(entry.type), body)
    if entry.type not in ("ADDED", "MODIFIED", "DELETED"):
        raise EventLogError(f"unknown event type {entry.type!r}")
    if not len(entry.object):
        raise EventLogError("event without object")
    kind = _kind_decoder.decode(entry.object).kind
    decoder = _object_decoders.get(kind)
    if decoder is None:
        return None  # a kind Daylight does not watch: ignore quietly
    try:
        obj = decoder.decode(entry.object)
    except msgspec.ValidationError as exc:
        raise EventLogError(f"{kind}: {exc}") from None
    if obj.kind == "":
        obj.kind = kind
    return ObjectEvent(when, EventType(entry.type), obj)


class Writer:
    """Appends events as JSON Lines, flushing each line so a crash loses at most one."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self._encoder = msgspec.json.Encoder()
        self.lines = 0

    def write(self, when: float, event_type: str, obj: dict[str, Any]) -> None:
        line = {"time": format_rfc3339(when), "type": event_type, "object": obj}
        self.handle.write(self._encoder.encode(line) + b"\n")
        self.handle.flush()
        self.lines += 1


def known_kind(kind: str) -> bool:
    return kind in BY_KIND
