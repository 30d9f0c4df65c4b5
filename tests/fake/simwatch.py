"""Reading a watch stream from the simulated API server over HTTP, for the sim tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from kubesim.util import JsonDict


@dataclass(slots=True)
class WatchResult:
    status: int
    events: list[JsonDict] = field(default_factory=list)
    bad_lines: list[bytes] = field(default_factory=list)
    ended: bool = False  # the server closed the stream cleanly
    error: BaseException | None = None  # the stream broke (e.g. a disconnect fault)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def objects(self, event_type: str | None = None) -> list[JsonDict]:
        return [e["object"] for e in self.events if event_type is None or e["type"] == event_type]

    def names(self, event_type: str | None = None) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects(event_type) if "name" in o["metadata"]]


async def watch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    until: Callable[[WatchResult], bool] | None = None,
    timeout: float = 5.0,
    params: dict[str, Any] | None = None,
) -> WatchResult:
    """Reads a watch stream until `until(result)` holds, the stream ends, or `timeout`."""
    query = {"watch": "1", **(params or {})}
    async with session.get(url, params={k: str(v) for k, v in query.items()}) as response:
        result = WatchResult(response.status)
        if response.status != 200:
            return result
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await response.content.readline()
                    if not line:
                        result.ended = True
                        return result
                    try:
                        result.events.append(json.loads(line))
                    except ValueError:
                        result.bad_lines.append(line)
                    if until is not None and until(result):
                        return result
        except TimeoutError:
            return result
        except aiohttp.ClientError as exc:
            result.error = exc
            return result
