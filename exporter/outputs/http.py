"""The one HTTP port: /metrics, /healthz, /readyz and the JSON report."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.events.names import valid_name
from exporter.events.timeutil import parse_duration
from exporter.model.engine import DoraModel
from exporter.model.windows import DAY
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.report import ReportQuery, build_report_async, decode_cursor
from exporter.outputs.selfmetrics import render_self

log = logging.getLogger("daylight.http")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_OVER = 64 * 1024


@dataclass(slots=True)
class HttpApi:
    model: DoraModel
    renderer: MetricsRenderer
    registry: CollectorRegistry
    ready: Callable[[], tuple[bool, list[str]]]
    clock: Callable[[], float] = time.time
    dora_report: str = "2023"

    def app(self) -> web.Application:
        async def metrics(request: web.Request) -> web.StreamResponse:
            body = await self.renderer.render_async(self.clock()) + render_self(self.registry)
            response = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
            if len(body) > GZIP_OVER and "gzip" in request.headers.get("Accept-Encoding", ""):
                response.enable_compression(web.ContentCoding.gzip)
            return response

        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok\n")

        async def readyz(_: web.Request) -> web.Response:
            ok, waiting = self.ready()
            if ok:
                return web.Response(text="ok\n")
            return web.Response(status=503, text="waiting for: " + ", ".join(waiting) + "\n")

        async def dora(request: web.Request) -> web.StreamResponse:
            try:
                query = report_query(request.query, self.dora_report)
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            report = await build_report_async(self.model, self.clock(), query)
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            if "gzip" in request.headers.get("Accept-Encoding", ""):
                response.enable_compression(web.ContentCoding.gzip)
            await response.prepare(request)
            await write_json(response, report)
            await response.write_eof()
            return response

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/api/v1/dora", dora)
        return app


async def write_json(response: web.StreamResponse, document: Mapping[str, Any]) -> None:
    """A JSON object written piece by piece: long lists go out in batches, with the event
    loop free between them (encoding megabytes at once would stall every other request)."""
    await response.write(b"{")
    for index, (key, value) in enumerate(document.items()):
        head = ("," if index else "") + json.dumps(key) + ":"
        if not isinstance(value, list):
            await response.write((head + json.dumps(value)).encode())
            continue
        await response.write((head + "[").encode())
        for start in range(0, len(value), JSON_BATCH):
            part = ",".join(json.dumps(item) for item in value[start : start + JSON_BATCH])
            await response.write(("," if start else "").encode() + part.encode())
            await asyncio.sleep(0)
        await response.write(b"]")
    await response.write(b"}")


JSON_BATCH = 100
DEFAULT_PAGE = 500
MAX_PAGE = 5000


def report_query(params: Mapping[str, str], dora_report: str) -> ReportQuery:
    """``?window=30d&environment=&namespace=&app=&limit=500&after=<cursor>``; ValueError
    says what is wrong. Every answer is one page: ``next`` is the cursor of the next one."""
    window = parse_duration(params.get("window", "30d"))
    if window <= 0 or window > 400 * DAY:
        raise ValueError("window must be within (0, 400d]")
    text = params.get("limit", str(DEFAULT_PAGE))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}")
    after = params.get("after")
    for name in ("environment", "namespace", "app"):
        value = params.get(name)
        if value is not None and not valid_name(value):
            raise ValueError(f"{name} is not a valid name")
    return ReportQuery(
        window_s=window,
        dora_report=dora_report,
        environment=params.get("environment"),
        namespace=params.get("namespace"),
        app=params.get("app"),
        limit=int(text),
        after=decode_cursor(after) if after else None,
    )


async def serve(app: web.Application, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or "0.0.0.0", int(port))
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        for sock in sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("server has no bound socket")
