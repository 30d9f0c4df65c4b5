"""Credentials for the next request: rotated token files and exec credential plugins.

Both are asked before every request (``ClusterAccess.headers``), so both are cheap when nothing
changed: a token file is looked at no more than once a second, a plugin runs only when its
credential expired. A failure after start-up is logged and the last credential kept (the API
server will say when it stops working); at load time it is a ``ConfigError``.

Nothing here logs or puts into an error a token, key or certificate; a failing plugin's
stderr (its first 500 bytes) is quoted, as kubectl shows it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.events.timeutil import parse_rfc3339
from exporter.kube.access import ConfigError

log = logging.getLogger("daylight.kube")

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
STDERR_LIMIT = 500
MAX_TOKEN_BYTES = 64 * 1024


def wall_clock() -> float:
    """The clock expirationTimestamp is compared with (replaced in tests)."""
    return time.time()


def monotonic() -> float:
    """The clock of file checks (replaced in tests)."""
    return time.monotonic()


class FileToken:
    """A bearer token in a file rotated under us (a projected service-account token, a
    kubeconfig ``tokenFile``): the file is looked at no more often than ``check_interval_s``,
    and re-read when its mtime, inode or size changed or ``refresh_period_s`` passed."""

    def __init__(
        self,
        path: Path,
        what: str,
        *,
        refresh_period_s: float = 60.0,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = path
        self.what = what
        self._period = refresh_period_s
        self._interval = min(check_interval_s, refresh_period_s)
        self._clock = clock or (lambda: monotonic())
        try:
            self._token, self._signature = self._read()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{what} {path} unusable: {_reason(exc)}") from None
        self._read_at = self._checked_at = self._clock()
        self._failing = False

    def token(self) -> str:
        now = self._clock()
        if now - self._checked_at < self._interval:
            return self._token
        self._checked_at = now
        try:
            if now - self._read_at < self._period and self._unchanged():
                return self._token
            self._token, self._signature = self._read()
        except (OSError, ValueError) as exc:
            if not self._failing:
                log.warning("%s %s: %s; keeping the last token", self.what, self.path, _reason(exc))
            self._failing = True
            return self._token
        self._read_at = now
        if self._failing:
            log.info("%s %s readable again", self.what, self.path)
        self._failing = False
        return self._token

    def _unchanged(self) -> bool:
        return _signature(os.stat(self.path)) == self._signature

    def _read(self) -> tuple[str, tuple[int, int, int]]:
        with open(self.path, "rb") as handle:
            signature = _signature(os.fstat(handle.fileno()))
            data = handle.read(MAX_TOKEN_BYTES + 1)
        if len(data) > MAX_TOKEN_BYTES:
            raise ValueError(f"larger than {MAX_TOKEN_BYTES} bytes")
        token = data.decode("utf-8").strip()
        if not token:
            raise ValueError("empty")
        return token, signature


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_mtime_ns, stat.st_ino, stat.st_size


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a plugin returned: a token and/or a client certificate (PEM), and until when."""

    token: str = ""
    cert_pem: bytes = b""
    key_pem: bytes = b""
    expires_at: float | None = None


class ExecPlugin:
    """One ``users[].user.exec`` entry (client.authentication.k8s.io v1 or v1beta1), run
    non-interactively: stdin is empty and ``spec.interactive`` false."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        what: str,
        cluster_info: Mapping[str, Any],
        *,
        timeout_s: float = 60.0,
    ) -> None:
        self.what = what
        self.api_version = spec.get("apiVersion")
        if self.api_version not in EXEC_API_VERSIONS:
            raise ConfigError(
                f"{what}: exec apiVersion {self.api_version!r} not supported "
                f"(supported: {', '.join(EXEC_API_VERSIONS)})"
            )
        command = spec.get("command")
        if not isinstance(command, str) or not command:
            raise ConfigError(f"{what}: exec needs a command")
        self.argv = [command, *_strings(spec.get("args"), f"{what}: exec args")]
        self.env = _env(spec.get("env"), what)
        hint = spec.get("installHint")
        self.hint = hint.strip() if isinstance(hint, str) else ""
        mode = spec.get("interactiveMode") or "IfAvailable"
        if mode == "Always":
            raise ConfigError(
                f"{what}: exec plugin {command!r} has interactiveMode Always, but Daylight "
                "never runs a plugin interactively; use a plugin mode that needs no terminal"
            )
        if mode not in ("Never", "IfAvailable"):
            raise ConfigError(f"{what}: exec interactiveMode {mode!r} unknown")
        info: dict[str, Any] = {"interactive": False}
        if spec.get("provideClusterInfo") is True:
            info["cluster"] = dict(cluster_info)
        self.exec_info = json.dumps(
            {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": info}
        )
        self.timeout_s = timeout_s

    def run(self) -> ExecResult:
        """Run the plugin once; ConfigError saying why it gave no credential."""
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": self.exec_info}
        name = self.argv[0]
        try:
            proc = subprocess.run(
                self.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            hint = f"; {self.hint}" if self.hint else ""
            raise ConfigError(f"{self.what}: exec plugin {name!r} not found{hint}") from None
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(
                f"{self.what}: exec plugin {name!r} gave no answer within {self.timeout_s:g}s"
                f"{_stderr(exc.stderr)}"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{self.what}: exec plugin {name!r} could not run: {_reason(exc)}"
            ) from None
        if proc.returncode != 0:
            status = (
                f"was killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exited with status {proc.returncode}"
            )
            raise ConfigError(f"{self.what}: exec plugin {name!r} {status}{_stderr(proc.stderr)}")
        return self._parse(proc.stdout, proc.stderr)

    def _parse(self, stdout: bytes, stderr: bytes) -> ExecResult:
        name = self.argv[0]
        try:
            doc = json.loads(stdout)
        except ValueError as exc:
            raise ConfigError(
                f"{self.what}: exec plugin {name!r} printed no JSON ExecCredential "
                f"({type(exc).__name__} at byte {getattr(exc, 'pos', 0)}){_stderr(stderr)}"
            ) from None
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
            raise ConfigError(f"{self.what}: exec plugin {name!r} printed no ExecCredential")
        if doc.get("apiVersion") != self.api_version:
            raise ConfigError(
                f"{self.what}: exec plugin {name!r} answered in {doc.get('apiVersion')!r}, "
                f"configured for {self.api_version!r}"
            )
        status = doc.get("status")
        if not isinstance(status, dict):
            raise ConfigError(f"{self.what}: exec plugin {name!r} returned no status")
        return self._result(status)

    def _result(self, status: Mapping[str, Any]) -> ExecResult:
        name = self.argv[0]
        fields = {}
        for key in ("token", "clientCertificateData", "clientKeyData", "expirationTimestamp"):
            value = status.get(key) or ""
            if not isinstance(value, str):
                raise ConfigError(f"{self.what}: exec plugin {name!r}: status.{key} not a string")
            fields[key] = value
        cert, key = fields["clientCertificateData"], fields["clientKeyData"]
        if bool(cert) != bool(key):
            raise ConfigError(
                f"{self.what}: exec plugin {name!r} returned a client certificate without "
                "its key, or a key without its certificate"
            )
        if not fields["token"] and not cert:
            raise ConfigError(
                f"{self.what}: exec plugin {name!r} returned neither a token nor a certificate"
            )
        expires_at = None
        if fields["expirationTimestamp"]:
            expires_at = parse_rfc3339(fields["expirationTimestamp"])
            if expires_at is None:
                raise ConfigError(
                    f"{self.what}: exec plugin {name!r}: unreadable status.expirationTimestamp"
                )
        return ExecResult(fields["token"], cert.encode(), key.encode(), expires_at)


class ExecCredential:
    """An exec plugin's credential, cached until shortly before ``expirationTimestamp`` (a
    credential without one is kept for good). The first run happens here and must succeed;
    a failed refresh is logged, the last credential kept and the plugin retried later."""

    MARGIN_S = 10.0  # refresh this early (at most half the lifetime), not mid-request
    RETRY_S = 10.0  # after a failed refresh
    MIN_INTERVAL_S = 1.0  # however short-lived the credential, at most one run a second

    def __init__(self, plugin: ExecPlugin, on_certificate: Callable[[bytes, bytes], None]) -> None:
        self._plugin = plugin
        self._on_certificate = on_certificate
        self.runs = 0
        self._result = ExecResult()
        self._refresh_at: float | None = None
        self._take(self._run())

    def token(self) -> str:
        if self._refresh_at is not None and wall_clock() >= self._refresh_at:
            self._refresh()
        return self._result.token

    def _run(self) -> ExecResult:
        self.runs += 1
        return self._plugin.run()

    def _take(self, result: ExecResult) -> None:
        if result.cert_pem and result.cert_pem != self._result.cert_pem:
            self._on_certificate(result.cert_pem, result.key_pem)
        self._result = result
        now = wall_clock()
        if result.expires_at is None:
            self._refresh_at = None
            return
        margin = min(self.MARGIN_S, max(0.0, (result.expires_at - now) / 2))
        self._refresh_at = max(result.expires_at - margin, now + self.MIN_INTERVAL_S)

    def _refresh(self) -> None:
        try:
            self._take(self._run())
        except ConfigError as exc:
            log.error("refreshing the credential failed, keeping the last one: %s", exc)
            self._refresh_at = wall_clock() + self.RETRY_S


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a list of strings")
    return list(value)


def _env(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    env = {}
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                break
            env[item["name"]] = str(item.get("value") or "")
        else:
            return env
    raise ConfigError(f"{what}: exec env must be a list of {{name, value}}")


def _stderr(data: bytes | str | None) -> str:
    if not data:
        return ""
    raw = data.encode() if isinstance(data, str) else data
    text = raw[:STDERR_LIMIT].decode("utf-8", "replace").strip()
    return f": {text}" if text else ""


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
