"""The HTTP side of list and watch: one aiohttp session, Kubernetes Status errors, line framing.

This module and the informer are the only code that talks to the API server, and they only
ever send GET requests: the exporter is read-only by construction.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import msgspec

from exporter.events.objects import Status
from exporter.kube.config import ClusterAccess

MAX_ERROR_BODY = 64 * 1024
DEFAULT_MAX_LINE = 8 * 1024 * 1024  # the API server caps objects at ~1.5 MiB; leave headroom

_status_decoder = msgspec.json.Decoder(Status)


class ApiError(Exception):
    """A non-2xx answer, carrying what a retry decision needs."""

    def __init__(
        self, code: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"HTTP {code} {reason}: {message}".strip())
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


@dataclass(slots=True)
class LineTooLong:
    """A watch line over the size limit; it is skipped, not buffered."""

    size: int


MAX_RETRY_AFTER_S = 300.0


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date
    (RFC 9110 §10.2.3), bounded to [0, 300]; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status < 300:
        return
    body = await response.content.read(MAX_ERROR_BODY)
    reason, message = response.reason or "", ""
    try:
        status = _status_decoder.decode(body)
        reason, message = status.reason or reason, status.message
    except (msgspec.DecodeError, msgspec.ValidationError):
        message = body[:200].decode("utf-8", "replace").strip()
    wait = retry_after(response.headers.get("Retry-After"))
    raise ApiError(response.status, reason, message, wait)


class ApiClient:
    def __init__(self, access: ClusterAccess, *, user_agent: str = "daylight") -> None:
        self.access = access
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self.access.ssl_context if self.access.ssl_context is not None else False,
                limit=32,
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        headers.update(self.access.headers())
        return headers

    async def get(self, path: str, params: Mapping[str, str], *, timeout_s: float = 60.0) -> bytes:
        session = self._get_session()
        async with session.get(
            self.access.server + path,
            params=params,
            headers=self._headers(),
            proxy=self.access.proxy,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            await _raise_for_status(response)
            return await response.read()

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        read_timeout_s: float,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> AsyncIterator[AsyncIterator[bytes | LineTooLong]]:
        """A watch stream as an iterator of complete lines (the frame of a watch event)."""
        session = self._get_session()
        async with session.get(
            self.access.server + path,
            params=params,
            headers=self._headers(),
            proxy=self.access.proxy,
            timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_read=read_timeout_s),
        ) as response:
            await _raise_for_status(response)
            yield _lines(response.content, max_line)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            # let the connector's transports finish closing (aiohttp's documented advice)
            await asyncio.sleep(0)


async def _lines(
    content: aiohttp.StreamReader, max_line: int
) -> AsyncIterator[bytes | LineTooLong]:
    buffer = bytearray()
    skipping = 0
    async for chunk in content.iter_any():
        if skipping:
            end = chunk.find(b"\n")
            if end < 0:
                skipping += len(chunk)
                continue
            yield LineTooLong(skipping + end)
            skipping = 0
            chunk = chunk[end + 1 :]
        buffer += chunk
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if end > start:
                yield bytes(buffer[start:end])
            start = end + 1
        if start:
            del buffer[:start]
        if len(buffer) > max_line:
            skipping = len(buffer)
            buffer.clear()
    if buffer.strip():
        yield bytes(buffer)
