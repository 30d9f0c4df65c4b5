"""A real OpenTelemetry Collector for the trace tests (built by tests/otel/build).

``otelcol_binary`` (session scope) is the collector built by ``tests/otel/build`` — run once
after collection, before any test, when a selected test needs it (a no-op on a cache hit), so
a cold build (a few minutes) does not count against a test's timeout. A failed build is a test
failure, never a skip.

``otelcol`` (function scope) runs that collector on loopback: an OTLP/HTTP receiver on a free
port, the file exporter writing OTLP JSON lines to a temporary file, no other listener.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUILD = Path(__file__).resolve().parents[1] / "otel" / "build"

_BINARY = pytest.StashKey[Path]()
_BUILD_ERROR = pytest.StashKey[str]()


def build_collector() -> Path:
    """Run tests/otel/build; its last stdout line is the binary. Raises on failure."""
    done = subprocess.run(
        ["bash", str(BUILD)], capture_output=True, text=True, timeout=3000, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"tests/otel/build exited {done.returncode}\n--- stderr (tail) ---\n"
            + "\n".join(done.stderr.splitlines()[-40:])
        )
    binary = Path(done.stdout.strip().splitlines()[-1])
    if not binary.is_file():
        raise RuntimeError(f"tests/otel/build printed {binary}, which does not exist")
    return binary


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any("otelcol" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    started = time.monotonic()
    try:
        config.stash[_BINARY] = build_collector()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        config.stash[_BUILD_ERROR] = f"building the OpenTelemetry Collector failed:\n{exc}"
    elapsed = time.monotonic() - started
    if reporter is not None and elapsed > 2:
        reporter.write_line(f"OpenTelemetry Collector built in {elapsed:.0f} s")


@pytest.fixture(scope="session")
def otelcol_binary(request: pytest.FixtureRequest) -> Path:
    config = request.config
    error = config.stash.get(_BUILD_ERROR, "")
    binary = config.stash.get(_BINARY, None)
    if not error and binary is None:
        try:
            binary = build_collector()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            error = f"building the OpenTelemetry Collector failed:\n{exc}"
    if error or binary is None:
        pytest.fail(error or "no collector binary", pytrace=False)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Collector:
    endpoint: str  # OTLP/HTTP traces URL
    output: Path  # file exporter output: one ExportTraceServiceRequest (OTLP JSON) a line
    log: Path

    def spans(self) -> list[dict[str, Any]]:
        """Every span in the output, each with its resource attributes under ``resource``."""
        out: list[dict[str, Any]] = []
        if not self.output.exists():
            return out
        for line in self.output.read_text().splitlines():
            if not line.strip():
                continue
            for rs in json.loads(line).get("resourceSpans", []):
                resource = rs.get("resource", {}).get("attributes", [])
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        out.append({**span, "resource": resource, "scope": ss.get("scope", {})})
        return out

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        spans = self.spans()
        while len(spans) < count and time.monotonic() < deadline:
            time.sleep(0.1)
            spans = self.spans()
        return spans


@pytest.fixture
def otelcol(otelcol_binary: Path, tmp_path: Path) -> Iterator[Collector]:
    port = free_port()
    output = tmp_path / "traces.jsonl"
    config = tmp_path / "otelcol.yaml"
    # JSON is YAML: no YAML library needed to write the config.
    config.write_text(
        json.dumps(
            {
                "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
                "exporters": {
                    "file": {"path": str(output), "format": "json", "flush_interval": "100ms"}
                },
                "service": {
                    # no internal metrics listener (it would bind 0.0.0.0:8888)
                    "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
                    "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
                },
            },
            indent=2,
        )
    )
    log = tmp_path / "otelcol.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(otelcol_binary), "--config", f"file:{config}"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the collector exited {process.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the collector did not listen in 30 s:\n{log.read_text()}")
                time.sleep(0.05)
        yield Collector(f"http://127.0.0.1:{port}/v1/traces", output, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
