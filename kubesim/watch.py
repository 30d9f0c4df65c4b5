"""The watch stream: newline-delimited JSON events over a chunked 200 response.

Behaviour copied from the real server because clients depend on it:
- `resourceVersion=N` replays every retained event after N, then streams live ones; a
  compacted N is not an HTTP error but a 200 with one ERROR event (Status 410 Expired);
- no resourceVersion (or "0") starts with synthetic ADDED events for the current state;
- with label/field selectors an object that starts or stops matching is reported as ADDED
  or DELETED rather than MODIFIED;
- bookmarks carry only kind, apiVersion and metadata.resourceVersion;
- a watcher too slow to drain its buffer is closed cleanly, and `timeoutSeconds` ends the
  stream cleanly: both mean "re-watch from the last resourceVersion you saw".
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec
from aiohttp import web

from kubesim import errors
from kubesim.events import CLOSED, POKE, Subscription, WatchEvent
from kubesim.faults import MALFORMED_LINE, Faults
from kubesim.resources import ResourceType
from kubesim.selectors import LabelSelector, parse_field_selector, parse_label_selector
from kubesim.store import Store

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_BATCH_BYTES = 64 * 1024
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def parse_bool(value: str | None) -> bool:
    return value in _TRUE


class WatchHost(Protocol):
    """What a watch stream needs from the server serving it (`SimServer` is one).

    Declared here, so this module depends on the store and the faults but never on
    server.py: the server imports the watch code, not the reverse.
    """

    @property
    def store(self) -> Store: ...

    @property
    def faults(self) -> Faults: ...

    @property
    def events_sent(self) -> Counter[str]: ...

    @property
    def bookmarks_sent(self) -> Counter[str]: ...

    @property
    def disconnects(self) -> Counter[str]: ...

    @property
    def bookmark_interval_s(self) -> float: ...

    @property
    def default_watch_timeout_s(self) -> float | None: ...

    @property
    def watch_list(self) -> bool: ...

    def register_stream(self, stream: WatchStream) -> None: ...

    def unregister_stream(self, stream: WatchStream) -> None: ...


class _Abort(Exception):
    """The disconnect fault fired: the connection is already gone."""


def _line(event_type: bytes, obj: bytes) -> bytes:
    return b'{"type":"' + event_type + b'","object":' + obj + b"}\n"


class WatchStream:
    def __init__(
        self,
        server: WatchHost,
        request: web.BaseRequest,
        response: web.StreamResponse,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: Callable[[Mapping[str, Any]], bool] | None,
        sub: Subscription,
    ) -> None:
        self.server = server
        self.request = request
        self.response = response
        self.rt = rt
        self.namespace = namespace if rt.namespaced else None
        self.labels = labels
        self.fields = fields
        self.sub = sub
        self.filtered = self.namespace is not None or bool(labels.requirements) or bool(fields)
        self.disconnect_after: int | None = None
        self.sent = 0
        self._buffer: list[bytes] = []
        self._buffered = 0

    # -- event shaping -----------------------------------------------------------------------
    def _visible(self, obj: Mapping[str, Any]) -> bool:
        metadata = obj["metadata"]
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        if not self.labels.matches(metadata.get("labels")):
            return False
        return self.fields is None or self.fields(obj)

    def _shape(self, event: WatchEvent) -> str | None:
        """The event type this watcher should see, or None when the change is invisible."""
        if not self.filtered:
            return event.type
        now_visible = self._visible(event.entry.obj)
        if event.type != "MODIFIED":
            return event.type if now_visible else None
        was_visible = event.prev is not None and self._visible(event.prev.obj)
        if now_visible:
            return "MODIFIED" if was_visible else "ADDED"
        return "DELETED" if was_visible else None

    def _object_bytes(self, event: WatchEvent) -> bytes:
        faults = self.server.faults
        if faults.has_corruption(self.rt.plural):
            bad = faults.corrupted(self.rt.plural, event.entry.obj)
            if bad is not None:
                return msgspec.json.encode(bad)
        return event.entry.full_bytes()

    # -- writing -----------------------------------------------------------------------------
    async def flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            await self.response.write(data)

    async def _emit(self, data: bytes, *, batch: bool) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if not batch or self._buffered >= _BATCH_BYTES:
            await self.flush()

    async def check_disconnect(self) -> None:
        if self.disconnect_after is None:
            self.disconnect_after = self.server.faults.claim_disconnect(self.rt.plural)
        if self.disconnect_after is not None and self.sent >= self.disconnect_after:
            await self.flush()
            transport = self.request.transport
            if transport is not None:
                transport.abort()
            raise _Abort

    async def send(self, event: WatchEvent, *, batch: bool = False) -> None:
        event_type = self._shape(event)
        if event_type is None:
            return
        await self.check_disconnect()
        replace = self.server.faults.take_malformed(self.rt.plural)
        if replace is not None:
            await self._emit(MALFORMED_LINE, batch=batch)
            if replace:
                return
        await self._emit(_line(event_type.encode(), self._object_bytes(event)), batch=batch)
        self.sent += 1
        self.server.events_sent[self.rt.plural] += 1
        if self.disconnect_after is not None:
            await self.check_disconnect()

    async def send_bookmark(self, *, initial_events_end: bool = False) -> None:
        metadata: dict[str, Any] = {"resourceVersion": str(self.server.store.rv)}
        if self.rt.builtin:
            metadata["creationTimestamp"] = None
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": metadata}
        await self._emit(_line(b"BOOKMARK", msgspec.json.encode(obj)), batch=False)
        self.server.bookmarks_sent[self.rt.plural] += 1

    async def drain(self) -> bool:
        """Sends everything queued; False if the subscription was closed meanwhile."""
        while True:
            try:
                item = self.sub.queue.get_nowait()
            except asyncio.QueueEmpty:
                return True
            if item is CLOSED:
                return False
            if isinstance(item, WatchEvent):
                await self.send(item, batch=True)
            elif item is POKE:
                await self.check_disconnect()


async def _expired_response(request: web.BaseRequest, error: errors.ApiError) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    body = msgspec.json.encode(error.status())
    await response.write(_line(b"ERROR", body))
    return response


async def serve_watch(
    server: WatchHost,
    request: web.BaseRequest,
    rt: ResourceType,
    namespace: str | None,
    name: str | None,
    query: Mapping[str, str],
) -> web.StreamResponse:
    labels = parse_label_selector(query.get("labelSelector"))
    field_text = query.get("fieldSelector", "")
    if name is not None:
        field_text = ",".join(x for x in (field_text, f"metadata.name={name}") if x)
    fields = parse_field_selector(field_text, rt.plural) if field_text.strip() else None
    send_initial = parse_bool(query.get("sendInitialEvents"))
    if "sendInitialEvents" in query:
        _check_watch_list(server, query)
    since, timeout_s = _since_and_timeout(server, query, send_initial)
    bookmarks = parse_bool(query.get("allowWatchBookmarks"))

    try:
        initial, sub = server.store.watch(rt.plural, since)
    except errors.ApiError as exc:
        if exc.code != 410:
            raise
        return await _expired_response(request, exc)

    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"},
    )
    response.enable_chunked_encoding()
    stream = WatchStream(server, request, response, rt, namespace, labels, fields, sub)
    server.register_stream(stream)
    try:
        await response.prepare(request)
        await stream.check_disconnect()
        for event in initial:
            await stream.send(event, batch=True)
        if send_initial and bookmarks:
            await stream.flush()
            await stream.send_bookmark(initial_events_end=True)
        await stream.flush()
        await _stream_live(server, stream, timeout_s, bookmarks)
    except _Abort:
        server.disconnects[rt.plural] += 1
    except ConnectionResetError:
        pass  # the client went away; nothing left to tell it
    finally:
        server.unregister_stream(stream)
        sub.close()
    return response


def _since_and_timeout(
    server: WatchHost, query: Mapping[str, str], send_initial: bool
) -> tuple[int | None, float | None]:
    raw_rv = query.get("resourceVersion", "")
    since: int | None = None
    if raw_rv not in ("", "0") and not send_initial:
        try:
            since = int(raw_rv)
        except ValueError:
            raise errors.bad_request(f"invalid resource version: {raw_rv!r}") from None
    timeout_s = server.default_watch_timeout_s
    if query.get("timeoutSeconds"):
        try:
            timeout_s = float(int(query["timeoutSeconds"]))
        except ValueError:
            raise errors.bad_request("invalid timeoutSeconds") from None
    return since, timeout_s


def _check_watch_list(server: WatchHost, query: Mapping[str, str]) -> None:
    """The validation of ``sendInitialEvents`` by the real server (validateWatchOptions)."""
    if not server.watch_list:
        raise errors.invalid_options(
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless "
            "the WatchList feature gate is enabled"
        )
    if query.get("resourceVersionMatch") != "NotOlderThan":
        raise errors.invalid_options(
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan"
        )
    if not parse_bool(query.get("allowWatchBookmarks")):
        raise errors.invalid_options(
            "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting "
            "allowWatchBookmarks to true"
        )


async def _stream_live(
    server: WatchHost, stream: WatchStream, timeout_s: float | None, bookmarks: bool
) -> None:
    loop_time = time.monotonic
    deadline = loop_time() + timeout_s if timeout_s is not None else None
    interval = server.bookmark_interval_s
    next_bookmark = loop_time() + interval if bookmarks else None
    while True:
        now = loop_time()
        wake = min(t for t in (deadline, next_bookmark, now + 3600.0) if t is not None)
        if deadline is not None and now >= deadline:
            await stream.flush()
            return
        if next_bookmark is not None and now >= next_bookmark:
            if not await stream.drain():
                await stream.flush()
                return
            await stream.flush()
            await stream.send_bookmark()
            next_bookmark = loop_time() + interval
            continue
        try:
            async with asyncio.timeout(max(0.0, wake - now)):
                item = await stream.sub.queue.get()
        except TimeoutError:
            continue
        if item is CLOSED:
            await stream.flush()
            return
        if isinstance(item, WatchEvent):
            await stream.send(item, batch=True)
        elif item is POKE:
            await stream.check_disconnect()
        if not await stream.drain():
            await stream.flush()
            return
        await stream.flush()
