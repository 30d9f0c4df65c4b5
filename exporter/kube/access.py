"""What a client needs to reach the API server, and the error when there is no way to.

A leaf of ``kube``: the loaders (``config``, ``kubeconfig``, ``credentials``, ``tls``) build a
``ClusterAccess``; the HTTP clients only read it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field


class ConfigError(Exception):
    """No usable cluster configuration; the message says what was tried."""


def _no_headers() -> dict[str, str]:
    return {}


@dataclass(slots=True)
class ClusterAccess:
    """The API server URL, its TLS set-up and the credentials of the next request.

    ``headers`` is called before every request: it is cheap (a rotated token file is looked
    at no more than once a second, an exec plugin runs only when its credential expired).
    ``proxy`` is an ``http://`` or ``https://`` proxy URL for aiohttp's ``proxy=``.
    """

    server: str
    ssl_context: ssl.SSLContext | None = None
    headers: Callable[[], dict[str, str]] = field(default=_no_headers)
    description: str = ""
    proxy: str | None = None

    @classmethod
    def plain(cls, server: str, token: str | None = None) -> ClusterAccess:
        """An unauthenticated (or static-token) endpoint, e.g. the embedded simulated cluster."""
        static = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(server=server.rstrip("/"), headers=lambda: dict(static), description=server)
