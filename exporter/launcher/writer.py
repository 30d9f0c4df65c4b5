"""The launcher's write access to the API server: create, delete, and existence checks.

This is the only module in Daylight that sends anything but GET to a cluster, and it only
creates Jobs, ConfigMaps (inline task code) and Events, deletes the launcher's own records
of tasks that could not run, and asks whether a ConfigMap or Secret *exists*. Existence is
asked for object metadata only (``PartialObjectMetadata``): the body that comes back has no
``data``, so a Secret's value never crosses the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from exporter.events.objects import Status
from exporter.kube.client import MAX_ERROR_BODY, ApiError
from exporter.kube.config import ClusterAccess

FIELD_MANAGER = "daylight-launcher"
METADATA_ONLY = (
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;q=0.9"
)
_status = msgspec.json.Decoder(Status)


async def _error(response: aiohttp.ClientResponse) -> ApiError:
    body = await response.content.read(MAX_ERROR_BODY)
    reason, message = response.reason or "", ""
    try:
        status = _status.decode(body)
        reason, message = status.reason or reason, status.message
    except (msgspec.DecodeError, msgspec.ValidationError):
        message = body[:200].decode("utf-8", "replace")
    retry_after: float | None = None
    header = response.headers.get("Retry-After")
    if header is not None:
        try:
            retry_after = min(max(float(header), 0.0), 300.0)
        except ValueError:
            retry_after = None
    return ApiError(response.status, reason, message, retry_after)


class KubeWriter:
    def __init__(
        self, access: ClusterAccess, *, timeout_s: float = 30.0, user_agent: str = FIELD_MANAGER
    ) -> None:
        self.access = access
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl = self.access.ssl_context if self.access.ssl_context is not None else False
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl, limit=8), proxy=self.access.proxy
            )
        return self._session

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        headers.update(self.access.headers())
        return headers

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST; raises ApiError (409 when the name is taken: the caller's idempotence)."""
        session = self._get_session()
        headers = self._headers()
        headers["Content-Type"] = "application/json"
        async with session.post(
            self.access.server + path,
            params={"fieldManager": FIELD_MANAGER},
            data=msgspec.json.encode(body),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        ) as response:
            if response.status >= 300:
                raise await _error(response)
            created: dict[str, Any] = msgspec.json.decode(await response.read())
            return created

    async def delete(self, path: str, *, resource_version: str = "") -> None:
        """DELETE with background propagation; a precondition on the resourceVersion keeps a
        sweep from deleting an object that was replaced in between."""
        session = self._get_session()
        headers = self._headers()
        headers["Content-Type"] = "application/json"
        options: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
        }
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        async with session.delete(
            self.access.server + path,
            data=msgspec.json.encode(options),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        ) as response:
            if response.status >= 300:
                raise await _error(response)

    async def exists(self, path: str) -> bool | None:
        """True/False when the API server says so; None when it will not tell (403, errors)."""
        session = self._get_session()
        try:
            async with session.get(
                self.access.server + path,
                headers=self._headers(METADATA_ONLY),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as response:
                if response.status < 300:
                    await response.content.read(64 * 1024)
                    return True
                error = await _error(response)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
        if error.code == 404 and error.reason == "NotFound":
            return False  # a Status 404 for the object (not a missing API)
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)
