"""How to reach and authenticate to the API server: in-cluster or from a kubeconfig.

Our own loader (the ``kubernetes`` package and what it pulls in were ~140 MB installed):
``kubeconfig`` finds, merges and selects entries as kubectl does, ``tls`` builds the SSL
context, ``credentials`` keeps rotating tokens and exec-plugin credentials fresh. Supported:
``server``, ``certificate-authority[-data]``, ``insecure-skip-tls-verify``,
``tls-server-name``, ``proxy-url`` (http/https) for clusters; ``token``, ``tokenFile``,
``client-certificate[-data]``/``client-key[-data]``, ``username``/``password`` and ``exec``
plugins for users. The legacy ``auth-provider`` (removed from kubectl), impersonation and
SOCKS proxies are refused with a ``ConfigError`` that says so.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporter.kube import kubeconfig, tls
from exporter.kube.access import ClusterAccess, ConfigError
from exporter.kube.credentials import ExecCredential, ExecPlugin, FileToken
from exporter.kube.kubeconfig import Selection, text

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "ClusterAccess",
    "ConfigError",
    "load",
    "load_in_cluster",
    "load_kubeconfig",
]

log = logging.getLogger("daylight.kube")

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_IMPERSONATION = ("as", "as-uid", "as-groups", "as-user-extra")


def load(
    kubeconfig: str | None = None,
    context: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ClusterAccess:
    """In-cluster when running in a pod without an explicit kubeconfig, else the kubeconfig."""
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    if not explicit and "KUBERNETES_SERVICE_HOST" in os.environ:
        return load_in_cluster(service_account_dir / "token", service_account_dir / "ca.crt")
    return load_kubeconfig(explicit, context)


def load_in_cluster(
    token_file: Path = SERVICE_ACCOUNT_DIR / "token",
    ca_file: Path = SERVICE_ACCOUNT_DIR / "ca.crt",
    refresh_period_s: float = 60.0,
) -> ClusterAccess:
    """The pod's service account; the token is re-read as kubelet rotates it (about hourly)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError(
            "in-cluster configuration unusable: KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT must both be set"
        )
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    what = "in-cluster configuration"
    token = FileToken(
        token_file, "in-cluster service-account token", refresh_period_s=refresh_period_s
    )
    if not ca_file.is_file():
        raise ConfigError(f"{what} unusable: no service-account CA at {ca_file}")
    context = tls.client_context(server, ca=tls.Pem(str(ca_file), path=str(ca_file)), what=what)
    return ClusterAccess(
        server=server,
        ssl_context=context,
        headers=_bearer(token.token),
        description="in-cluster service account",
    )


def load_kubeconfig(path: str | None, context: str | None) -> ClusterAccess:
    """``path`` (a file, or several separated by ``os.pathsep``), else ``$KUBECONFIG``, else
    ``~/.kube/config``; ``context`` or the ``current-context``."""
    files, asked = kubeconfig.candidate_files(path)
    merged = kubeconfig.read(files)
    if not merged.files:
        listed = os.pathsep.join(str(f) for f in files)
        raise ConfigError(
            f"no kubeconfig at {listed}"
            + ("" if asked else " and not running in a pod")
            + "; pass --kubeconfig, set KUBECONFIG, or run `daylight demo` to try the "
            "simulated cluster"
        )
    selection = kubeconfig.select(merged, context)
    cluster = _cluster(selection)
    headers = _user(selection, cluster)
    return ClusterAccess(
        server=cluster.server,
        ssl_context=cluster.ssl_context,
        headers=headers,
        description=selection.describe(),
        proxy=cluster.proxy,
    )


@dataclass(slots=True)
class _Cluster:
    server: str
    ssl_context: ssl.SSLContext | None
    proxy: str | None
    exec_info: dict[str, Any]


def _cluster(selection: Selection) -> _Cluster:
    body = selection.cluster.body
    what = f"{selection.where}: cluster {selection.cluster.name!r}"
    server = text(body, "server", what).strip()
    if not server:
        raise ConfigError(f"{what} has no server")
    if "://" not in server:
        server = "https://" + server
    scheme = urlsplit(server).scheme.lower()
    if scheme not in ("https", "http"):
        raise ConfigError(f"{what}: server scheme {scheme!r} is neither https nor http")
    server = server.rstrip("/")
    ca = _ca(body, what, selection.cluster.name)
    insecure = body.get("insecure-skip-tls-verify") or False
    if not isinstance(insecure, bool):
        raise ConfigError(f"{what}: insecure-skip-tls-verify must be true or false")
    server_name = text(body, "tls-server-name", what)
    proxy_url = text(body, "proxy-url", what)
    proxy = _proxy(proxy_url, what)
    context = None
    if scheme == "https":
        context = tls.client_context(
            server, ca=ca, insecure=insecure, server_name=server_name, what=what
        )
    info: dict[str, Any] = {"server": server}
    if server_name:
        info["tls-server-name"] = server_name
    if insecure:
        info["insecure-skip-tls-verify"] = True
    if ca is not None and context is not None:  # the file was readable: the context has it
        pem = ca.data or Path(ca.path).read_bytes()
        info["certificate-authority-data"] = base64.b64encode(pem).decode()
    if proxy_url:
        info["proxy-url"] = proxy_url
    extension = _exec_extension(body)
    if extension is not None:
        info["config"] = extension
    return _Cluster(server, context, proxy, info)


def _ca(body: Mapping[str, Any], what: str, name: str) -> tls.Pem | None:
    data = text(body, "certificate-authority-data", what)
    path = text(body, "certificate-authority", what)
    if data:
        if path:
            log.warning("%s: certificate-authority-data overrides certificate-authority", what)
        label = f"certificate-authority-data of cluster {name!r}"
        return tls.Pem(label, data=_b64(data, label, what))
    return tls.Pem(path, path=path) if path else None


def _exec_extension(body: Mapping[str, Any]) -> Any:
    """The cluster's ``client.authentication.k8s.io/exec`` extension, handed to plugins."""
    for item in body.get("extensions") or []:
        if isinstance(item, Mapping) and item.get("name") == "client.authentication.k8s.io/exec":
            return item.get("extension")
    return None


def _proxy(url: str, what: str) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.hostname:
        return url
    # the URL may carry credentials: name the scheme and host only
    shown = f"{scheme}://{parts.hostname or ''}"
    if scheme.startswith("socks"):
        raise ConfigError(
            f"{what}: proxy-url {shown} is a SOCKS proxy, which Daylight does not support; "
            "use an http:// or https:// proxy"
        )
    raise ConfigError(f"{what}: proxy-url {shown} is not an http:// or https:// URL")


def _user(selection: Selection, cluster: _Cluster) -> Callable[[], dict[str, str]]:
    body = selection.user.body
    what = f"{selection.where}: user {selection.user.name!r}"
    _refuse_unsupported(body, what)
    token, token_file = text(body, "token", what), text(body, "tokenFile", what)
    username, password = text(body, "username", what), text(body, "password", what)
    if username and (token or token_file):
        raise ConfigError(f"{what}: username/password and a bearer token cannot both be set")
    has_cert = _client_certificate(body, what, selection.user.name, cluster)
    if username:
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        static = {"Authorization": f"Basic {basic}"}
        return lambda: dict(static)
    if token:  # kubeconfig v1: "If both Token and TokenFile are present, Token takes precedence"
        return _bearer(lambda: token)
    if token_file:
        return _bearer(FileToken(Path(token_file), f"{what}: tokenFile").token)
    spec = body.get("exec")
    if spec is None:
        return lambda: {}
    if has_cert:
        # as client-go: credentials in the kubeconfig win, the plugin is not run
        log.info("%s: client certificate given, exec plugin not run", what)
        return lambda: {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{what}: exec must be a mapping")
    plugin = ExecPlugin(spec, what, cluster.exec_info)
    credential = ExecCredential(plugin, _certificate_loader(cluster, what))
    return _bearer(credential.token)


def _refuse_unsupported(body: Mapping[str, Any], what: str) -> None:
    provider = body.get("auth-provider")
    if provider:
        name = provider.get("name") if isinstance(provider, Mapping) else None
        raise ConfigError(
            f"{what} uses auth-provider {name!r}, which kubectl no longer supports (removed in "
            "1.26); configure an exec credential plugin instead (kubelogin for OIDC and Azure, "
            "gke-gcloud-auth-plugin for GKE)"
        )
    for key in _IMPERSONATION:
        if body.get(key):
            raise ConfigError(
                f"{what}: impersonation ({key}) is not supported; use a user with the "
                "permissions Daylight needs"
            )


def _client_certificate(body: Mapping[str, Any], what: str, user: str, cluster: _Cluster) -> bool:
    cert = _pem(body, "client-certificate", what, user)
    key = _pem(body, "client-key", what, user)
    if cert is None and key is None:
        return False
    if cert is None or key is None:
        missing = "client-certificate" if cert is None else "client-key"
        raise ConfigError(f"{what}: {missing} missing (a client certificate needs both)")
    if cluster.ssl_context is None:
        raise ConfigError(f"{what}: a client certificate needs an https server")
    tls.load_client_certificate(cluster.ssl_context, cert, key, what)
    return True


def _pem(body: Mapping[str, Any], field: str, what: str, user: str) -> tls.Pem | None:
    data = text(body, f"{field}-data", what)
    if data:
        label = f"{field}-data of user {user!r}"
        return tls.Pem(label, data=_b64(data, label, what))
    path = text(body, field, what)
    return tls.Pem(path, path=path) if path else None


def _certificate_loader(cluster: _Cluster, what: str) -> Callable[[bytes, bytes], None]:
    def load(cert_pem: bytes, key_pem: bytes) -> None:
        if cluster.ssl_context is None:
            raise ConfigError(f"{what}: the exec plugin's client certificate needs https")
        cert = tls.Pem("clientCertificateData of the exec plugin", data=cert_pem)
        key = tls.Pem("clientKeyData of the exec plugin", data=key_pem)
        tls.load_client_certificate(cluster.ssl_context, cert, key, what)

    return load


def _bearer(token: Callable[[], str]) -> Callable[[], dict[str, str]]:
    def headers() -> dict[str, str]:
        value = token()
        return {"Authorization": f"Bearer {value}"} if value else {}

    return headers


def _b64(value: str, label: str, what: str) -> bytes:
    try:
        # Go's decoder (kubectl's) skips line breaks inside the base64 text
        return base64.b64decode("".join(value.split()), validate=True)
    except ValueError:
        raise ConfigError(f"{what}: {label} is not valid base64") from None
