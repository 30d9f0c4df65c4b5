"""The simulated kube-apiserver: the HTTP face of the store, fault hooks and counters.

It serves what the exporter's list/watch client uses against a real cluster (list with
selectors and pagination, get, watch with bookmarks and 410s, discovery) plus enough of the
write verbs (POST, PUT, merge PATCH, DELETE) for the launcher, all with Kubernetes `Status`
errors. Tests reach in through `faults`, `requests` and `wait_for`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from kubesim import discovery, errors
from kubesim.faults import PAGE_NOT_FOUND, Faults, Injected, forbidden_answer
from kubesim.listing import get_body, list_body
from kubesim.paths import parse_target, resolve, split_api_path
from kubesim.resources import ResourceType
from kubesim.store import Store
from kubesim.util import JsonDict
from kubesim.watch import WatchStream, parse_bool, serve_watch

GZIP_MIN_BYTES = 128 * 1024  # the real server's threshold for compressing responses
SERVICE_ACCOUNT = "system:serviceaccount:daylight:daylight"
_VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    time: float
    method: str
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    query: dict[str, str]


def _json_response(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.Response(status=status, body=body, content_type="application/json")
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["Audit-Id"] = str(uuid.uuid4())
    if headers:
        response.headers.update(headers)
    return response


def _error_response(error: errors.ApiError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return _json_response(error.code, msgspec.json.encode(error.status()), headers)


def _injected_response(answer: Injected) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body)
    response.headers["Content-Type"] = answer.content_type
    response.headers.update(answer.headers)
    return response


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also used, approximately, for strategic merge patches)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


async def _read_object(request: web.Request) -> JsonDict:
    """The request body, which must be one JSON object; a 400 otherwise."""
    try:
        payload = msgspec.json.decode(await request.read())
    except msgspec.DecodeError as exc:
        raise errors.bad_request(f"invalid JSON body: {exc}") from None
    if not isinstance(payload, dict):
        raise errors.bad_request("the body must be a JSON object")
    return payload


class SimServer:
    def __init__(
        self,
        store: Store,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        bookmark_interval_s: float = 3.0,
        default_watch_timeout_s: float | None = None,
        gzip_min_bytes: int | None = GZIP_MIN_BYTES,
        request_log_size: int = 10_000,
        watch_list: bool = True,
    ) -> None:
        self.store = store
        self.watch_list = watch_list  # the WatchList feature (streaming lists), on since 1.34
        self.host = host
        self.port = port
        self.token = token
        self.bookmark_interval_s = bookmark_interval_s
        self.default_watch_timeout_s = default_watch_timeout_s
        self.gzip_min_bytes = gzip_min_bytes
        self.faults = Faults()
        # (verb, resource) → requests received, faulted ones included.
        self.requests: Counter[tuple[str, str]] = Counter()
        self.request_log: deque[RequestRecord] = deque(maxlen=request_log_size)
        self.events_sent: Counter[str] = Counter()
        self.bookmarks_sent: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()
        self._streams: set[WatchStream] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.faults.add_listener(self._poke_streams)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> str:
        """Starts listening and returns the base URL, e.g. http://127.0.0.1:43125."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        for stream in list(self._streams):
            stream.sub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- introspection for tests -------------------------------------------------------------
    def watches(self, resource: str | None = None) -> int:
        """Watch streams open right now (for one resource, or all)."""
        return sum(1 for s in self._streams if resource is None or s.rt.plural == resource)

    def count(self, verb: str, resource: str) -> int:
        return self.requests[(verb, resource)]

    def reset_counters(self) -> None:
        self.requests.clear()
        self.request_log.clear()
        self.events_sent.clear()
        self.bookmarks_sent.clear()
        self.disconnects.clear()

    def close_watches(self, resource: str | None = None) -> int:
        """Ends open watch streams cleanly, like an API server restart or watch-cache reset."""
        closing = [s for s in self._streams if resource is None or s.rt.plural == resource]
        for stream in closing:
            stream.sub.close()
        return len(closing)

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01
    ) -> None:
        """Polls until `predicate()` holds; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout:.1f}s")
            await asyncio.sleep(interval)

    def register_stream(self, stream: WatchStream) -> None:
        self._streams.add(stream)

    def unregister_stream(self, stream: WatchStream) -> None:
        self._streams.discard(stream)

    def _poke_streams(self) -> None:
        for stream in list(self._streams):
            stream.sub.poke()

    # -- request handling --------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except errors.ApiError as exc:
            return _error_response(exc)

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        return request.headers.get("Authorization", "") == f"Bearer {self.token}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        split = split_api_path(path)
        target = parse_target(*split) if split is not None else None
        query = {k: v for k, v in request.query.items()}
        verb = ""
        if target is not None:
            verb = self._verb(request.method, target.name, query)
            self.requests[(verb, target.plural)] += 1
            self.request_log.append(
                RequestRecord(
                    time.time(),
                    request.method,
                    verb,
                    target.plural,
                    target.namespace,
                    target.name,
                    query,
                )
            )
        if not self._authorized(request):
            raise errors.unauthorized()
        if target is None:
            return self._non_resource(request, split)
        injected = self.faults.request_fault(verb, target.plural, target.namespace, target.group)
        if injected is not None:
            return _injected_response(injected)
        registry = self.store.registry
        rt = resolve(registry, target)
        if rt is None or not registry.installed(rt.plural):
            return _injected_response(PAGE_NOT_FOUND)
        if registry.forbidden(rt.plural):
            return _injected_response(forbidden_answer(verb, rt.plural, target.namespace, rt.group))
        if request.method == "GET":
            if verb == "watch":
                return await serve_watch(self, request, rt, target.namespace, target.name, query)
            if verb == "get":
                assert target.name is not None
                return self._get(rt, target.namespace, target.name)
            body = list_body(self.store, rt, target.namespace, query, self.faults)
            return self._maybe_gzip(request, body)
        return await self._write(request, rt, target.namespace, target.name, target.subresource)

    @staticmethod
    def _verb(method: str, name: str | None, query: Mapping[str, str]) -> str:
        if method == "GET":
            if parse_bool(query.get("watch")):
                return "watch"
            return "get" if name is not None else "list"
        if method == "DELETE" and name is None:
            return "deletecollection"
        return _VERB_BY_METHOD.get(method, method.lower())

    def _maybe_gzip(self, request: web.Request, body: bytes) -> web.Response:
        threshold = self.gzip_min_bytes
        accepts = "gzip" in request.headers.get("Accept-Encoding", "")
        if threshold is None or len(body) < threshold or not accepts:
            return _json_response(200, body)
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        packed = compressor.compress(body) + compressor.flush()
        return _json_response(200, packed, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})

    def _get(self, rt: ResourceType, namespace: str | None, name: str) -> web.Response:
        entry = self.store.entry(rt.plural, name, namespace)
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return _json_response(200, get_body(entry, rt, self.faults))

    def _non_resource(
        self, request: web.Request, split: tuple[str, str, list[str]] | None
    ) -> web.Response:
        registry = self.store.registry
        path = request.path.rstrip("/")
        doc: JsonDict | None = None
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            doc = discovery.VERSION_INFO
        elif path == "/api":
            doc = discovery.api_versions(f"{self.host}:{self.port}")
        elif path == "/apis":
            doc = discovery.api_group_list(registry)
        elif split is not None and not split[2]:
            doc = discovery.api_resource_list(registry, split[0], split[1])
        elif path.startswith("/apis/") and path.count("/") == 2:
            doc = discovery.api_group(registry, path.split("/")[2])
        if doc is None:
            return _injected_response(PAGE_NOT_FOUND)
        return _json_response(200, msgspec.json.encode(doc))

    async def _write(
        self,
        request: web.Request,
        rt: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
    ) -> web.Response:
        method = request.method
        if method not in ("POST", "PUT", "PATCH", "DELETE") or (method == "POST") != (name is None):
            raise errors.method_not_allowed(method)
        if method == "DELETE":
            assert name is not None
            return self._delete(rt, namespace, name)
        payload = await _read_object(request)
        if method == "POST":
            return self._create(rt, namespace, payload)
        assert name is not None
        if method == "PATCH":
            payload = self._patched(request, rt, namespace, name, payload)
        payload.setdefault("metadata", {})["name"] = name
        if namespace is not None:
            payload["metadata"]["namespace"] = namespace
        if subresource == "status":
            updated = self.store.update_status(rt.plural, payload, copy=False)
        else:
            updated = self.store.update(rt.plural, payload, copy=False)
        return _json_response(200, msgspec.json.encode(updated))

    def _delete(self, rt: ResourceType, namespace: str | None, name: str) -> web.Response:
        deleted = self.store.delete(rt.plural, name, namespace)
        details = {"name": name, "group": rt.group, "kind": rt.plural}
        details["uid"] = deleted["metadata"]["uid"]
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }
        return _json_response(200, msgspec.json.encode(body))

    def _create(self, rt: ResourceType, namespace: str | None, payload: JsonDict) -> web.Response:
        metadata = payload.setdefault("metadata", {})
        if namespace is not None:
            metadata.setdefault("namespace", namespace)
            if metadata["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request"
                )
        if rt.has_status:
            payload.pop("status", None)
        for field in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            metadata.pop(field, None)
        created = self.store.create(rt.plural, payload, copy=False)
        return _json_response(201, msgspec.json.encode(created))

    def _patched(
        self,
        request: web.Request,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: JsonDict,
    ) -> JsonDict:
        """The stored object with a merge patch applied; other patch types are a 415."""
        content_type = request.headers.get("Content-Type", "")
        if "json-patch" in content_type or "apply-patch" in content_type:
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                f"the simulated server does not support {content_type}",
            )
        current = self.store.get(rt.plural, name, namespace)
        if current is None:
            raise errors.not_found(rt.plural, rt.group, name)
        patched: JsonDict = _merge_patch(current, patch)
        return patched
