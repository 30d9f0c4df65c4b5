"""Fault injection for the simulated API server.

Tests arm a fault, the server consumes it when a matching request, stream or object comes
along, and `fired` records what actually happened, so a test can assert both the client's
reaction and that the fault was really exercised. A fault with `count=None` stays armed until
`clear()`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from kubesim import errors
from kubesim.util import JsonDict, clone


@dataclass(frozen=True, slots=True)
class Injected:
    """A canned HTTP answer that replaces the real one."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Armed:
    name: str
    remaining: int | None
    resource: str | None
    verbs: frozenset[str] | None = None
    answer: Injected | None = None
    after_events: int = 0
    replace: bool = False
    mutate: Callable[[JsonDict], None] | None = None
    object_name: str | None = None

    def matches(self, resource: str, verb: str | None = None) -> bool:
        if self.resource is not None and self.resource != resource:
            return False
        return verb is None or self.verbs is None or verb in self.verbs


def _status(error: errors.ApiError) -> Injected:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return Injected(error.code, msgspec.json.encode(error.status()), headers=headers)


PAGE_NOT_FOUND = Injected(404, b"404 page not found\n", "text/plain; charset=utf-8")

MALFORMED_LINE = b'{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"na\n'


def wrong_types(obj: JsonDict) -> None:
    """Fields with the wrong JSON types, as a buggy admission webhook or proxy could produce."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec["replicas"] = "three"
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata["labels"] = []


def huge_annotation(size: int) -> Callable[[JsonDict], None]:
    def mutate(obj: JsonDict) -> None:
        metadata = obj.setdefault("metadata", {})
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = {}
            metadata["annotations"] = annotations
        annotations["daylight.sim/padding"] = "x" * size

    return mutate


class Faults:
    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self.fired: Counter[str] = Counter()
        self._listeners: list[Callable[[], None]] = []

    # -- arming ------------------------------------------------------------------------------
    def throttle(
        self,
        count: int | None = 1,
        *,
        retry_after: int = 1,
        resource: str | None = None,
        verbs: Iterable[str] | None = None,
    ) -> None:
        """429 Too Many Requests with Retry-After, like API Priority and Fairness rejecting."""
        answer = _status(errors.too_many_requests(retry_after))
        self._arm(_Armed("throttle", count, resource, _verbs(verbs), answer))

    def server_error(
        self,
        count: int | None = 1,
        *,
        resource: str | None = None,
        verbs: Iterable[str] | None = None,
        message: str = "simulated etcd timeout",
    ) -> None:
        """500 InternalError for the next requests."""
        answer = _status(errors.internal(message))
        self._arm(_Armed("server_error", count, resource, _verbs(verbs), answer))

    def unavailable(
        self,
        count: int | None = 1,
        *,
        retry_after: str | None = None,
        resource: str | None = None,
        verbs: Iterable[str] | None = None,
    ) -> None:
        """503 Service Unavailable (an API server shutting down, a proxy in front of it),
        with ``Retry-After`` exactly as given: delta-seconds or an HTTP-date."""
        answer = _status(errors.ApiError(503, "ServiceUnavailable", "simulated unavailability"))
        if retry_after is not None:
            answer.headers["Retry-After"] = retry_after
        self._arm(_Armed("server_error", count, resource, _verbs(verbs), answer))

    def not_json(
        self,
        count: int | None = 1,
        *,
        resource: str | None = None,
        verbs: Iterable[str] | None = None,
    ) -> None:
        """A 200 whose body is an HTML page, as a misconfigured proxy answers."""
        answer = Injected(200, b"<html><body>proxy login</body></html>", "text/html")
        self._arm(_Armed("server_error", count, resource, _verbs(verbs), answer))

    def forbid(
        self, resource: str, count: int | None = None, *, verbs: Iterable[str] | None = None
    ) -> None:
        """403 Forbidden with a Status body naming the verb and resource."""
        self._arm(_Armed("forbid", count, resource, _verbs(verbs)))

    def not_found(
        self, resource: str, count: int | None = None, *, verbs: Iterable[str] | None = None
    ) -> None:
        """The plain-text 404 a missing CRD's URL gets."""
        self._arm(_Armed("not_found", count, resource, _verbs(verbs), PAGE_NOT_FOUND))

    def disconnect_watch(
        self, after_events: int = 0, *, resource: str | None = None, count: int | None = 1
    ) -> None:
        """Aborts the TCP connection of a watch after it has written `after_events` more
        events (counted from when the watch picks the fault up; live watches pick it up
        immediately)."""
        self._arm(_Armed("disconnect", count, resource, after_events=after_events))

    def malformed_watch_line(
        self, *, resource: str | None = None, count: int | None = 1, replace: bool = False
    ) -> None:
        """Writes a truncated JSON line before the next watch event (or instead of it)."""
        self._arm(_Armed("malformed", count, resource, replace=replace))

    def wrong_types(self, resource: str, *, count: int | None = 1, name: str | None = None) -> None:
        """Serves the next object(s) with `spec.replicas: "three"` and `metadata.labels: []`."""
        self._arm(_Armed("wrong_types", count, resource, mutate=wrong_types, object_name=name))

    def huge_annotation(
        self,
        resource: str,
        *,
        count: int | None = 1,
        size: int = 1 << 20,
        name: str | None = None,
    ) -> None:
        """Serves the next object(s) with a `size`-byte annotation (default 1 MiB)."""
        mutate = huge_annotation(size)
        self._arm(_Armed("huge_annotation", count, resource, mutate=mutate, object_name=name))

    def corrupt(
        self,
        resource: str,
        mutate: Callable[[JsonDict], None],
        *,
        count: int | None = 1,
        name: str | None = None,
    ) -> None:
        """Serves the next object(s) as changed by `mutate` (on a copy; the store is intact)."""
        self._arm(_Armed("corrupt", count, resource, mutate=mutate, object_name=name))

    def clear(self) -> None:
        self._armed.clear()

    def pending(self, name: str | None = None) -> int:
        return sum(1 for a in self._armed if name is None or a.name == name)

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- consumption (used by the server) ----------------------------------------------------
    def request_fault(
        self, verb: str, resource: str, namespace: str | None, group: str = ""
    ) -> Injected | None:
        for armed in self._armed:
            if armed.name in ("throttle", "server_error", "forbid", "not_found") and (
                armed.matches(resource, verb)
            ):
                self._consume(armed)
                if armed.answer is not None:
                    return armed.answer
                return forbidden_answer(verb, resource, namespace, group)
        return None

    def claim_disconnect(self, resource: str) -> int | None:
        armed = self._find("disconnect", resource)
        return armed.after_events if armed else None

    def take_malformed(self, resource: str) -> bool | None:
        """None: no fault; otherwise whether the bad line replaces the event."""
        armed = self._find("malformed", resource)
        return armed.replace if armed else None

    def has_corruption(self, resource: str) -> bool:
        return any(a.mutate is not None and a.matches(resource) for a in self._armed)

    def corrupted(self, resource: str, obj: JsonDict) -> JsonDict | None:
        """A corrupted copy of `obj` if an armed fault targets it, else None."""
        name = obj.get("metadata", {}).get("name")
        for armed in self._armed:
            if armed.mutate is None or not armed.matches(resource):
                continue
            if armed.object_name is not None and armed.object_name != name:
                continue
            self._consume(armed)
            copy = clone(obj)
            armed.mutate(copy)
            return copy
        return None

    # -- internals ---------------------------------------------------------------------------
    def _arm(self, armed: _Armed) -> None:
        self._armed.append(armed)
        for listener in list(self._listeners):
            listener()

    def _find(self, name: str, resource: str) -> _Armed | None:
        for armed in self._armed:
            if armed.name == name and armed.matches(resource):
                self._consume(armed)
                return armed
        return None

    def _consume(self, armed: _Armed) -> None:
        self.fired[armed.name] += 1
        if armed.remaining is not None:
            armed.remaining -= 1
            if armed.remaining <= 0:
                self._armed.remove(armed)


def _verbs(verbs: Iterable[str] | None) -> frozenset[str] | None:
    return frozenset(verbs) if verbs is not None else None


def forbidden_answer(verb: str, resource: str, namespace: str | None, group: str = "") -> Injected:
    error = errors.forbidden(
        resource, group, verb, namespace, "system:serviceaccount:daylight:daylight"
    )
    return _status(error)
