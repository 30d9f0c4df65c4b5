"""A scripted Prometheus HTTP API on loopback, for evaluation tests that need odd answers
(slow, broken, changing over time). The real Prometheus is in test_prometheus_real.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = tuple[int, dict[str, Any]] | Callable[[int], tuple[int, dict[str, Any]]]


def vector(*values: float) -> tuple[int, dict[str, Any]]:
    result = [
        {"metric": {"i": str(i)}, "value": [1700000000.0, str(v)]} for i, v in enumerate(values)
    ]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


def matrix(*values: float) -> tuple[int, dict[str, Any]]:
    samples = [[1700000000.0 + i, str(v)] for i, v in enumerate(values)]
    result = [{"metric": {}, "values": samples}]
    return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}


def error(message: str = "parse error at char 3") -> tuple[int, dict[str, Any]]:
    return 400, {"status": "error", "errorType": "bad_data", "error": message}


@dataclass
class FakePrometheus:
    answers: dict[str, Answer] = field(default_factory=dict)
    delay_s: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    ranges: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/query", self._query)
        app.router.add_get("/api/v1/query_range", self._query)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _query(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        self.calls[query] += 1
        if request.path.endswith("query_range"):
            self.ranges.append(dict(request.query))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = self.answers.get(query)
        if answer is None:
            status, body = vector()
        elif callable(answer):
            status, body = answer(self.calls[query])
        else:
            status, body = answer
        return web.json_response(body, status=status)
