"""TLS towards the API server: the cluster's CA, skip-verify, tls-server-name, client certificates.

``ssl`` loads certificate chains from files only, so PEM data (``client-certificate-data``, an
exec plugin's ``clientCertificateData``) is written to a private directory (mode 0700, files
0600), loaded, and removed at once; the directory itself goes at exit. Errors name the file or
field and carry the ssl library's reason, never the PEM content.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

from exporter.kube.access import ConfigError

log = logging.getLogger("daylight.kube")


class ServerNameContext(ssl.SSLContext):
    """Presents and checks ``tls-server-name`` instead of the URL's host (kubectl's
    ``--tls-server-name``), for connections to the API server's host only: an https proxy
    reached on the way keeps its own name. Every aiohttp session using the context (the
    informer's and the launcher's) gets it without a per-request argument."""

    api_host: str = ""
    server_name: str = ""

    def _name(self, server_hostname: str | bytes | None) -> str | bytes | None:
        host = server_hostname.decode() if isinstance(server_hostname, bytes) else server_hostname
        if host is not None and host.strip("[]").rstrip(".").lower() == self.api_host:
            return self.server_name
        return server_hostname

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        name = self._name(server_hostname)
        return super().wrap_bio(incoming, outgoing, server_side, name, session)


@dataclass(frozen=True, slots=True)
class Pem:
    """Certificate or key material: a file, or PEM bytes; ``label`` names it in errors."""

    label: str
    path: str = ""
    data: bytes = b""


def client_context(
    server: str,
    *,
    ca: Pem | None = None,
    insecure: bool = False,
    server_name: str = "",
    what: str = "",
) -> ssl.SSLContext:
    """A client context verifying the API server (system roots when no CA is given)."""
    context: ssl.SSLContext
    if server_name:
        named = ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
        named.api_host = (urlsplit(server).hostname or "").rstrip(".").lower()
        named.server_name = server_name
        context = named
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        if ca is not None:
            # client-go refuses this combination too: it is never what was meant
            raise ConfigError(f"{what}: insecure-skip-tls-verify with a certificate authority")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        log.warning("TLS verification of %s is OFF (insecure-skip-tls-verify)", server)
        return context
    if ca is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return context
    try:
        if ca.data:
            context.load_verify_locations(cadata=ca.data.decode("ascii"))
        else:
            context.load_verify_locations(cafile=ca.path)
    except (ssl.SSLError, OSError, UnicodeDecodeError, ValueError) as exc:
        reason = _reason(exc)
        raise ConfigError(f"{what}: certificate authority {ca.label} unusable: {reason}") from None
    return context


def load_client_certificate(context: ssl.SSLContext, cert: Pem, key: Pem, what: str) -> None:
    """Load (or replace) the client certificate the context presents."""
    written: list[str] = []
    try:
        certfile = cert.path or _private_file(cert.data, written, cert.label)
        keyfile = key.path or _private_file(key.data, written, key.label)
        load_chain(context, certfile, keyfile)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"{what}: client certificate {cert.label} / key {key.label} unusable: {_reason(exc)}"
        ) from None
    finally:
        for path in written:
            _unlink(path)


def load_chain(context: ssl.SSLContext, certfile: str, keyfile: str) -> None:
    # a password callback giving nothing: an encrypted key fails instead of prompting on a tty
    context.load_cert_chain(certfile, keyfile, password=lambda: b"")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


class _PrivateDir:
    """One 0700 temporary directory per process, removed at exit."""

    path: str = ""

    @classmethod
    def get(cls) -> str:
        if not cls.path or not os.path.isdir(cls.path):
            cls.path = tempfile.mkdtemp(prefix="daylight-kube-")
            atexit.register(shutil.rmtree, cls.path, True)
        return cls.path


def _private_file(data: bytes, written: list[str], label: str) -> str:
    try:
        fd, path = tempfile.mkstemp(dir=_PrivateDir.get(), suffix=".pem")  # mode 0600
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot write {label} to a private temporary file ({exc.strerror})"
        ) from None
    written.append(path)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        log.warning("could not remove temporary credential file %s", path)
