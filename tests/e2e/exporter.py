"""Run ``daylight`` the way a user does: as a separate process, against the real control plane.

``Exporter`` starts ``daylight run --kubeconfig K --listen 127.0.0.1:PORT [args]`` and waits for
``/readyz``; it reads ``/metrics`` and ``/api/v1/dora``, can be killed with SIGKILL and started
again with the same arguments (and so the same ``--state-file``)::

    with Exporter(cp.kubeconfig, "--degraded-after", "10s", logdir=cp.logdir) as exp:
        ...
        exp.wait_for(lambda: exp.sample("dora_failure_active", namespace=ns) == 1, 30, "failing")

On leaving the ``with`` block the process is stopped (SIGTERM, then SIGKILL); when the block
is left by an exception (a failed assertion) the tail of its stderr is printed, which pytest
shows with the failure. ``Recorder`` does the same for ``daylight record``.

The exporter watches the whole cluster: filter every assertion to the test's namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tests.cluster.controlplane import ControlPlane

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]


def daylight_binary() -> Path:
    """The ``daylight`` entry point of the environment running the tests."""
    candidates = (Path(sys.executable).parent / "daylight", REPO / ".venv" / "bin" / "daylight")
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no 'daylight' executable next to the test interpreter or in .venv/bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- exposition

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample line of a Prometheus text exposition."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, raw_labels, value = match.groups()
        labels = {k: _unescape(v) for k, v in _LABEL.findall(raw_labels or "")}
        yield name, labels, float(value)


def select(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Samples called ``name`` whose labels include ``labels``."""
    return [
        (have, value)
        for got, have, value in parse_samples(text)
        if got == name and all(have.get(k) == v for k, v in labels.items())
    ]


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` matching ``labels``; None if there is none."""
    found = select(text, name, **labels)
    if not found:
        return None
    if len(found) > 1:
        raise AssertionError(f"{name}{labels} matches {len(found)} series: {found}")
    return found[0][1]


# ---------------------------------------------------------------------------- processes

#: Loopback HTTP without any proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def child_environment() -> dict[str, str]:
    """The test's environment without DAYLIGHT_* variables (every flag is given explicitly:
    a variable meant for the test run must not change the exporter's configuration)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DAYLIGHT_")}


class _Process:
    """A ``daylight`` subcommand as a child process, its stderr in a log file."""

    name = "daylight"

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log = log
        self.env = env or {}
        self.popen: subprocess.Popen[bytes] | None = None
        self._reported = False

    def _spawn(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            handle.write(f"# {' '.join(self.argv)}\n".encode())
            handle.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env={**child_environment(), **self.env},
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with code {self.popen.returncode}:\n{self.stderr_tail()}"
            )

    def stderr_tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)

    def kill9(self) -> None:
        """SIGKILL: no clean shutdown, no last save of the state file."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean stop), SIGKILL if it takes longer than ``timeout``."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def _finish(self, failed: bool) -> None:
        self.terminate()
        if failed and not self._reported:
            self._reported = True
            print(f"\n===== {self.name} stderr (last lines of {self.log})\n{self.stderr_tail(60)}")


class Exporter(_Process):
    """``daylight run`` against a kubeconfig on a free loopback port."""

    def __init__(
        self,
        kubeconfig: Path | str,
        *args: str,
        state_file: Path | str | None = None,
        name: str = "exporter",
        logdir: Path | str | None = None,
        ready_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"daylight run ({name})"
        self.state_file = Path(state_file) if state_file is not None else None
        self.ready_timeout = ready_timeout
        argv = [str(daylight_binary()), "run", "--kubeconfig", str(kubeconfig)]
        argv += ["--listen", f"127.0.0.1:{self.port}", "--traces", "off"]
        if (
            "--otlp-listen" not in args
        ):  # never the default 0.0.0.0:4318: exporters run side by side
            argv += ["--otlp-listen", "127.0.0.1:0"]
        if self.state_file is not None:
            argv += ["--state-file", str(self.state_file)]
        argv += list(args)
        directory = Path(logdir) if logdir is not None else Path(tempfile.mkdtemp())
        super().__init__(argv, directory / f"daylight-{name}-{self.port}.log", env)
        self.starts = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Exporter:
        self._spawn()
        self.starts += 1
        self.wait_ready()
        return self

    def restart(self) -> Exporter:
        """Start again with the same arguments, port and state file (stopping it if needed)."""
        self.terminate()
        return self.start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            self.check_alive()
            try:
                with _HTTP.open(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} not ready after {self.ready_timeout:.0f}s:\n{self.stderr_tail()}"
                )
            time.sleep(0.1)

    def __enter__(self) -> Exporter:
        try:
            return self.start()
        except BaseException:
            self._finish(failed=True)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(failed=exc is not None)

    # -- reading -----------------------------------------------------------------------------

    def get(self, path: str) -> bytes:
        self.check_alive()
        with _HTTP.open(self.url + path, timeout=10) as r:
            data: bytes = r.read()
            return data

    def metrics(self) -> str:
        return self.get("/metrics").decode()

    def samples(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return select(self.metrics(), name, **labels)

    def sample(self, name: str, **labels: str) -> float | None:
        """The value of the one series of ``name`` matching ``labels``; None if there is none."""
        return value(self.metrics(), name, **labels)

    def report(self, window: str = "30d") -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.get(f"/api/v1/dora?window={window}"))
        return report

    def app_deployments(self, namespace: str, window: str = "30d") -> list[dict[str, Any]]:
        return deployments_in(self.report(window), namespace)

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 30.0, description: str = ""
    ) -> T:
        """Poll ``predicate`` (exceptions count as not yet) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            self.check_alive()
            try:
                result = predicate()
            except (AssertionError, KeyError, IndexError, OSError, ValueError) as exc:
                result, last = None, exc
            else:
                last = result
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: timed out after {timeout:.0f}s waiting for "
                    f"{description or predicate!r}; last: {last!r}"
                )
            time.sleep(0.25)


class Recorder(_Process):
    """``daylight record FILE``: the cluster's watch events as an event log, until stopped."""

    def __init__(self, kubeconfig: Path | str, path: Path, *, logdir: Path | str) -> None:
        self.name = "daylight record"
        self.path = path
        argv = [str(daylight_binary()), "record", str(path), "--kubeconfig", str(kubeconfig)]
        log = Path(logdir) / f"daylight-record-{path.stem}-{uuid.uuid4().hex[:6]}.log"
        super().__init__(argv, log)

    def __enter__(self) -> Recorder:
        self._spawn()
        deadline = time.monotonic() + 60
        while "now watching" not in self.log.read_text(errors="replace"):
            self.check_alive()
            if time.monotonic() > deadline:
                self._finish(failed=True)
                raise AssertionError(f"daylight record did not start:\n{self.stderr_tail()}")
            time.sleep(0.1)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(failed=exc is not None)

    def stop(self) -> None:
        """SIGTERM: the recorder flushes and closes the file."""
        self.terminate()


# ------------------------------------------------------------------------- event logs


def filter_event_log(
    source: Path,
    target: Path,
    namespace: str,
    *,
    drop_kinds: Iterable[str] = (),
) -> int:
    """Copy the lines of ``source`` about ``namespace`` (its objects and the Namespace itself)
    to ``target``, leaving out ``drop_kinds``; returns the number of lines written."""
    dropped = set(drop_kinds)
    written = 0
    with source.open("rb") as src, target.open("wb") as dst:
        for line in src:
            if not line.strip():
                continue
            entry = json.loads(line)
            obj = entry.get("object") or {}
            kind = obj.get("kind", "")
            meta = obj.get("metadata") or {}
            if kind in dropped:
                continue
            ours = meta.get("namespace") == namespace or (
                kind == "Namespace" and meta.get("name") == namespace
            )
            if ours:
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                written += 1
    return written


def replay_report(path: Path, *args: str) -> dict[str, Any]:
    """``daylight report --replay PATH --format json [args]`` as a separate process."""
    argv = [str(daylight_binary()), "report", "--replay", str(path), "--format", "json", *args]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env=child_environment(),
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


# ------------------------------------------------------------------------------ reports


def deployments_in(report: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The report's app deployments in ``namespace``, in start order."""
    return [d for d in report["app_deployments"] if d["namespace"] == namespace]


def summary(deployment: dict[str, Any], *, times: bool = False) -> dict[str, Any]:
    """What two reports of the same events must agree on (times only when asked)."""
    out: dict[str, Any] = {
        "app": deployment["app"],
        "version": deployment["version"],
        "outcome": deployment["outcome"],
        "failure_reasons": sorted(deployment["failure_reasons"]),
        "rollback": deployment["rollback"],
        "restored": deployment["restored_at"] is not None,
        "rework": deployment["rework"],
        "workloads": [
            (w["kind"], w["name"], w["workload"], w["version"], w["outcome"], w["rollback"])
            for w in deployment["workloads"]
        ],
    }
    if times:
        out["times"] = [deployment["started_at"], deployment["finished_at"]]
    return out


def seconds(stamp: str) -> float:
    """An RFC 3339 time of the report as Unix seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def summaries(report: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    return [summary(d) for d in deployments_in(report, namespace)]


@contextlib.contextmanager
def all_stopped(*processes: _Process) -> Iterator[None]:
    """Stop every process on the way out, printing their stderr tails if the block failed."""
    try:
        yield
    except BaseException:
        for process in processes:
            process._finish(failed=True)
        raise
    for process in processes:
        process._finish(failed=False)


# ------------------------------------------------------------------------------ cluster

BEHAVIOR_ANNOTATION = "daylight.test/behavior"


def deployment(
    name: str,
    image: str,
    *,
    replicas: int = 2,
    labels: dict[str, str] | None = None,
    behavior: str | None = None,
    progress_deadline: int | None = None,
    min_ready_seconds: int | None = None,
) -> dict[str, Any]:
    """A Deployment selecting ``app: name``; ``labels`` go on the pod template too."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": pod_template(name, image, labels, behavior),
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    if min_ready_seconds is not None:
        spec["minReadySeconds"] = min_ready_seconds
    meta = {"name": name, "labels": {"app": name, **(labels or {})}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def pod_template(
    name: str, image: str, labels: dict[str, str] | None = None, behavior: str | None = None
) -> dict[str, Any]:
    annotations = {BEHAVIOR_ANNOTATION: behavior} if behavior else {}
    return {
        "metadata": {"labels": {"app": name, **(labels or {})}, "annotations": annotations},
        "spec": {"containers": [{"name": name, "image": image}]},
    }


def run_in_parallel(scenarios: dict[str, Callable[[], None]]) -> None:
    """Run each scenario in its own thread; fail with every scenario's error, by name."""
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    errors: list[str] = []
    started = time.monotonic()

    def timed(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        finally:
            print(f"scenario {name}: {time.monotonic() - started:.1f}s")

    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        futures = {name: pool.submit(timed, name, fn) for name, fn in scenarios.items()}
        for name, future in futures.items():
            exc = future.exception()
            if exc is not None:
                trace = "".join(traceback.format_exception(exc))
                errors.append(f"----- scenario {name!r} failed:\n{trace}")
    if errors:
        raise AssertionError("\n".join(errors))


class KubeNamespace:
    """A namespace of one scenario and the kubectl calls made in it."""

    def __init__(self, cp: ControlPlane, prefix: str) -> None:
        self.cp = cp
        self.name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        cp.kubectl("create", "namespace", self.name)
        cp.wait_for_service_account(self.name)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cp.kubectl("-n", self.name, *args, check=check)

    def apply(self, *objects: dict[str, Any]) -> None:
        """``kubectl apply`` of the objects in one call (created together)."""
        items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        self.cp.kubectl("apply", "-n", self.name, "-f", "-", input=json.dumps(items))

    def rollout_status(self, ref: str, timeout: int = 60) -> None:
        self.cp.kubectl(
            "-n", self.name, "rollout", "status", ref, f"--timeout={timeout}s", timeout=timeout + 10
        )

    def get(self, *args: str) -> Any:
        return self.cp.kubectl_json("-n", self.name, "get", *args)

    def delete(self) -> None:
        self.cp.kubectl("delete", "namespace", self.name, "--wait=false", check=False)
