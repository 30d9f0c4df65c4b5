"""Cluster access: our kubeconfig / in-cluster loader, case by case, and TLS end to end.

The PKI is the real control plane's (tests/cluster/controlplane.py): a CA, a serving
certificate for 127.0.0.1 and api.daylight.test, client certificates. The TLS tests run a
real aiohttp HTTPS server on loopback and reach it through ``ApiClient``; the exec tests run
a real plugin (a small Python script) that counts its runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import ssl
import stat
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from exporter.app import cli
from exporter.kube import config, credentials, tls
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess, ConfigError
from tests.cluster import controlplane
from tests.cluster.controlplane import _CertificateAuthority, _KeyPair

API_NAME = "api.daylight.test"
TOKEN = "s3cr3t-static-token-value"
PASSWORD = "pa55word-value"


# -- PKI and kubeconfig helpers ---------------------------------------------------------------


@dataclass
class Pki:
    dir: Path
    ca: _CertificateAuthority
    server: _KeyPair
    client: _KeyPair
    other_ca: _CertificateAuthority

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.crt"

    def file(self, name: str) -> Path:
        return self.dir / name


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = _CertificateAuthority("daylight-test-ca")
    server = ca.issue(
        "kube-apiserver", dns_names=[API_NAME], ip_addresses=["127.0.0.1"], server=True
    )
    client = ca.issue("daylight-reader", organizations=["readers"], client=True)
    other = _CertificateAuthority("someone-else")
    for name, data in {
        "ca.crt": ca.cert_pem,
        "server.crt": server.cert_pem,
        "server.key": server.key_pem,
        "client.crt": client.cert_pem,
        "client.key": client.key_pem,
        "other-ca.crt": other.cert_pem,
    }.items():
        (root / name).write_bytes(data)
    return Pki(root, ca, server, client, other)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def kubeconfig_doc(
    cluster: dict[str, Any],
    user: dict[str, Any] | None = None,
    *,
    context: dict[str, Any] | None = None,
    current: str | None = "ctx",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": "ctx", "context": context or {"cluster": "c", "user": "u"}}],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def ca_subjects(access: ClusterAccess) -> list[str]:
    assert access.ssl_context is not None
    certs: list[Any] = access.ssl_context.get_ca_certs()
    return [_common_name(cert) for cert in certs]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# -- a real HTTPS API server and a CONNECT proxy ----------------------------------------------


@dataclass
class Server:
    url: str
    requests: list[dict[str, str]] = field(default_factory=list)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def _common_name(peer: Any) -> str:
    if not peer:
        return ""
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


async def _serve(pki: Pki, *, require_client_cert: bool) -> AsyncIterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.file("server.crt"), pki.file("server.key"))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(pki.ca_file))
    sock = _listening_socket()
    server = Server(f"https://127.0.0.1:{sock.getsockname()[1]}")

    async def handler(request: web.Request) -> web.Response:
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        seen = {
            "path": request.path,
            "authorization": request.headers.get("Authorization", ""),
            "cn": _common_name(peer),
        }
        server.requests.append(seen)
        return web.json_response(seen)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=context)
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def api_server(pki: Pki) -> AsyncIterator[Server]:
    async for server in _serve(pki, require_client_cert=False):
        yield server


@pytest.fixture
async def mtls_server(pki: Pki) -> AsyncIterator[Server]:
    async for server in _serve(pki, require_client_cert=True):
        yield server


@dataclass
class Proxy:
    url: str
    connects: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
async def connect_proxy() -> AsyncIterator[Proxy]:
    """An HTTP proxy that only tunnels (CONNECT), recording target and Proxy-Authorization."""
    proxy = Proxy("")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        proxy.connects.append((target, headers.get("Proxy-Authorization", "")))
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    sock = _listening_socket()
    proxy.url = f"127.0.0.1:{sock.getsockname()[1]}"
    server = await asyncio.start_server(handle, sock=sock)
    try:
        yield proxy
    finally:
        server.close()


async def fetch(access: ClusterAccess, path: str = "/api") -> dict[str, str]:
    api = ApiClient(access)
    try:
        body: dict[str, str] = json.loads(await api.get(path, {}, timeout_s=10))
        return body
    finally:
        await api.close()


# -- discovery ----------------------------------------------------------------------------------


def test_explicit_kubeconfig_is_read(tmp_path: Path, pki: Pki) -> None:
    path = write(
        tmp_path / "config",
        kubeconfig_doc(
            {"server": "https://127.0.0.1:6443/", "certificate-authority": str(pki.ca_file)},
            {"token": TOKEN},
        ),
    )
    access = config.load_kubeconfig(path, None)
    assert access.server == "https://127.0.0.1:6443"
    assert access.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert ca_subjects(access) == ["daylight-test-ca"]
    assert access.proxy is None
    assert access.description == f"kubeconfig {path} context ctx (cluster c, user u)"


def test_kubeconfig_env_list_merges_like_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = {  # defines cluster c first, sets no current-context
        "clusters": [{"name": "c", "cluster": {"server": "http://first:1"}}],
    }
    second = {  # c again (ignored), the user, the contexts, and the current-context
        "clusters": [
            {"name": "c", "cluster": {"server": "http://second:2"}},
            {"name": "d", "cluster": {"server": "http://second-d:3"}},
        ],
        "users": [{"name": "u", "user": {"token": "from-second"}}],
        "contexts": [
            {"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "ignored"}},
            {"name": "other", "context": {"cluster": "d", "user": "u"}},
        ],
        "current-context": "ctx",
    }
    third = {"current-context": "other", "users": [{"name": "u", "user": {"token": "third"}}]}
    files = [write(tmp_path / n, d) for n, d in (("1", first), ("2", second), ("3", third))]
    missing = str(tmp_path / "does-not-exist")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([files[0], missing, "", *files[1:]]))
    access = config.load(None, None)
    assert access.server == "http://first:1"
    assert access.headers() == {"Authorization": "Bearer from-second"}
    assert access.ssl_context is None
    other = config.load(None, "other")
    assert other.server == "http://second-d:3"


def test_default_location_is_home_kube_config(tmp_path: Path) -> None:
    write(tmp_path / "home" / ".kube" / "config", kubeconfig_doc({"server": "http://home:1"}))
    assert config.load(None, None).server == "http://home:1"


def test_no_kubeconfig_anywhere(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no kubeconfig at .*\.kube/config and not running in a pod"
    ):
        config.load(None, None)
    with pytest.raises(ConfigError, match=r"no kubeconfig at .*nowhere; pass --kubeconfig"):
        config.load(str(tmp_path / "nowhere"), None)


def write_service_account(directory: Path, pki: Pki, token: str = "sa-token") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(pki.ca.cert_pem)


def test_in_a_pod_without_kubeconfig_the_service_account_is_used(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    sa = tmp_path / "sa"
    write_service_account(sa, pki)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    write(tmp_path / "home" / ".kube" / "config", kubeconfig_doc({"server": "http://home:1"}))
    access = config.load(None, None, sa)
    assert access.server == "https://10.96.0.1:443"
    assert access.description == "in-cluster service account"
    # a kubeconfig given explicitly (flag or KUBECONFIG) wins over the pod's account
    explicit = write(tmp_path / "k", kubeconfig_doc({"server": "http://explicit:1"}))
    assert config.load(explicit, None, sa).server == "http://explicit:1"
    monkeypatch.setenv("KUBECONFIG", explicit)
    assert config.load(None, None, sa).server == "http://explicit:1"


# -- contexts -----------------------------------------------------------------------------------


def test_context_flag_and_errors_naming_what_is_missing(tmp_path: Path) -> None:
    doc = kubeconfig_doc({"server": "http://a:1"}, {"token": "t"})
    doc["clusters"].append({"name": "b", "cluster": {"server": "http://b:2"}})
    doc["contexts"] += [
        {"name": "to-b", "context": {"cluster": "b", "user": "u", "namespace": "x"}},
        {"name": "bad-cluster", "context": {"cluster": "gone", "user": "u"}},
        {"name": "bad-user", "context": {"cluster": "b", "user": "nobody"}},
        {"name": "anonymous", "context": {"cluster": "b"}},
    ]
    path = write(tmp_path / "config", doc)
    assert config.load_kubeconfig(path, None).server == "http://a:1"
    assert config.load_kubeconfig(path, "to-b").server == "http://b:2"
    assert config.load_kubeconfig(path, "anonymous").headers() == {}
    with pytest.raises(ConfigError, match="no context 'nope'") as info:
        config.load_kubeconfig(path, "nope")
    assert "to-b" in str(info.value)  # the known contexts are listed
    with pytest.raises(ConfigError, match="names cluster 'gone'"):
        config.load_kubeconfig(path, "bad-cluster")
    with pytest.raises(ConfigError, match="names user 'nobody'"):
        config.load_kubeconfig(path, "bad-user")
    unset = write(tmp_path / "unset", kubeconfig_doc({"server": "http://a:1"}, current=None))
    with pytest.raises(ConfigError, match="no current-context; pass --context"):
        config.load_kubeconfig(unset, None)
    assert config.load_kubeconfig(unset, "ctx").server == "http://a:1"


def test_malformed_files_are_config_errors_without_their_content(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text(f"users:\n- name: u\n  user: {{token: {TOKEN}\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        config.load_kubeconfig(str(broken), None)
    assert TOKEN not in str(info.value)
    listing = tmp_path / "list"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a mapping"):
        config.load_kubeconfig(str(listing), None)
    typed = write(tmp_path / "typed", kubeconfig_doc({"server": "http://a:1"}, {"token": 12345}))
    with pytest.raises(ConfigError, match="token must be a string"):
        config.load_kubeconfig(typed, None)


# -- clusters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", [{}, {"server": ""}, {"server": "  "}])
def test_a_cluster_without_server_is_an_error(tmp_path: Path, cluster: dict[str, Any]) -> None:
    path = write(tmp_path / "config", kubeconfig_doc(cluster))
    with pytest.raises(ConfigError, match="cluster 'c' has no server"):
        config.load_kubeconfig(path, None)


def test_certificate_authority_paths_are_relative_to_the_kubeconfig(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf" / "pki").mkdir(parents=True)
    (tmp_path / "conf" / "pki" / "ca.crt").write_bytes(pki.ca.cert_pem)
    path = write(
        tmp_path / "conf" / "config",
        kubeconfig_doc({"server": "https://127.0.0.1:1", "certificate-authority": "pki/ca.crt"}),
    )
    monkeypatch.chdir(tmp_path)  # not the kubeconfig's directory
    assert ca_subjects(config.load_kubeconfig(path, None)) == ["daylight-test-ca"]


def test_certificate_authority_data(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    pem = pki.ca.cert_pem.decode()
    wrapped = "\n".join(b64(pem)[i : i + 64] for i in range(0, len(b64(pem)), 64))
    path = write(
        tmp_path / "config",
        kubeconfig_doc({"server": "https://127.0.0.1:1", "certificate-authority-data": wrapped}),
    )
    assert ca_subjects(config.load_kubeconfig(path, None)) == ["daylight-test-ca"]
    # data wins over a file, as for kubectl
    both = write(
        tmp_path / "both",
        kubeconfig_doc(
            {
                "server": "https://127.0.0.1:1",
                "certificate-authority-data": b64(pem),
                "certificate-authority": str(pki.file("other-ca.crt")),
            }
        ),
    )
    assert ca_subjects(config.load_kubeconfig(both, None)) == ["daylight-test-ca"]
    assert "overrides certificate-authority" in caplog.text


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        (
            {"certificate-authority-data": "not base64!"},
            "certificate-authority-data .* not valid base64",
        ),
        ({"certificate-authority-data": b64("no pem here")}, "certificate authority .* unusable"),
        ({"certificate-authority": "/no/such/ca.crt"}, r"/no/such/ca.crt unusable: No such file"),
        ({"insecure-skip-tls-verify": "yes"}, "insecure-skip-tls-verify must be true or false"),
        (
            {"proxy-url": "socks5://user:hunter2@proxy:1080"},
            "SOCKS proxy, which Daylight does not support",
        ),
        ({"proxy-url": "ftp://proxy"}, "not an http:// or https:// URL"),
    ],
)
def test_cluster_errors(tmp_path: Path, cluster: dict[str, Any], message: str) -> None:
    path = write(tmp_path / "config", kubeconfig_doc({"server": "https://127.0.0.1:1", **cluster}))
    with pytest.raises(ConfigError, match=message) as info:
        config.load_kubeconfig(path, None)
    assert "hunter2" not in str(info.value)


async def test_tls_verification_with_the_ca_passes_without_it_fails(
    tmp_path: Path, pki: Pki, api_server: Server
) -> None:
    good = write(
        tmp_path / "good",
        kubeconfig_doc(
            {"server": api_server.url, "certificate-authority": str(pki.ca_file)}, {"token": TOKEN}
        ),
    )
    answer = await fetch(config.load_kubeconfig(good, None), "/api/v1/pods")
    assert answer["authorization"] == f"Bearer {TOKEN}"
    assert answer["path"] == "/api/v1/pods"
    # no CA: the system roots do not know the test CA
    bare = write(tmp_path / "bare", kubeconfig_doc({"server": api_server.url}))
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await fetch(config.load_kubeconfig(bare, None))
    # some other CA
    other = write(
        tmp_path / "other",
        kubeconfig_doc(
            {"server": api_server.url, "certificate-authority": str(pki.file("other-ca.crt"))}
        ),
    )
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await fetch(config.load_kubeconfig(other, None))


async def test_insecure_skip_tls_verify(
    tmp_path: Path, api_server: Server, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path / "config",
        kubeconfig_doc(
            {"server": api_server.url, "insecure-skip-tls-verify": True}, {"token": TOKEN}
        ),
    )
    caplog.set_level(logging.DEBUG)
    access = config.load_kubeconfig(path, None)
    assert access.ssl_context is not None and access.ssl_context.verify_mode == ssl.CERT_NONE
    assert (await fetch(access))["authorization"] == f"Bearer {TOKEN}"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "insecure-skip-tls-verify" in warnings[0].getMessage()
    # a CA together with skip-verify is refused, as by client-go
    both = write(
        tmp_path / "both",
        kubeconfig_doc(
            {
                "server": api_server.url,
                "insecure-skip-tls-verify": True,
                "certificate-authority": str(pki.ca_file),
            }
        ),
    )
    with pytest.raises(ConfigError, match="insecure-skip-tls-verify with a certificate authority"):
        config.load_kubeconfig(both, None)


async def test_tls_server_name_is_what_the_certificate_is_checked_against(
    tmp_path: Path, pki: Pki, api_server: Server
) -> None:
    def access(name: str) -> ClusterAccess:
        cluster = {
            "server": api_server.url,
            "certificate-authority": str(pki.ca_file),
            "tls-server-name": name,
        }
        return config.load_kubeconfig(write(tmp_path / name, kubeconfig_doc(cluster)), None)

    assert (await fetch(access(API_NAME)))["path"] == "/api"
    with pytest.raises(aiohttp.ClientConnectorCertificateError, match=r"wrong\.example"):
        await fetch(access("wrong.example"))


async def test_client_certificate_files_are_sent(
    tmp_path: Path, pki: Pki, mtls_server: Server
) -> None:
    cluster = {"server": mtls_server.url, "certificate-authority": str(pki.ca_file)}
    user = {"client-certificate": "client.crt", "client-key": "client.key"}
    # relative to the kubeconfig, which lives next to the PKI here
    path = write(pki.dir / "mtls.kubeconfig", kubeconfig_doc(cluster, user))
    answer = await fetch(config.load_kubeconfig(path, None))
    assert answer == {"path": "/api", "authorization": "", "cn": "daylight-reader"}
    # the server requires a certificate: without one the request fails
    anonymous = write(tmp_path / "anon", kubeconfig_doc(cluster))
    with pytest.raises(aiohttp.ClientError):
        await fetch(config.load_kubeconfig(anonymous, None))


async def test_client_certificate_data_goes_through_private_files(
    tmp_path: Path, pki: Pki, mtls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, bytes]] = []
    real = tls.load_chain

    def spy(context: ssl.SSLContext, certfile: str, keyfile: str) -> None:
        for name in (certfile, keyfile):
            seen.append(
                (
                    stat.S_IMODE(os.stat(os.path.dirname(name)).st_mode),
                    stat.S_IMODE(os.stat(name).st_mode),
                    Path(name).read_bytes(),
                )
            )
        real(context, certfile, keyfile)

    monkeypatch.setattr(tls, "load_chain", spy)
    cluster = {"server": mtls_server.url, "certificate-authority-data": b64(pki.ca.cert_pem)}
    user = {
        "client-certificate-data": b64(pki.client.cert_pem),
        "client-key-data": b64(pki.client.key_pem),
    }
    access = config.load_kubeconfig(write(tmp_path / "config", kubeconfig_doc(cluster, user)), None)
    assert [(d, f) for d, f, _ in seen] == [(0o700, 0o600), (0o700, 0o600)]
    assert [data for _, _, data in seen] == [pki.client.cert_pem, pki.client.key_pem]
    # loaded, then removed at once; only the empty private directory is left until exit
    assert not os.listdir(tls._PrivateDir.path)
    assert (await fetch(access))["cn"] == "daylight-reader"


def test_the_controlplane_admin_kubeconfig_shape(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/cluster/controlplane.py writes JSON with everything embedded (CA data, client
    certificate and key data) for the admin, and a token for service accounts."""
    creds = {
        "client-certificate-data": b64(pki.client.cert_pem),
        "client-key-data": b64(pki.client.key_pem),
    }
    text = controlplane._kubeconfig(
        "https://127.0.0.1:6443", pki.ca.cert_pem, controlplane.ADMIN_USER, creds
    )
    path = tmp_path / "admin.kubeconfig"
    path.write_text(text)
    access = config.load(str(path))
    assert access.server == "https://127.0.0.1:6443"
    assert ca_subjects(access) == ["daylight-test-ca"]
    assert access.headers() == {}
    assert access.description.endswith(
        f"(cluster {controlplane.CLUSTER_NAME}, user {controlplane.ADMIN_USER})"
    )
    sa = controlplane._kubeconfig(
        "https://127.0.0.1:6443", pki.ca.cert_pem, "system:serviceaccount:x:y", {"token": TOKEN}
    )
    path.write_text(sa)
    assert config.load(str(path)).headers() == {"Authorization": f"Bearer {TOKEN}"}


async def test_the_controlplane_admin_kubeconfig_authenticates(
    tmp_path: Path, pki: Pki, mtls_server: Server
) -> None:
    creds = {
        "client-certificate-data": b64(pki.client.cert_pem),
        "client-key-data": b64(pki.client.key_pem),
    }
    path = tmp_path / "admin.kubeconfig"
    path.write_text(controlplane._kubeconfig(mtls_server.url, pki.ca.cert_pem, "admin", creds))
    assert (await fetch(config.load(str(path))))["cn"] == "daylight-reader"


async def test_proxy_url(
    tmp_path: Path,
    pki: Pki,
    api_server: Server,
    connect_proxy: Proxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = f"http://proxyuser:hunter2@{connect_proxy.url}"
    cluster = {
        "server": api_server.url,
        "certificate-authority": str(pki.ca_file),
        "proxy-url": proxy,
    }
    access = config.load_kubeconfig(
        write(tmp_path / "config", kubeconfig_doc(cluster, {"token": TOKEN})), None
    )
    assert access.proxy == proxy
    answer = await fetch(access)
    assert answer["authorization"] == f"Bearer {TOKEN}"
    target = api_server.url.removeprefix("https://")
    assert connect_proxy.connects == [(target, f"Basic {b64('proxyuser:hunter2')}")]
    assert "hunter2" not in access.description and "hunter2" not in caplog.text


# -- users --------------------------------------------------------------------------------------


def test_token_file_is_reread_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(credentials, "monotonic", lambda: now[0])
    (tmp_path / "token").write_text("first\n")
    path = write(
        tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, {"tokenFile": "token"})
    )
    access = config.load_kubeconfig(path, None)
    assert access.headers() == {"Authorization": "Bearer first"}
    (tmp_path / "token").write_text("second-token\n")
    assert access.headers() == {"Authorization": "Bearer first"}  # not looked at within 1 s
    now[0] += 1.0
    assert access.headers() == {"Authorization": "Bearer second-token"}
    missing = write(
        tmp_path / "missing", kubeconfig_doc({"server": "http://a:1"}, {"tokenFile": "nope"})
    )
    with pytest.raises(ConfigError, match=r"tokenFile .*nope unusable: No such file"):
        config.load_kubeconfig(missing, None)


def test_token_wins_over_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file")
    user = {"token": TOKEN, "tokenFile": "token"}
    path = write(tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, user))
    assert config.load_kubeconfig(path, None).headers() == {"Authorization": f"Bearer {TOKEN}"}


def test_basic_auth(tmp_path: Path) -> None:
    user = {"username": "admin", "password": PASSWORD}
    path = write(tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, user))
    expected = {"Authorization": "Basic " + b64(f"admin:{PASSWORD}")}
    assert config.load_kubeconfig(path, None).headers() == expected
    both = write(
        tmp_path / "both", kubeconfig_doc({"server": "http://a:1"}, {**user, "token": "t"})
    )
    with pytest.raises(ConfigError, match="cannot both be set"):
        config.load_kubeconfig(both, None)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (
            {"auth-provider": {"name": "oidc", "config": {"id-token": TOKEN}}},
            "auth-provider 'oidc', which kubectl no longer supports.*exec credential plugin",
        ),
        ({"auth-provider": {"name": "gcp"}}, "gke-gcloud-auth-plugin"),
        ({"as": "someone-else"}, r"impersonation \(as\) is not supported"),
        ({"client-certificate": "client.crt"}, "client-key missing"),
        ({"client-key-data": b64("x")}, "client-certificate missing"),
    ],
)
def test_user_errors(tmp_path: Path, pki: Pki, user: dict[str, Any], message: str) -> None:
    cluster = {"server": "https://127.0.0.1:1", "certificate-authority": str(pki.ca_file)}
    path = write(pki.dir / "errors.kubeconfig", kubeconfig_doc(cluster, user))
    with pytest.raises(ConfigError, match=message) as info:
        config.load_kubeconfig(path, None)
    assert TOKEN not in str(info.value)


def test_a_bad_client_key_is_a_config_error_naming_the_file(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = pki.other_ca.issue("stranger", client=True)
    (tmp_path / "wrong.key").write_bytes(stranger.key_pem)
    (tmp_path / "garbage.key").write_text(
        "-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n"
    )
    cluster = {"server": "https://127.0.0.1:1", "certificate-authority": str(pki.ca_file)}
    for key, reason in (("wrong.key", "KEY_VALUES_MISMATCH"), ("garbage.key", r"\[SSL")):
        user = {"client-certificate": str(pki.file("client.crt")), "client-key": key}
        path = write(tmp_path / "config", kubeconfig_doc(cluster, user))
        with pytest.raises(ConfigError, match=rf"{tmp_path}/{key} unusable: .*{reason}"):
            config.load_kubeconfig(path, None)
    # the CLI prints one line, no traceback
    assert cli.main(["run", "--kubeconfig", path]) == 2
    err = capsys.readouterr().err
    assert "garbage.key unusable" in err and "Traceback" not in err
    bad_data = {
        "client-certificate-data": b64(pki.client.cert_pem),
        "client-key-data": b64(stranger.key_pem),
    }
    path = write(tmp_path / "data", kubeconfig_doc(cluster, bad_data))
    with pytest.raises(
        ConfigError, match=r"client-key-data of user 'u' unusable: .*KEY_VALUES_MISMATCH"
    ):
        config.load_kubeconfig(path, None)


# -- exec credential plugins --------------------------------------------------------------------

PLUGIN = """#!/usr/bin/env python3
# A test exec credential plugin: counts its runs, keeps what it was given, answers as told.
import datetime, json, os, pathlib, sys
state = pathlib.Path(os.environ["PLUGIN_STATE"])
runs = state / "runs"
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
(state / f"info-{n}.json").write_text(os.environ.get("KUBERNETES_EXEC_INFO", ""))
(state / f"stdin-{n}").write_text(sys.stdin.read())
behaviour = (state / "behaviour").read_text() if (state / "behaviour").exists() else "token"
if behaviour == "fail":
    sys.stderr.write("plugin: your login expired " + "x" * 1000)
    sys.exit(3)
if behaviour == "garbage":
    sys.stderr.write("plugin: something odd")
    print("this is not json")
    sys.exit(0)
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
status = {"expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
if behaviour == "token":
    status["token"] = f"exec-token-{n}"
else:
    status["clientCertificateData"] = (state / "client.crt").read_text()
    status["clientKeyData"] = (state / "client.key").read_text()
print(json.dumps({"apiVersion": sys.argv[1], "kind": "ExecCredential", "status": status}))
"""


@dataclass
class Plugin:
    state: Path
    command: str

    @property
    def runs(self) -> int:
        counter = self.state / "runs"
        return int(counter.read_text()) if counter.exists() else 0

    def behave(self, behaviour: str) -> None:
        (self.state / "behaviour").write_text(behaviour)

    def info(self, run: int) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.state / f"info-{run}.json").read_text())
        return loaded

    def exec(
        self, api_version: str = "client.authentication.k8s.io/v1", **extra: Any
    ) -> dict[str, Any]:
        return {
            "apiVersion": api_version,
            "command": self.command,
            "args": [api_version],
            "env": [{"name": "PLUGIN_STATE", "value": str(self.state)}],
            "interactiveMode": "Never",
            **extra,
        }


@pytest.fixture
def plugin(tmp_path: Path) -> Plugin:
    state = tmp_path / "plugin-state"
    state.mkdir()
    script = tmp_path / "bin" / "credential-plugin"
    script.parent.mkdir()
    script.write_text(PLUGIN)
    script.chmod(0o755)
    return Plugin(state, "./bin/credential-plugin")  # relative: resolved against the kubeconfig


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(credentials, "wall_clock", fake)
    return fake


def test_exec_plugin_token_is_cached_until_it_expires(
    tmp_path: Path, plugin: Plugin, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = write(
        tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, {"exec": plugin.exec()})
    )
    access = config.load_kubeconfig(path, None)
    assert plugin.runs == 1  # at load time
    for _ in range(5):
        assert access.headers() == {"Authorization": "Bearer exec-token-1"}
    assert plugin.runs == 1
    info = plugin.info(1)
    assert info == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": False},  # no provideClusterInfo: no cluster
    }
    assert (plugin.state / "stdin-1").read_text() == ""  # never interactive
    clock.offset = 3600  # the credential expired: the plugin runs again
    assert access.headers() == {"Authorization": "Bearer exec-token-2"}
    assert access.headers() == {"Authorization": "Bearer exec-token-2"}
    assert plugin.runs == 2
    # a failing refresh: logged with the plugin's stderr, the last token kept, retried later
    plugin.behave("fail")
    clock.offset = 7200
    assert access.headers() == {"Authorization": "Bearer exec-token-2"}
    assert access.headers() == {"Authorization": "Bearer exec-token-2"}
    assert plugin.runs == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "your login expired" in errors[0] and "status 3" in errors[0]
    plugin.behave("token")
    clock.offset = 7200 + credentials.ExecCredential.RETRY_S
    assert access.headers() == {"Authorization": "Bearer exec-token-4"}
    assert "exec-token" not in caplog.text


def test_exec_plugin_v1beta1_with_cluster_info(tmp_path: Path, plugin: Plugin, pki: Pki) -> None:
    cluster = {
        "server": "https://127.0.0.1:6443",
        "certificate-authority": str(pki.ca_file),
        "tls-server-name": API_NAME,
        "extensions": [
            {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "daylight"}}
        ],
    }
    spec = plugin.exec("client.authentication.k8s.io/v1beta1", provideClusterInfo=True)
    del spec["interactiveMode"]  # optional in v1beta1
    access = config.load_kubeconfig(
        write(tmp_path / "config", kubeconfig_doc(cluster, {"exec": spec})), None
    )
    assert access.headers() == {"Authorization": "Bearer exec-token-1"}
    info = plugin.info(1)
    assert info["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert info["spec"] == {
        "interactive": False,
        "cluster": {
            "server": "https://127.0.0.1:6443",
            "tls-server-name": API_NAME,
            "certificate-authority-data": b64(pki.ca.cert_pem),
            "config": {"audience": "daylight"},
        },
    }


async def test_exec_plugin_client_certificate(
    tmp_path: Path, plugin: Plugin, pki: Pki, mtls_server: Server
) -> None:
    plugin.behave("certificate")
    (plugin.state / "client.crt").write_bytes(pki.client.cert_pem)
    (plugin.state / "client.key").write_bytes(pki.client.key_pem)
    cluster = {"server": mtls_server.url, "certificate-authority": str(pki.ca_file)}
    access = config.load_kubeconfig(
        write(tmp_path / "config", kubeconfig_doc(cluster, {"exec": plugin.exec()})), None
    )
    assert access.headers() == {}
    assert (await fetch(access))["cn"] == "daylight-reader"


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("fail", r"exited with status 3: plugin: your login expired x+$"),
        ("garbage", r"printed no JSON ExecCredential .*: plugin: something odd"),
    ],
)
def test_a_failing_exec_plugin_is_a_config_error_at_load(
    tmp_path: Path, plugin: Plugin, behaviour: str, message: str
) -> None:
    plugin.behave(behaviour)
    path = write(
        tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, {"exec": plugin.exec()})
    )
    with pytest.raises(ConfigError, match=message) as info:
        config.load_kubeconfig(path, None)
    # stderr is quoted up to 500 bytes
    if behaviour == "fail":
        assert str(info.value).endswith(": " + ("plugin: your login expired " + "x" * 1000)[:500])


def test_exec_plugin_not_found_shows_the_install_hint(tmp_path: Path, plugin: Plugin) -> None:
    spec = plugin.exec(
        command="daylight-no-such-plugin", installHint="install it with: brew install x"
    )
    path = write(tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, {"exec": spec}))
    with pytest.raises(
        ConfigError, match="'daylight-no-such-plugin' not found; install it with: brew install x"
    ):
        config.load_kubeconfig(path, None)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"interactiveMode": "Always"},
            "interactiveMode Always, but Daylight never runs a plugin interactively",
        ),
        ({"interactiveMode": "Sometimes"}, "interactiveMode 'Sometimes' unknown"),
        ({"apiVersion": "client.authentication.k8s.io/v1alpha1"}, "v1alpha1' not supported"),
        ({"args": "not-a-list"}, "exec args must be a list of strings"),
    ],
)
def test_exec_plugin_configuration_errors(
    tmp_path: Path, plugin: Plugin, extra: dict[str, Any], message: str
) -> None:
    path = write(
        tmp_path / "config",
        kubeconfig_doc({"server": "http://a:1"}, {"exec": plugin.exec(**extra)}),
    )
    with pytest.raises(ConfigError, match=message):
        config.load_kubeconfig(path, None)
    assert plugin.runs == 0


def test_exec_plugin_answer_is_validated(tmp_path: Path) -> None:
    def spec(answer: dict[str, Any]) -> dict[str, Any]:
        script = f"import json; print(json.dumps({answer!r}))"
        return {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", script],
        }

    v1 = "client.authentication.k8s.io/v1"
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "kind": "ExecCredential",
                "status": {"token": "t"},
            },
            "answered in",
        ),
        ({"apiVersion": v1, "kind": "Other"}, "printed no ExecCredential"),
        ({"apiVersion": v1, "kind": "ExecCredential"}, "returned no status"),
        (
            {"apiVersion": v1, "kind": "ExecCredential", "status": {}},
            "neither a token nor a certificate",
        ),
        (
            {"apiVersion": v1, "kind": "ExecCredential", "status": {"clientKeyData": "k"}},
            "without its key, or a key",
        ),
        (
            {
                "apiVersion": v1,
                "kind": "ExecCredential",
                "status": {"token": "t", "expirationTimestamp": "soon"},
            },
            "unreadable status.expirationTimestamp",
        ),
    ]
    for answer, message in cases:
        path = write(
            tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, {"exec": spec(answer)})
        )
        with pytest.raises(ConfigError, match=message):
            config.load_kubeconfig(path, None)


def test_static_credentials_win_over_exec(tmp_path: Path, plugin: Plugin) -> None:
    user = {"token": TOKEN, "exec": plugin.exec()}
    path = write(tmp_path / "config", kubeconfig_doc({"server": "http://a:1"}, user))
    assert config.load_kubeconfig(path, None).headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert plugin.runs == 0


# -- in-cluster ---------------------------------------------------------------------------------


def test_in_cluster_token_is_reread_when_it_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    write_service_account(tmp_path, pki, "first-token")
    access = config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt", refresh_period_s=0)
    assert access.server == "https://10.0.0.1:443"
    assert ca_subjects(access) == ["daylight-test-ca"]
    assert access.headers() == {"Authorization": "Bearer first-token"}
    (tmp_path / "token").write_text("rotated-token")
    assert access.headers() == {"Authorization": "Bearer rotated-token"}


def test_service_account_token_checks_are_cheap(tmp_path: Path) -> None:
    """Looked at no more than once a second; re-read on an mtime change, or every 60 s."""
    now = [0.0]
    file = tmp_path / "token"
    file.write_text("one")
    token = credentials.FileToken(file, "in-cluster service-account token", clock=lambda: now[0])
    first = os.stat(file)
    file.write_text("two")
    now[0] = 0.5
    assert token.token() == "one"  # within a second: not even a stat
    now[0] = 1.0
    assert token.token() == "two"  # mtime (and size) changed
    # same size, mtime put back: unchanged to a stat, re-read once 60 s passed
    file.write_text("six")
    os.utime(file, ns=(first.st_atime_ns, os.stat(file).st_mtime_ns))
    signature = os.stat(file)
    token._signature = (signature.st_mtime_ns, signature.st_ino, signature.st_size)
    now[0] = 30.0
    assert token.token() == "two"
    now[0] = 61.0
    assert token.token() == "six"
    # a vanished file keeps the last token
    file.unlink()
    now[0] = 200.0
    assert token.token() == "six"


def test_in_cluster_ipv6_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    write_service_account(tmp_path, pki)
    access = config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt")
    assert access.server == "https://[fd00:10:96::1]:443"


def test_missing_service_account_files_give_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    with pytest.raises(
        ConfigError, match="in-cluster configuration unusable: KUBERNETES_SERVICE_HOST"
    ):
        config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(ConfigError, match=r"in-cluster service-account token .*token unusable"):
        config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt")
    (tmp_path / "token").write_text("t")
    with pytest.raises(
        ConfigError, match="in-cluster configuration unusable: no service-account CA"
    ):
        config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt")
    (tmp_path / "ca.crt").write_text("not a certificate")
    with pytest.raises(ConfigError, match="in-cluster configuration: certificate authority"):
        config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt")


# -- secrets stay out of logs, errors and descriptions ------------------------------------------


def test_no_secret_is_logged(
    tmp_path: Path, pki: Pki, plugin: Plugin, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key_line = pki.client.key_pem.decode().splitlines()[1]
    cert_line = pki.client.cert_pem.decode().splitlines()[1]
    cluster = {
        "server": "https://127.0.0.1:1",
        "certificate-authority-data": b64(pki.ca.cert_pem),
        "proxy-url": f"http://user:{PASSWORD}@127.0.0.1:3128",
    }
    users: list[dict[str, Any]] = [
        {"token": TOKEN},
        {"username": "admin", "password": PASSWORD},
        {
            "client-certificate-data": b64(pki.client.cert_pem),
            "client-key-data": b64(pki.client.key_pem),
        },
        {"exec": plugin.exec()},
    ]
    descriptions = []
    for n, user in enumerate(users):
        access = config.load_kubeconfig(
            write(tmp_path / f"c{n}", kubeconfig_doc(cluster, user)), None
        )
        access.headers()
        descriptions.append(access.description)
    plugin.behave("fail")
    clock.offset = 3600
    access.headers()  # a failed refresh is logged
    assert "refreshing the credential failed" in caplog.text
    for secret in (TOKEN, PASSWORD, "exec-token-1", key_line, cert_line, b64(pki.client.key_pem)):
        assert secret not in caplog.text
        assert all(secret not in d for d in descriptions)


def test_plain_access_for_the_simulated_cluster() -> None:
    """ClusterAccess.plain still builds the unauthenticated access of the simulated cluster."""
    access = ClusterAccess.plain("http://127.0.0.1:1/", token="t")
    assert access.server == "http://127.0.0.1:1"
    assert access.headers() == {"Authorization": "Bearer t"}
    assert access.proxy is None and access.ssl_context is None
