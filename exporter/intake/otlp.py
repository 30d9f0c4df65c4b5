"""The OTLP/HTTP traces receiver (``POST /v1/traces`` on ``--otlp-listen``, 4318 by default):
CI/CD spans in, changes into the model (design §5).

As opentelemetry-proto's ``docs/specification.md`` says a server must behave:

- ``application/x-protobuf`` and ``application/json`` on one port, the response in the
  request's content type; anything else is 415. ``Content-Encoding: gzip`` is accepted.
- JSON ids are hex (``traceId``/``spanId``), not the base64 of protobuf's JSON mapping; enums
  are integers, int64 may be strings, unknown fields are ignored.
- The body is capped after decompression (``--otlp-max-body``, 20 MiB as the specification
  recommends): beyond it, 413. aiohttp inflates gzip in bounded chunks as the body is read,
  and reading stops at the cap, so a gzip bomb is never inflated whole.
- 200 with ``partial_success`` unset on success; with ``rejected_spans`` and an
  ``error_message`` when some pipeline-run spans could not be used (ids of the wrong length, a
  sha that is not hex, no sha, digest or version); an empty request succeeds.
- 400 for a body that cannot be decoded (truncated protobuf, JSON that is not OTLP);
  429 with ``Retry-After`` when too many requests are being decoded at once, 503 with
  ``Retry-After`` before the first sync of the cluster. Failure bodies are ``google.rpc.Status``.

The same bearer token as the other intake (``--api-token-file``) when one is configured.
Every rejection is counted in ``daylight_invalid_input_total{reason}`` and logged at most once
a minute per reason. Decoding and mapping run in a worker thread (a 20 MiB request must not
stall /metrics); only the changes found are applied to the model, on the event loop.
Duplicate deliveries are harmless: the model de-duplicates by run and sha.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from exporter.events.external import Change
from exporter.intake.cicd import (
    OWN_SCOPE,
    PIPELINE_KEYS,
    TASK_KEYS,
    AppMap,
    Rejected,
    Skipped,
    SpanView,
    map_span,
)
from exporter.intake.endpoints import RateLimitedLog, TokenFile
from exporter.model.engine import DoraModel

log = logging.getLogger("daylight.otlp")

DEFAULT_MAX_BODY = 20 * 1024 * 1024
MAX_IN_FLIGHT = 4  # requests decoded at once; more get 429
RETRY_AFTER_BUSY_S = 1
RETRY_AFTER_STARTING_S = 5
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_BAD_ID = base64.b64encode(b"\x00").decode()  # an id of the wrong length: rejected later


class BadRequest(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


# --- decoding (pure; runs in a worker thread) -----------------------------------------------


def _hex_to_b64(value: object) -> object:
    if not isinstance(value, str) or value == "":
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return _BAD_ID  # not hex (base64 sent by mistake, garbage): that span is rejected
    return base64.b64encode(raw).decode()


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _dicts(parent: object, key: str) -> list[dict[str, object]]:
    items = _list(parent.get(key)) if isinstance(parent, dict) else []
    return [item for item in items if isinstance(item, dict)]


def _fix_json_ids(document: object) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON parser wants base64. Convert in place (what is
    not shaped like a request is left for the parser to refuse)."""
    if not isinstance(document, dict):
        raise BadRequest(400, "otlp_json", "the body is not an ExportTraceServiceRequest object")
    for rs in _dicts(document, "resourceSpans"):
        for ss in _dicts(rs, "scopeSpans"):
            for span in _dicts(ss, "spans"):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex_to_b64(span[key])
                for link in _dicts(span, "links"):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = _hex_to_b64(link[key])


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BadRequest(
                400, "otlp_protobuf", f"body is not a protobuf request: {exc}"
            ) from None
        return request
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(400, "otlp_json", "body is not JSON") from None
    _fix_json_ids(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise BadRequest(400, "otlp_json", f"body is not an OTLP request: {exc}") from None
    return request


def _value(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which in ("string_value", "int_value", "bool_value", "double_value"):
        return getattr(value, which)
    return None  # kvlist and bytes values say nothing the mapping reads


def attributes(items: Iterable[KeyValue]) -> dict[str, object]:
    return {kv.key: _value(kv.value) for kv in items}


_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)


def _ids_valid(span: Span) -> bool:
    trace_id, span_id = span.trace_id, span.span_id
    return (
        len(trace_id) == 16
        and trace_id != _ZERO_TRACE
        and len(span_id) == 8
        and span_id != _ZERO_SPAN
        and len(span.parent_span_id) in (0, 8)
    )


@dataclass(slots=True)
class Batch:
    """What one request said: the changes to apply and how each span was taken."""

    changes: list[Change] = field(default_factory=list)
    spans: Counter[str] = field(default_factory=Counter)  # change|ignored|own|rejected
    invalid: Counter[str] = field(default_factory=Counter)
    messages: dict[str, str] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.spans["rejected"]

    @property
    def error_message(self) -> str:
        """Why spans were rejected, one clause per reason (``partial_success``)."""
        return "; ".join(f"{reason}: {text}" for reason, text in sorted(self.messages.items()))


def map_request(request: ExportTraceServiceRequest, apps: AppMap, now: float) -> Batch:
    batch = Batch()
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        # most spans a Collector forwards are no pipeline run: decided on the keys alone,
        # before any attribute value is read
        resource_run = not PIPELINE_KEYS.isdisjoint(resource)
        resource_task = not TASK_KEYS.isdisjoint(resource)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for span in ss.spans:
                if not _ids_valid(span):
                    batch.spans["rejected"] += 1
                    batch.invalid["otlp_span_id"] += 1
                    batch.messages.setdefault(
                        "otlp_span_id", "trace ids must be 16 bytes and span ids 8, not zero"
                    )
                    continue
                if scope == OWN_SCOPE:
                    batch.spans["own"] += 1
                    continue
                keys = {kv.key for kv in span.attributes}
                if (
                    resource_task
                    or not TASK_KEYS.isdisjoint(keys)
                    or not (resource_run or not PIPELINE_KEYS.isdisjoint(keys))
                ):
                    batch.spans["ignored"] += 1  # a job, a step, an application span
                    continue
                view = SpanView(
                    resource,
                    attributes(span.attributes),
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    bool(span.parent_span_id),
                    span.kind,
                    scope,
                )
                _take(batch, *map_span(view, apps, now))
    return batch


def _take(batch: Batch, mapped: Change | Skipped | Rejected, bad_time: str | None) -> None:
    if bad_time is not None:
        batch.invalid[bad_time] += 1
    if isinstance(mapped, Skipped):
        batch.spans["own" if mapped.why == "own" else "ignored"] += 1
    elif isinstance(mapped, Rejected):
        batch.spans["rejected"] += 1
        batch.invalid[mapped.reason] += 1
        batch.messages.setdefault(mapped.reason, mapped.message)
    else:
        batch.spans["change"] += 1
        batch.changes.append(mapped)


def decode_and_map(body: bytes, content_type: str, apps: AppMap, now: float) -> Batch:
    """Everything a request costs that does not touch the model (for a worker thread)."""
    return map_request(decode(body, content_type), apps, now)


# --- responses ------------------------------------------------------------------------------


def _encode(message: ExportTraceServiceResponse | status_pb2.Status, content_type: str) -> bytes:
    if content_type == JSON:
        return json.dumps(json_format.MessageToDict(message)).encode()
    return message.SerializeToString()


def _media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The body, or its first ``limit + 1`` bytes when it is longer (a read returns what has
    arrived, not as much as asked: loop until the end or past the cap)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@dataclass(slots=True)
class OtlpReceiver:
    """``POST /v1/traces``; serve :meth:`app` on its own port."""

    model: DoraModel
    token: TokenFile | None = None
    apps: AppMap = field(default_factory=AppMap)
    max_body: int = DEFAULT_MAX_BODY
    ready: Callable[[], bool] = lambda: True
    clock: Callable[[], float] = time.time
    logs: RateLimitedLog = field(default_factory=RateLimitedLog)
    requests: Counter[str] = field(default_factory=Counter)  # by HTTP status code
    spans: Counter[str] = field(default_factory=Counter)  # change|ignored|own|rejected
    in_flight: int = 0

    def app(self) -> web.Application:
        # aiohttp's own cap sits above ours, so a body over --otlp-max-body gets our 413
        app = web.Application(client_max_size=self.max_body + 1024)
        app.router.add_post("/v1/traces", self.traces)
        return app

    def counters(self) -> dict[str, dict[str, int]]:
        """For the self-metrics: requests by status code, spans by what became of them."""
        return {"requests": dict(self.requests), "spans": dict(self.spans)}

    def _fail(
        self, status: int, reason: str, message: str, content_type: str, retry_after: int = 0
    ) -> web.Response:
        self.requests[str(status)] += 1
        if reason:
            self.model.stats.invalid[reason] += 1
            self.logs.warning(reason, "rejected OTLP request (%s): %s", reason, message)
        elif status == 429:  # throttled, not bad input: daylight_otlp_requests_total{code}
            self.logs.warning("otlp_busy", "OTLP request throttled (429): %s", message)
        body = _encode(status_pb2.Status(code=0, message=message), content_type)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        response = web.Response(
            status=status, body=body, content_type=content_type, headers=headers
        )
        # the body may be unread or undecodable (bad gzip): a connection not to be reused
        response.force_close()
        return response

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        expected = self.token.current()
        given = request.headers.get("Authorization", "").encode()
        return bool(expected) and hmac.compare_digest(given, f"Bearer {expected}".encode())

    async def traces(self, request: web.Request) -> web.Response:
        media = _media_type(request)
        reply = media if media in (PROTOBUF, JSON) else PROTOBUF
        if not self._authorized(request):
            return self._fail(401, "unauthorized", "a valid bearer token is required", reply)
        if media not in (PROTOBUF, JSON):
            message = f"Content-Type {media or 'none'!r}: use {PROTOBUF} or {JSON}"
            return self._fail(415, "otlp_content_type", message, reply)
        # aiohttp inflates gzip and deflate itself and answers 400 to encodings it cannot
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if not self.ready():
            return self._fail(
                503, "", "starting: the cluster is not synced yet", reply, RETRY_AFTER_STARTING_S
            )
        if self.in_flight >= MAX_IN_FLIGHT:
            return self._fail(429, "", "too many requests in flight", reply, RETRY_AFTER_BUSY_S)
        self.in_flight += 1
        try:
            return await self._accept(request, media, encoding in ("gzip", "deflate"))
        finally:
            self.in_flight -= 1

    async def _accept(self, request: web.Request, media: str, gzipped: bool) -> web.Response:
        limit = self.max_body
        if request.content_length is not None and request.content_length > limit:
            return self._fail(413, "otlp_too_large", f"body over {limit} bytes", media)
        try:
            # aiohttp inflates gzip as it reads, chunk by chunk: reading at most limit + 1
            # bytes caps the body after decompression, and a gzip bomb is never inflated whole
            body = await _read_capped(request, limit)
        except (HttpProcessingError, web.RequestPayloadError) as exc:
            reason = "otlp_gzip" if gzipped else "otlp_unreadable"
            return self._fail(400, reason, f"body could not be decoded: {exc}".strip(), media)
        except (ValueError, OSError, asyncio.IncompleteReadError):
            return self._fail(400, "otlp_unreadable", "body could not be read", media)
        if len(body) > limit:
            what = "once inflated" if gzipped else ""
            return self._fail(413, "otlp_too_large", f"body over {limit} bytes {what}", media)
        now = self.clock()
        try:
            batch = await asyncio.to_thread(decode_and_map, body, media, self.apps, now)
        except BadRequest as exc:
            return self._fail(exc.status, exc.reason, str(exc), media)
        except Exception:  # a request we failed to foresee is bad input, never a 500
            log.exception("OTLP request could not be decoded")
            return self._fail(400, "otlp_undecodable", "the request could not be decoded", media)
        self.apply(batch, now)
        response = ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_spans = batch.rejected
            response.partial_success.error_message = batch.error_message
        self.requests["200"] += 1
        return web.Response(status=200, body=_encode(response, media), content_type=media)

    def apply(self, batch: Batch, now: float) -> None:
        """Count what the request said and apply its changes (on the event loop)."""
        self.spans.update(batch.spans)
        self.model.stats.invalid.update(batch.invalid)
        for reason in batch.invalid:
            self.logs.warning(
                reason, "OTLP spans skipped (%s): %s", reason, batch.messages.get(reason, reason)
            )
        for change in batch.changes:
            self.model.apply_change(change, now)
