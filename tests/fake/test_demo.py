"""`daylight demo` as a newcomer runs it, and record -> replay against the simulated cluster."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kubesim import SimCluster

DAYLIGHT = [sys.executable, "-m", "exporter.app.cli"]
pytestmark = pytest.mark.timeout(120)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def test_demo_serves_dora_metrics_within_60_seconds() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*DAYLIGHT, "demo", "--listen", "127.0.0.1:0", "--interval", "1s", "--refresh", "5s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    started = time.monotonic()
    try:
        assert process.stdout is not None
        url = ""
        while not url:
            line = process.stdout.readline()
            assert line, f"demo exited: {process.stderr.read() if process.stderr else ''}"
            found = re.search(r"metrics: (http://\S+/metrics)", line)
            url = found.group(1) if found else ""
        text = ""
        while time.monotonic() - started < 60:
            text = get(url)
            if "dora_deployments_total{" in text and "dora_deployment_frequency_per_day{" in text:
                break
            time.sleep(1)
        assert "dora_deployments_total{" in text, "no deployments counted within 60 s"
        assert 'window="30d"' in text
        assert get(url.replace("/metrics", "/readyz")) == "ok\n"
        report = json.loads(get(url.replace("/metrics", "/api/v1/dora")))
        assert len(report["apps"]) >= 5  # 30 days of history from the first second
        assert 'daylight_informer_synced{resource="deployments"} 1.0' in text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0


async def test_record_then_replay_gives_the_same_report(tmp_path: Path) -> None:
    sim = SimCluster(seed=3, live_interval_s=0.5, bookmark_interval_s=0.5)
    url = await sim.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
        f"clusters: [{{name: sim, cluster: {{server: '{url}'}}}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: sim, context: {cluster: sim, user: u}}]\n"
    )
    log = tmp_path / "events.jsonl"
    try:  # subprocesses run beside the in-process simulated cluster, never blocking its loop
        record = await asyncio.create_subprocess_exec(
            *DAYLIGHT, "record", str(log), "--kubeconfig", str(kubeconfig), "--duration", "8s",
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip  # a table
        _, record_err = await asyncio.wait_for(record.communicate(), 60)
        assert record.returncode == 0, record_err.decode()
        live = await asyncio.create_subprocess_exec(
            *DAYLIGHT, "report", "--kubeconfig", str(kubeconfig), "--format", "json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip  # a table
        live_out, live_err = await asyncio.wait_for(live.communicate(), 60)
        assert live.returncode == 0, live_err.decode()
    finally:
        await sim.stop()
    lines = log.read_text().splitlines()
    assert len(lines) > 100
    first = json.loads(lines[0])
    assert first["type"] == "ADDED" and first["object"]["apiVersion"]  # as the API serves it
    replayed = subprocess.run(
        [*DAYLIGHT, "report", "--replay", str(log), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replayed.returncode == 0, replayed.stderr
    apps = {(a["namespace"], a["app"]) for a in json.loads(replayed.stdout)["apps"]}
    assert apps == {(a["namespace"], a["app"]) for a in json.loads(live_out)["apps"]}
