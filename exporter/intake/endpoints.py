"""External input over HTTP: ``POST /api/v1/changes`` (CI) and ``POST /api/v1/alerts``.

These are the only writes into the model that do not come from the cluster. Bodies are capped
at 1 MiB, parsed strictly (a 400 names what is wrong), optionally guarded by a bearer token,
and every rejection is counted in ``daylight_invalid_input_total{reason}`` and logged at most
once a minute per reason, so a misconfigured CI job cannot flood the log.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from exporter.events.external import InvalidInput
from exporter.model.engine import DoraModel

log = logging.getLogger("daylight.intake")
MAX_BODY = 1024 * 1024


@dataclass(slots=True)
class TokenFile:
    """A bearer token read from a file and re-read when the file changes (rotation)."""

    path: Path
    _mtime: float = -1.0
    _token: str = ""

    def current(self) -> str:
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            return self._token
        if mtime != self._mtime:
            self._token = self.path.read_text().strip()
            self._mtime = mtime
        return self._token


@dataclass(slots=True)
class RateLimitedLog:
    interval_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)

    def warning(self, reason: str, message: str, *args: object) -> None:
        now = self.clock()
        if now - self._last.get(reason, -1e18) >= self.interval_s:
            self._last[reason] = now
            log.warning(message, *args)


@dataclass(slots=True)
class Intake:
    model: DoraModel
    token: TokenFile | None = None
    clock: Callable[[], float] = time.time
    logs: RateLimitedLog = field(default_factory=RateLimitedLog)

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/changes", self._changes)
        app.router.add_post("/api/v1/alerts", self._alerts)

    def _reject(self, reason: str, status: int, message: str) -> web.Response:
        self.model.stats.invalid[reason] += 1
        self.logs.warning(reason, "rejected input (%s): %s", reason, message)
        return web.json_response({"error": message, "reason": reason}, status=status)

    async def _read(self, request: web.Request) -> object | web.Response:
        if self.token is not None:
            expected = self.token.current()
            given = request.headers.get("Authorization", "")
            wanted = f"Bearer {expected}".encode()
            if not expected or not hmac.compare_digest(given.encode(), wanted):
                return self._reject("unauthorized", 401, "a valid bearer token is required")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._reject("body_too_large", 413, "body over 1 MiB")
        try:
            raw = await request.content.read(MAX_BODY + 1)
        except (ValueError, OSError):
            return self._reject("body_unreadable", 400, "body could not be read")
        if len(raw) > MAX_BODY:
            return self._reject("body_too_large", 413, "body over 1 MiB")
        try:
            body: object = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self._reject("malformed_json", 400, "body is not JSON")
        return body

    async def _apply(self, request: web.Request, kind: str) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        try:
            matched = self.model.apply_external(kind, body, self.clock())
        except InvalidInput as exc:
            # apply_external already counted it
            self.logs.warning(exc.reason, "rejected %s (%s): %s", kind.lower(), exc.reason, exc)
            return web.json_response({"error": str(exc), "reason": exc.reason}, status=400)
        if kind == "ALERT" and matched == 0:
            self.logs.warning("unmatched_alert", "alert matched no known app")
        return web.json_response({"accepted": True, "matched": matched}, status=202)

    async def _changes(self, request: web.Request) -> web.Response:
        return await self._apply(request, "CHANGE")

    async def _alerts(self, request: web.Request) -> web.Response:
        return await self._apply(request, "ALERT")
