"""A tiny stand-in for the Kubernetes API server, for ``daylight run`` in the Prometheus tests.

It serves what the informers ask for and nothing more: paginated-shaped LISTs of fixed
objects, WATCH streams that end every few seconds (so watches restart), a Namespace that is
modified every half second (watch events, ingest lag), one malformed line per stream
(invalid input) and 404 for the Keptn resources (disabled informers, API errors). That gives
every ``daylight_*`` self-metric real values from the real ``run`` code path.

Run as ``python -m tests.prometheus.fakeapi OBJECTS.json``; it prints ``ready URL`` once it
listens on a free loopback port, and serves until terminated.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

STREAM_S = 4.0
TICK_S = 0.5


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


class FakeApi:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.rv = 1000
        for items in objects.values():
            for obj in items:
                self.rv = max(self.rv, int(obj["metadata"].get("resourceVersion", "0")))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        items = self.objects.get(path)
        if items is None:
            return _status(
                404, "NotFound", f"the server could not find the requested resource {path}"
            )
        if request.query.get("watch") in ("1", "true"):
            return await self._watch(request, path)
        body = {
            "kind": "List",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self.rv)},
            "items": items,
        }
        return web.json_response(body)

    async def _watch(self, request: web.Request, path: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        changing = path == "/api/v1/namespaces" and self.objects[path]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_S
        malformed_sent = False
        while loop.time() < deadline:
            await asyncio.sleep(TICK_S)
            if not changing:
                continue
            self.rv += 1
            obj = copy.deepcopy(self.objects[path][0])
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.objects[path][0] = obj
            line = json.dumps({"type": "MODIFIED", "object": obj})
            await response.write(line.encode() + b"\n")
            if not malformed_sent:
                await response.write(b'{"type": "MODIFIED", "object": {\n')
                malformed_sent = True
        await response.write_eof()
        return response


async def _serve(objects: dict[str, list[dict[str, Any]]]) -> None:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", FakeApi(objects).handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"ready http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> None:
    objects = json.loads(Path(argv[0]).read_text())
    asyncio.run(_serve(objects))


if __name__ == "__main__":
    main(sys.argv[1:])
