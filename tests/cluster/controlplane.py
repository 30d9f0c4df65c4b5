"""A real Kubernetes control plane on loopback for the end-to-end tests.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes and pods)
are the binaries built by ``tests/cluster/build`` from their Go modules; this module only
generates certificates and configuration, starts the processes on free loopback ports, creates
the fake nodes and waits until the cluster is usable.

Library use::

    from tests.cluster.controlplane import ControlPlane, build

    with ControlPlane(build()) as cp:
        cp.kubectl("get", "nodes")

Command line (from the repository root)::

    python -m tests.cluster.controlplane up      # prints the admin kubeconfig path
    python -m tests.cluster.controlplane status
    python -m tests.cluster.controlplane down

Only the standard library and ``cryptography`` are used.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLUSTER_DIR = Path(__file__).resolve().parent
BUILD_SCRIPT = CLUSTER_DIR / "build"
VERSIONS_FILE = CLUSTER_DIR / "versions.env"
STAGES_DIR = CLUSTER_DIR / "stages"

#: The binaries tests/cluster/build puts into the cache.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    "helm",
)

#: kwok's default stages, copied from the kwok module into the cache by ``build``.
DEFAULT_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

#: Pod annotation that selects one of our own kwok stages (see tests/cluster/stages/).
BEHAVIOR_ANNOTATION = "daylight.test/behavior"
#: Annotation and label carried by every fake node.
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_LABEL = ("type", "kwok")

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_CIDR = "10.250.0.0/24"
CLUSTER_NAME = "daylight-e2e"
ADMIN_USER = "daylight-admin"

STATE_FILE_NAME = "controlplane-state.json"

T = TypeVar("T")


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or queried."""


# --------------------------------------------------------------------------------------------
# versions, cache and build


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Parse the ``KEY=VALUE`` lines of versions.env."""
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        versions[key.strip()] = value.strip().strip("\"'")
    return versions


def cache_dir() -> Path:
    """The cache directory of the pinned versions (the same one ``build`` uses)."""
    v = read_versions()
    root = Path(os.environ.get("DAYLIGHT_CACHE") or Path.home() / ".cache" / "daylight")
    key = f"k8s-{v['K8S_VERSION']}-etcd-{v['ETCD_VERSION']}-kwok-{v['KWOK_VERSION']}"
    return root / key


def bin_dir() -> Path:
    """Where ``build`` puts the binaries (they may not exist yet)."""
    return cache_dir() / "bin"


def build(*, quiet: bool = False) -> Path:
    """Run tests/cluster/build (a no-op on a cache hit) and return the bin directory.

    Raises ControlPlaneError with the tail of the build output if the build fails.
    """
    proc = subprocess.run(
        [str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or "").splitlines()[-40:])
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}\n{tail}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise ControlPlaneError(f"{BUILD_SCRIPT} printed no bin directory")
    return Path(lines[-1])


# --------------------------------------------------------------------------------------------
# PKI


@dataclass(frozen=True)
class _KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class _CertificateAuthority:
    """A throw-away CA (ECDSA P-256) that signs serving and client certificates."""

    def __init__(self, common_name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self._name = name
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key)

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> _KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = datetime.datetime.now(datetime.UTC)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return _KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kubeconfig(server: str, ca_pem: bytes, user: str, credentials: dict[str, str]) -> str:
    """A kubeconfig (JSON, which every YAML loader reads) with everything embedded."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }
    return json.dumps(doc, indent=2) + "\n"


def _write(path: Path, data: str | bytes, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    path.chmod(mode)
    return path


# --------------------------------------------------------------------------------------------
# processes


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when the thread that started it dies (Linux only).

    SIGKILL, not SIGTERM: a kube-apiserver whose etcd vanished at the same moment hangs in
    graceful shutdown for minutes.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Component:
    """One running process of the control plane."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state field follows the parenthesised command name; Z = zombie (already dead).
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid_is(pid: int, executable: str) -> bool:
    """True if pid is still the process we started (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].decode(errors="replace") == executable


def _terminate_pids(pids: dict[int, str], grace: float = 10.0) -> None:
    """SIGTERM every pid that is still ours, wait up to ``grace`` seconds, then SIGKILL."""
    ours = {pid: exe for pid, exe in pids.items() if _pid_is(pid, exe)}
    for pid in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_pid_alive(p) for p in ours):
        time.sleep(0.1)
    for pid, exe in ours.items():
        if _pid_alive(pid) and _pid_is(pid, exe):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


#: Shutdown order: clients first, then the API server, etcd last. A kube-apiserver that loses
#: etcd during its graceful shutdown hangs instead of exiting.
STOP_ORDER = (
    ("kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)


def _stop_in_order(components: dict[str, tuple[int, str]], grace: float = 10.0) -> None:
    """Terminate ``{name: (pid, executable)}`` group by group in STOP_ORDER."""
    for group in STOP_ORDER:
        pids = dict(components[name] for name in group if name in components)
        if pids:
            _terminate_pids(pids, grace)
    known = {name for group in STOP_ORDER for name in group}
    rest = dict(pid_exe for name, pid_exe in components.items() if name not in known)
    if rest:
        _terminate_pids(rest, grace)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * lines))
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# the control plane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok on loopback.

    Attributes available after :meth:`start`:

    - ``server``: the API server URL (``https://127.0.0.1:<port>``)
    - ``kubeconfig``: admin kubeconfig (client certificate in ``system:masters``, embedded)
    - ``ca_file``: the cluster CA (PEM) that signed the serving and client certificates
    - ``workdir`` / ``logdir``: temporary directory, one ``<component>.log`` per process
    - ``nodes``: names of the fake nodes (``kwok-node-0``...)
    - ``startup_seconds``: wall time of :meth:`start`
    """

    def __init__(
        self,
        binaries: Path | None = None,
        *,
        nodes: int = 3,
        workdir: Path | None = None,
        detach: bool = False,
        startup_timeout: float = 120.0,
    ) -> None:
        """``binaries``: the bin directory from :func:`build` (default: the cache location).

        ``detach``: leave the processes running when this Python process exits (used by
        ``python -m tests.cluster.controlplane up``); otherwise they die with it.
        """
        self.bin_dir = binaries or bin_dir()
        self.stages_dir = self.bin_dir.parent / "stages"
        self.node_count = nodes
        self.detach = detach
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="daylight-cp-"))
        self.logdir = self.workdir / "logs"
        self.certdir = self.workdir / "pki"
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.ca_file = self.certdir / "ca.crt"
        self.server = ""
        self.etcd_url = ""
        self.nodes: list[str] = []
        self.components: list[Component] = []
        self.startup_seconds = 0.0
        self._ca: _CertificateAuthority | None = None
        self._admin: _KeyPair | None = None
        self._ssl: ssl.SSLContext | None = None
        self._stopped = False

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(keep_workdir=exc is not None)

    # -- binaries ----------------------------------------------------------------------------

    def binary(self, name: str) -> Path:
        path = self.bin_dir / name
        if not os.access(path, os.X_OK):
            raise ControlPlaneError(f"missing binary {path}: run {BUILD_SCRIPT}")
        return path

    @property
    def kubectl_path(self) -> Path:
        return self.binary("kubectl")

    @property
    def helm_path(self) -> Path:
        return self.binary("helm")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start everything and wait until nodes are Ready and default/default exists."""
        t0 = time.monotonic()
        for name in COMPONENTS[:5]:
            self.binary(name)
        for rel in DEFAULT_STAGE_FILES:
            if not (self.stages_dir / rel).is_file():
                raise ControlPlaneError(f"missing kwok stage {self.stages_dir / rel}: run build")
        self.logdir.mkdir(parents=True, exist_ok=True)
        if not self.detach:
            import atexit

            atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop(keep_workdir=True)
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start(self) -> None:
        (etcd_client, etcd_peer, api_port, kcm_port, sched_port, kwok_port) = _free_ports(6)
        self.server = f"https://127.0.0.1:{api_port}"
        self.etcd_url = f"http://127.0.0.1:{etcd_client}"
        self._write_pki()
        deadline = time.monotonic() + self.startup_timeout

        # etcd
        peer = f"http://127.0.0.1:{etcd_peer}"
        self._spawn(
            "etcd",
            [
                "--name=daylight",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=daylight={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--auto-compaction-retention=1",
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ],
        )
        self._wait(
            "etcd /health",
            lambda: self._http_ok(f"{self.etcd_url}/health", expect=b'"health":"true"'),
            deadline,
        )

        # kube-apiserver
        pki = self.certdir
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # The "kubernetes" Endpoints may not point at loopback: without this the
                # apiserver logs "may not be in the loopback range" every 10 s.
                "--endpoint-reconciler-type=none",
                f"--secure-port={api_port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--authorization-mode=RBAC",
                "--enable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                "--profiling=false",
                "--event-ttl=1h",
                "--v=1",
            ],
        )
        self._wait("kube-apiserver /readyz", lambda: self._api_ok("/readyz"), deadline)

        # the rest talk to the API server only
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.workdir / 'kube-controller-manager.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*",
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--v=2",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--v=2",
            ],
        )
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={self.workdir / 'kwok.kubeconfig'}",
                f"--config={self._write_kwok_config()}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION[0]}={NODE_ANNOTATION[1]}",
                f"--cidr={POD_CIDR}",
                f"--server-address=127.0.0.1:{kwok_port}",
                "--node-lease-duration-seconds=40",
            ],
        )
        self._create_nodes()
        kwok_health = f"http://127.0.0.1:{kwok_port}/healthz"
        self._wait("kwok /healthz", lambda: self._http_ok(kwok_health), deadline)
        self._wait(
            "kube-scheduler /healthz",
            lambda: self._http_ok(f"https://127.0.0.1:{sched_port}/healthz", insecure=True),
            deadline,
        )
        self._wait(
            "kube-controller-manager /healthz",
            lambda: self._http_ok(f"https://127.0.0.1:{kcm_port}/healthz", insecure=True),
            deadline,
        )
        self._wait("fake nodes Ready and untainted", self._nodes_ready, deadline)
        self._wait(
            "ServiceAccount default/default",
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            deadline,
        )

    def stop(self, *, keep_workdir: bool = False) -> None:
        """Stop every component (SIGTERM, then SIGKILL after 10 s) and remove the workdir.

        With ``keep_workdir`` the logs, certificates and kubeconfigs are kept (etcd data is
        not); with ``DAYLIGHT_KEEP_CLUSTER`` set in the environment everything is kept.
        """
        if self._stopped:
            return
        self._stopped = True
        by_name = {c.name: (c.pid, c.argv[0]) for c in self.components if c.alive()}
        _stop_in_order(by_name)
        for c in self.components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.popen.wait(timeout=1)
        keep_all = bool(os.environ.get("DAYLIGHT_KEEP_CLUSTER"))
        if not self._own_workdir or keep_all:
            return
        if keep_workdir:
            # Keep logs, certificates and kubeconfigs; etcd's preallocated WAL is 64 MB.
            shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check_alive(self) -> None:
        """Raise ControlPlaneError if any component has exited."""
        dead = [c for c in self.components if not c.alive()]
        if dead:
            details = "\n\n".join(
                f"{c.name} exited with code {c.popen.returncode}; last lines of {c.log}:\n"
                + _tail(c.log, 30)
                for c in dead
            )
            raise ControlPlaneError(details)

    def component_logs(self, tail: int = 60) -> str:
        """The last ``tail`` lines of every component log, for failure reports."""
        parts = []
        for c in self.components:
            state = "running" if c.alive() else f"EXITED with code {c.popen.returncode}"
            parts.append(f"===== {c.name} (pid {c.pid}, {state}) {c.log}\n{_tail(c.log, tail)}")
        return "\n".join(parts)

    @property
    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self.components}

    # -- clients -----------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (admin unless ``kubeconfig`` is given)."""
        argv = [str(self.kubectl_path), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        proc = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def kubectl_json(self, *args: str, timeout: float = 60.0) -> Any:
        """``kubectl <args> -o json``, decoded."""
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]]) -> None:
        """``kubectl apply -f -`` with YAML/JSON text, one object, or a list of objects."""
        if isinstance(manifest, dict):
            text = json.dumps(manifest)
        elif isinstance(manifest, list):
            text = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifest})
        else:
            text = manifest
        self.kubectl("apply", "-f", "-", input=text)

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Any:
        """An admin request to the API server; returns the decoded JSON body."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            ctype = "application/json"
            if method == "PATCH":
                ctype = "application/merge-patch+json"
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ControlPlaneError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        return json.loads(raw) if raw else None

    def service_account_token(
        self, namespace: str, name: str, *, expiration_seconds: int = 3600
    ) -> str:
        """A bound token for ServiceAccount ``namespace/name`` (TokenRequest API)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        return str(self.request("POST", path, body)["status"]["token"])

    def service_account_kubeconfig(
        self,
        namespace: str,
        name: str,
        path: Path | None = None,
        *,
        expiration_seconds: int = 3600,
    ) -> Path:
        """Write a kubeconfig that authenticates as ServiceAccount ``namespace/name``."""
        token = self.service_account_token(namespace, name, expiration_seconds=expiration_seconds)
        user = f"system:serviceaccount:{namespace}:{name}"
        path = path or self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        text = _kubeconfig(self.server, self.ca_file.read_bytes(), user, {"token": token})
        return _write(path, text)

    def user_kubeconfig(
        self, user: str, groups: Sequence[str] = (), path: Path | None = None
    ) -> Path:
        """Write a kubeconfig with a client certificate for ``user`` in ``groups``."""
        if self._ca is None:
            raise ControlPlaneError("control plane not started")
        pair = self._ca.issue(user, organizations=groups, client=True)
        creds = {
            "client-certificate-data": _b64(pair.cert_pem),
            "client-key-data": _b64(pair.key_pem),
        }
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in user)
        path = path or self.workdir / f"user-{safe}.kubeconfig"
        return _write(path, _kubeconfig(self.server, self._ca.cert_pem, user, creds))

    def wait_for_service_account(
        self, namespace: str, name: str = "default", timeout: float = 30.0
    ) -> None:
        """Wait until a ServiceAccount exists (needed before creating bare Pods)."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"
        self._wait(
            f"ServiceAccount {namespace}/{name}",
            lambda: self._exists(path),
            time.monotonic() + timeout,
        )

    def wait_until(
        self,
        description: str,
        predicate: Callable[[], T | None],
        timeout: float = 60.0,
        interval: float = 0.5,
    ) -> T:
        """Poll ``predicate`` until it returns a truthy value, which is returned."""
        return self._wait(description, predicate, time.monotonic() + timeout, interval)

    # -- internals ---------------------------------------------------------------------------

    def _write_pki(self) -> None:
        ca = _CertificateAuthority("daylight-e2e-ca")
        self._ca = ca
        pki = self.certdir
        _write(pki / "ca.crt", ca.cert_pem, 0o644)
        _write(pki / "ca.key", ca.key_pem)
        serving = ca.issue(
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", "::1", str(ipaddress.ip_network(SERVICE_CIDR)[1])],
            server=True,
        )
        _write(pki / "apiserver.crt", serving.cert_pem, 0o644)
        _write(pki / "apiserver.key", serving.key_pem)
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write(pki / "sa.key", _key_pem(sa_key))
        sa_pub = sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(pki / "sa.pub", sa_pub, 0o644)

        self._admin = ca.issue(ADMIN_USER, organizations=["system:masters"], client=True)
        _write(pki / "admin.crt", self._admin.cert_pem, 0o644)
        _write(pki / "admin.key", self._admin.key_pem)
        identities = {
            "admin": (ADMIN_USER, ["system:masters"], self._admin),
            "kube-controller-manager": ("system:kube-controller-manager", [], None),
            "kube-scheduler": ("system:kube-scheduler", [], None),
            "kwok": ("kwok-controller", ["system:masters"], None),
        }
        for file_name, (user, groups, pair) in identities.items():
            pair = pair or ca.issue(user, organizations=groups, client=True)
            creds = {
                "client-certificate-data": _b64(pair.cert_pem),
                "client-key-data": _b64(pair.key_pem),
            }
            _write(
                self.workdir / f"{file_name}.kubeconfig",
                _kubeconfig(self.server, ca.cert_pem, user, creds),
            )

    def _write_kwok_config(self) -> Path:
        docs = [(self.stages_dir / rel).read_text() for rel in DEFAULT_STAGE_FILES]
        docs += [p.read_text() for p in sorted(STAGES_DIR.glob("*.yaml"))]
        text = "\n---\n".join(d.strip() for d in docs) + "\n"
        return _write(self.workdir / "kwok.yaml", text, 0o644)

    def _create_nodes(self) -> None:
        self.nodes = [f"kwok-node-{i}" for i in range(self.node_count)]
        resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
        for index, name in enumerate(self.nodes):
            # Distinct InternalIPs so pods get a hostIP (kwok's --node-ip is one for all).
            addresses = [
                {"type": "InternalIP", "address": str(ipaddress.ip_network(NODE_CIDR)[index + 1])},
                {"type": "Hostname", "address": name},
            ]
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        NODE_ANNOTATION[0]: NODE_ANNOTATION[1],
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        NODE_LABEL[0]: NODE_LABEL[1],
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/role": "agent",
                        "node-role.kubernetes.io/agent": "",
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": resources,
                    "capacity": resources,
                    "addresses": addresses,
                },
            }
            self.request("POST", "/api/v1/nodes", node)

    def _nodes_ready(self) -> bool:
        items = self.request("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")["items"]
        ready = 0
        for node in items:
            conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
            if conditions.get("Ready") == "True" and not node["spec"].get("taints"):
                ready += 1
        return ready >= self.node_count

    def _spawn(self, name: str, args: list[str]) -> Component:
        exe = str(self.binary(name))
        log = self.logdir / f"{name}.log"
        argv = [exe, *args]
        log_fh = log.open("ab")
        try:
            log_fh.write(f"# {' '.join(argv)}\n".encode())
            log_fh.flush()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=None
                if self.detach or threading.current_thread() is not threading.main_thread()
                else _die_with_parent,
            )
        finally:
            log_fh.close()
        comp = Component(name, argv, log, popen)
        self.components.append(comp)
        return comp

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.ca_file))
            ctx.load_cert_chain(self.certdir / "admin.crt", self.certdir / "admin.key")
            self._ssl = ctx
        return self._ssl

    def _http_ok(self, url: str, *, insecure: bool = False, expect: bytes = b"") -> bool:
        ctx = None
        if url.startswith("https"):
            ctx = ssl.create_default_context()
            if insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                return bool(r.status == 200 and expect in r.read())
        except (OSError, urllib.error.URLError):
            return False

    def _api_ok(self, path: str) -> bool:
        try:
            req = urllib.request.Request(self.server + path)
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _exists(self, path: str) -> bool:
        try:
            self.request("GET", path, timeout=5)
        except ControlPlaneError:
            return False
        return True

    def _wait(
        self,
        what: str,
        predicate: Callable[[], T | None],
        deadline: float,
        interval: float = 0.2,
    ) -> T:
        while True:
            self.check_alive()
            try:
                result = predicate()
            except (ControlPlaneError, OSError):
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"timed out waiting for {what}\n{self.component_logs(tail=20)}"
                )
            time.sleep(interval)


# --------------------------------------------------------------------------------------------
# command line: up / down / status


def _state_file() -> Path:
    return cache_dir() / STATE_FILE_NAME


def _load_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    return state


def _state_alive(state: dict[str, Any]) -> dict[str, bool]:
    return {
        name: _pid_is(int(info["pid"]), str(info["exe"])) and _pid_alive(int(info["pid"]))
        for name, info in state["components"].items()
    }


def _down(state: dict[str, Any]) -> None:
    _stop_in_order({n: (int(i["pid"]), str(i["exe"])) for n, i in state["components"].items()})
    workdir = Path(state["workdir"])
    if not os.environ.get("DAYLIGHT_KEEP_CLUSTER"):
        shutil.rmtree(workdir, ignore_errors=True)
    _state_file().unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.controlplane")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build if needed, start, print the kubeconfig path")
    up.add_argument("--nodes", type=int, default=3)
    sub.add_parser("down", help="stop the control plane started by 'up'")
    sub.add_parser("status", help="show the state of the control plane started by 'up'")
    args = parser.parse_args(argv)

    state = _load_state()
    if args.command == "status":
        if state is None:
            print("down")
            return 1
        alive = _state_alive(state)
        for name, ok in alive.items():
            print(f"{name:<25} pid {state['components'][name]['pid']:<8} {'up' if ok else 'DEAD'}")
        print(f"kubeconfig: {state['kubeconfig']}")
        print(f"logs:       {state['logdir']}")
        return 0 if all(alive.values()) else 1

    if args.command == "down":
        if state is None:
            print("control plane is not up", file=sys.stderr)
            return 0
        _down(state)
        print("control plane stopped", file=sys.stderr)
        return 0

    # up
    if state is not None:
        if all(_state_alive(state).values()):
            print(
                f"already up (run 'down' first); kubeconfig: {state['kubeconfig']}", file=sys.stderr
            )
            print(state["kubeconfig"])
            return 0
        _down(state)
    binaries = build()
    cp = ControlPlane(binaries, nodes=args.nodes, detach=True)
    cp.start()
    state = {
        "server": cp.server,
        "kubeconfig": str(cp.kubeconfig),
        "workdir": str(cp.workdir),
        "logdir": str(cp.logdir),
        "ca_file": str(cp.ca_file),
        "nodes": cp.nodes,
        "startup_seconds": round(cp.startup_seconds, 2),
        "components": {c.name: {"pid": c.pid, "exe": c.argv[0]} for c in cp.components},
    }
    _write(_state_file(), json.dumps(state, indent=2) + "\n", 0o644)
    print(
        f"control plane up in {cp.startup_seconds:.1f} s (warm start); {cp.server}", file=sys.stderr
    )
    print(f"state: {_state_file()}", file=sys.stderr)
    print(cp.kubeconfig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
