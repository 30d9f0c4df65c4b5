"""``POST /api/v1/cdevents``: CDEvents over the CloudEvents HTTP binding, binary mode
(``ce-*`` headers, the CDEvent as the body) or structured mode
(``application/cloudevents+json``), decoded with the ``cloudevents`` package. What each type
becomes is exporter/intake/cdevent_map.py's table.

The same bearer token and 1 MiB cap as the other POST endpoints; a CloudEvent that cannot be
decoded, or a CDEvent missing what its type needs, gets a 400 with a reason counted in
``daylight_invalid_input_total{reason}``; a CDEvent type Daylight does not use gets 202 with
``"ignored"``. Duplicate deliveries (the same CloudEvent id) are one change.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

from aiohttp import web
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat

from exporter.events.external import Alert, Change, ServiceDeployment
from exporter.intake.cdevent_map import Ignored, Incident, Invalid, map_cdevent
from exporter.intake.endpoints import RateLimitedLog, TokenFile
from exporter.model.engine import DoraModel
from exporter.model.records import AppKey

MAX_BODY = 1024 * 1024


@dataclass(slots=True)
class CdEventsIntake:
    model: DoraModel
    token: TokenFile | None = None
    clock: Callable[[], float] = time.time
    logs: RateLimitedLog = field(default_factory=RateLimitedLog)

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/cdevents", self.receive)

    def _reject(self, status: int, reason: str, message: str) -> web.Response:
        self.model.stats.invalid[reason] += 1
        self.logs.warning(reason, "rejected CDEvent (%s): %s", reason, message)
        return web.json_response({"error": message, "reason": reason}, status=status)

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        expected = self.token.current()
        given = request.headers.get("Authorization", "").encode()
        return bool(expected) and hmac.compare_digest(given, f"Bearer {expected}".encode())

    async def _body(self, request: web.Request) -> bytes | web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._reject(413, "body_too_large", "body over 1 MiB")
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= MAX_BODY:
                chunk = await request.content.read(MAX_BODY + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (ValueError, OSError, web.RequestPayloadError):
            return self._reject(400, "body_unreadable", "body could not be read")
        if size > MAX_BODY:
            return self._reject(413, "body_too_large", "body over 1 MiB")
        return b"".join(chunks)

    async def receive(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reject(401, "unauthorized", "a valid bearer token is required")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            event = from_http(HTTPMessage(dict(request.headers), body), JSONFormat())
        except (BaseCloudEventException, ValueError, TypeError, KeyError) as exc:
            return self._reject(400, "cloudevent", f"not a CloudEvent: {exc}"[:300])
        return self._apply(event)

    def _apply(self, event: BaseCloudEvent) -> web.Response:
        data = event.get_data()
        if isinstance(data, bytes | str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        if not isinstance(data, dict):
            return self._reject(
                400, "cdevents_data", "the CloudEvent data must be a CDEvent object"
            )
        moment = event.get_time()
        at = moment.astimezone(UTC).timestamp() if moment is not None else self.clock()
        mapped = map_cdevent(event.get_type(), event.get_id(), min(at, self.clock()), data)
        kind = event.get_type()
        if isinstance(mapped, Invalid):
            return self._reject(400, mapped.reason, mapped.message)
        if isinstance(mapped, Ignored):
            self.model.stats.ci_changes[("cdevents", "ignored")] += 1
            return web.json_response({"accepted": True, "ignored": mapped.kind}, status=202)
        matched = self._dispatch(mapped)
        return web.json_response({"accepted": True, "type": kind, "matched": matched}, status=202)

    def _dispatch(self, mapped: Change | ServiceDeployment | Incident) -> int:
        if isinstance(mapped, Change):
            return self.model.apply_change(mapped, self.clock())
        if isinstance(mapped, ServiceDeployment):
            group = self.model.apply_service_deployment(mapped)
            return 0 if group is None else 1
        apps = self._apps_of(mapped)
        if not apps and mapped.firing:
            self.model.stats.invalid["unmatched_incident"] += 1
            self.logs.warning("unmatched_incident", "incident matched no known app")
            return 0
        target = apps[0] if apps else AppKey("", "", mapped.service)
        alert = Alert(
            mapped.firing,
            f"cdevents/{mapped.fingerprint}",
            target.namespace,
            (target.app,),
            None,
            None,
        )  # fmt: skip - one field each
        return int(self.model.apply_alert(alert, self.clock()))

    def _apps_of(self, incident: Incident) -> list[AppKey]:
        """The service's apps: by app or workload name, in the environment when one is given."""
        found = [
            key
            for key in self.model.apps
            if incident.environment in (None, key.environment)
            and incident.service in (key.app, *self._workloads(key))
        ]
        return sorted(found)

    def _workloads(self, key: AppKey) -> tuple[str, ...]:
        return tuple(name for name, _ in self.model.apps[key].current.values())
