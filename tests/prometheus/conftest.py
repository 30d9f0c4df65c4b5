"""A real Prometheus on loopback scraping real Daylight processes, for the dashboard tests.

The stack (module-scoped, ~10 s to start):
- ``daylight replay`` of tests/prometheus/data.py's log, first up to ``SPLIT`` and then, on the
  same port, the whole log: the counters grow between the two, like an exporter watching new
  deployments, so ``increase()`` has something to find;
- ``daylight run`` against the simulated cluster (tests/prometheus/simapi.py): live
  informers, so every
  ``daylight_*`` self-metric has real values;
- Prometheus 2.x (Debian package) scraping both every second, plus itself (a non-Daylight
  target with ``process_*`` metrics), all under job names no rule or dashboard knows, with
  alerts/*.rules.yml loaded (group intervals shortened to the global 1 s).

Every process is terminated (then killed) at teardown. Nothing is skipped: a missing
``prometheus`` binary or a process that does not come up fails the tests.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus.data import build_dora_log, cluster_objects, split_log

ROOT = Path(__file__).resolve().parents[2]
DAYLIGHT = ROOT / ".venv" / "bin" / "daylight"
RULE_FILES = (ROOT / "alerts" / "daylight.rules.yml", ROOT / "alerts" / "optional.rules.yml")
REPLAY_JOB = "scrape-pool-a"  # deliberately not "daylight": nothing may depend on job names
RUN_JOB = "scrape-pool-b"
SELF_JOB = "prometheus-itself"
START_TIMEOUT_S = 40.0


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        pytest.fail(
            f"{name} not found: install Debian's prometheus package (tests/run-all.sh does)"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    cmd: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self, *, stdout_pipe: bool = False) -> Proc:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else handle,
            stderr=handle,
        )
        handle.close()
        return self

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({' '.join(self.cmd[:3])} …) log tail:\n{text[-3000:]}"


@dataclass
class Stack:
    url: str
    replay_instance: str
    run_instance: str
    started: float
    procs: list[Proc] = field(default_factory=list)

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        if data["resultType"] == "scalar":
            result = [{"metric": {}, "value": data["result"]}]
        return result

    def query_range(self, expr: str, step_s: float = 2.0) -> list[dict[str, Any]]:
        now = time.time()
        data = self.api(
            "/api/v1/query_range",
            query=expr,
            start=f"{self.started:.3f}",
            end=f"{now:.3f}",
            step=f"{step_s}",
        )
        result: list[dict[str, Any]] = data["result"]
        return result

    def logs(self) -> str:
        return "\n".join(proc.tail() for proc in self.procs)


def wait_for(
    what: str,
    check: Callable[[], bool],
    stack: Stack | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, AssertionError, KeyError, ValueError) as exc:
            last_error = f" (last error: {exc})"
        time.sleep(0.25)
    logs = stack.logs() if stack else ""
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}{last_error}\n{logs}")


def fast_rules(target: Path) -> list[Path]:
    """The rule files with group intervals dropped, so they evaluate every (global) second."""
    out = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            group.pop("interval", None)
        copy = target / path.name
        copy.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(copy)
    return out


def read_ready_line(proc: Proc, timeout_s: float = 20.0) -> str:
    assert proc.popen is not None and proc.popen.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.popen.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.popen.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            if b"\n" in buffer:
                line = buffer.split(b"\n", 1)[0].decode()
                if line.startswith("ready "):
                    return line.split(" ", 1)[1]
    pytest.fail(f"{proc.name} did not come up: {buffer!r}\n{proc.tail()}")


def kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = binary("prometheus")
    if not DAYLIGHT.exists():
        pytest.fail(f"{DAYLIGHT} missing: run `make venv` first")
    tmp = tmp_path_factory.mktemp("prometheus-stack")
    early, full = split_log(build_dora_log())
    early_path, full_path = early.write(tmp / "early.jsonl"), full.write(tmp / "full.jsonl")
    (tmp / "objects.json").write_text(json.dumps(cluster_objects()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYLIGHT_")}

    replay_port, run_port, prom_port = free_port(), free_port(), free_port()
    stack = Stack(
        url=f"http://127.0.0.1:{prom_port}",
        replay_instance=f"127.0.0.1:{replay_port}",
        run_instance=f"127.0.0.1:{run_port}",
        started=time.time(),
    )

    def replay(path: Path, name: str) -> Proc:
        cmd = [str(DAYLIGHT), "replay", str(path), "--listen", stack.replay_instance]
        proc = Proc(name, cmd, tmp / f"{name}.log", env)
        stack.procs.append(proc)
        return proc.start()

    try:
        api = Proc(
            "simulated API server",
            [sys.executable, "-m", "tests.prometheus.simapi", str(tmp / "objects.json")],
            tmp / "simapi.log",
            env,
        )
        stack.procs.append(api)
        api_url = read_ready_line(api.start(stdout_pipe=True))
        run_cmd = [
            str(DAYLIGHT),
            "run",
            "--kubeconfig",
            str(kubeconfig(tmp / "kubeconfig", api_url)),
            "--listen",
            stack.run_instance,
            "--otlp-listen",
            "127.0.0.1:0",  # not the default 4318: test sessions may run side by side
        ]
        stack.procs.append(Proc("daylight run", run_cmd, tmp / "run.log", env).start())
        first = replay(early_path, "daylight replay (early)")

        rules = fast_rules(tmp)
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "900ms",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(path) for path in rules],
            "scrape_configs": [
                {"job_name": REPLAY_JOB, "static_configs": [{"targets": [stack.replay_instance]}]},
                {"job_name": RUN_JOB, "static_configs": [{"targets": [stack.run_instance]}]},
                {"job_name": SELF_JOB, "static_configs": [{"targets": [f"127.0.0.1:{prom_port}"]}]},
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_cmd = [
            prometheus,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address={stack.url.removeprefix('http://')}",
            "--log.level=warn",
        ]
        stack.procs.append(Proc("prometheus", prom_cmd, tmp / "prometheus.log", env).start())

        def ready() -> bool:
            with urllib.request.urlopen(f"{stack.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        wait_for("Prometheus to be ready", ready, stack)
        replay_sel = f'{{instance="{stack.replay_instance}"}}'
        wait_for(
            "three scrapes of the early replay",
            lambda: bool(stack.query(f"count_over_time(daylight_build_info{replay_sel}[1m]) >= 3")),
            stack,
        )
        first.stop()
        replay(full_path, "daylight replay (full)")
        wait_for(
            "the full replay's counters to show an increase",
            lambda: bool(
                stack.query(f"sum(increase(dora_app_deployments_total{replay_sel}[1m])) > 0")
            ),
            stack,
        )
        run_sel = f'{{instance="{stack.run_instance}"}}'
        wait_for(
            "watch events and restarts of `daylight run`",
            lambda: bool(
                stack.query(f"sum(rate(daylight_watch_events_total{run_sel}[1m])) > 0")
                and stack.query(f"sum(increase(daylight_watch_restarts_total{run_sel}[1m])) > 0")
            ),
            stack,
        )
        wait_for(
            "the recording rules",
            lambda: bool(stack.query("environment_key_level:dora_apps:count")),
            stack,
        )
        time.sleep(3)  # a few more scrapes of the full replay for rate()
        yield stack
    finally:
        for proc in reversed(stack.procs):
            proc.stop()
