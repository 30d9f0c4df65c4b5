"""What every command shares with the terminal: one-line errors, signals, JSON output."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from exporter.events.timeutil import parse_rfc3339

log = logging.getLogger("daylight")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; SIGTERM/SIGINT end it cleanly."""

    async def wrapper() -> int:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            log.info("stopped")
            return 0

    return asyncio.run(wrapper())


def json_dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)


def parse_now(text: str | None) -> float | None:
    if text is None:
        return None
    value = parse_rfc3339(text)
    if value is None:
        raise CommandError(f"--now: not an RFC 3339 time: {text!r}")
    return value
