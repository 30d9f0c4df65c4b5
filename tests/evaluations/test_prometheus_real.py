"""Evaluations against a real Prometheus (the Debian package) loaded with recorded data.

The data is backfilled with ``promtool tsdb create-blocks-from openmetrics`` (the last 50
minutes of two gauges, one sample every 15 s, ending when the fixture starts) into a fresh
TSDB that Prometheus then serves on loopback: pass, fail, no data and a query error, through
KeptnMetrics and inline queries, instant and range.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from exporter.checks.keptn import NamespaceGate
from exporter.checks.records import CheckLedger, CheckOutcome, CheckStats
from exporter.evaluations.engine import EvaluationConfig, EvaluationRunner
from exporter.events.objects import KeptnObject
from exporter.model.engine import DoraModel

NS = "shop"
SERIES = {"checkout_error_ratio": 0.001, "checkout_latency_p99_seconds": 0.8}


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        pytest.fail(f"{name} not found: install Debian's prometheus package")
    return path


def recorded(path: Path, now: int) -> Path:
    lines = []
    for name, value in SERIES.items():
        lines.append(f"# TYPE {name} gauge")
        for index, t in enumerate(range(now - 3000, now + 1, 15)):
            # the latency falls over the hour: a range query sees more than the last value
            sample = value * (2.0 - index / 200) if "latency" in name else value
            lines.append(f'{name}{{app="checkout"}} {sample:.6f} {t}')
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("prometheus")
    data = work / "data"
    source = recorded(work / "recorded.om", int(time.time()))
    subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("prometheus did not come up:\n" + (work / "prometheus.log").read_text())
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def obj(kind: str, name: str, spec: dict[str, Any]) -> KeptnObject:
    body = {"kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec}
    return msgspec.json.decode(json.dumps(body), type=KeptnObject)


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def r(prometheus: str) -> AsyncIterator[EvaluationRunner]:
    evaluations = runner(prometheus)
    yield evaluations
    await evaluations.client.close()


def runner(prometheus: str) -> EvaluationRunner:
    r = EvaluationRunner(
        DoraModel(),
        NamespaceGate([NS]),
        CheckLedger(),
        CheckStats(),
        EvaluationConfig(definition_grace_s=0),
        sleep=no_sleep,
    )
    objects = [
        obj(
            "KeptnMetricsProvider", "prometheus", {"type": "prometheus", "targetServer": prometheus}
        ),
        obj(
            "KeptnMetric",
            "error-ratio",
            {"provider": {"name": "prometheus"}, "query": 'checkout_error_ratio{app="checkout"}'},
        ),
        obj(
            "KeptnMetric",
            "latency-peak",
            {
                "provider": {"name": "prometheus"},
                "query": "checkout_latency_p99_seconds",
                "range": {"interval": "40m", "step": "1m", "aggregation": "max"},
            },
        ),
        obj(
            "KeptnEvaluationDefinition",
            "error-budget",
            {
                "objectives": [
                    {"keptnMetricRef": {"name": "error-ratio"}, "evaluationTarget": "<0.01"}
                ],
                "retries": 1,
                "retryInterval": "0",
            },
        ),
        obj(
            "KeptnEvaluationDefinition",
            "fast-enough",
            {
                "source": "prometheus",
                "retries": 1,
                "retryInterval": "0",
                "objectives": [
                    {
                        "name": "p99",
                        "query": "checkout_latency_p99_seconds",
                        "evaluationTarget": "<=0.5",
                    }
                ],
            },
        ),
        obj(
            "KeptnEvaluationDefinition",
            "peak",
            {
                "objectives": [
                    {"keptnMetricRef": {"name": "latency-peak"}, "evaluationTarget": "1..2"}
                ],
                "retries": 0,
                "retryInterval": "0",
            },
        ),
        obj(
            "KeptnEvaluationDefinition",
            "no-data",
            {
                "source": "prometheus",
                "retries": 1,
                "retryInterval": "0",
                "objectives": [
                    {"query": 'checkout_error_ratio{app="nonexistent"}', "evaluationTarget": "<1"}
                ],
            },
        ),
        obj(
            "KeptnEvaluationDefinition",
            "broken-query",
            {
                "source": "prometheus",
                "retries": 1,
                "retryInterval": "0",
                "objectives": [{"query": "sum(checkout_error_ratio", "evaluationTarget": "<1"}],
            },
        ),
    ]
    for o in objects:
        r.observe(o, False)
    return r


async def test_pass(r: EvaluationRunner) -> None:
    verdict = await r.evaluate(NS, "error-budget")
    assert verdict.outcome == CheckOutcome.SUCCEEDED, verdict
    assert verdict.values == {"error-ratio": pytest.approx(0.001)}


async def test_fail(r: EvaluationRunner) -> None:
    verdict = await r.evaluate(NS, "fast-enough")
    assert (verdict.outcome, verdict.reason, verdict.attempts) == (
        CheckOutcome.FAILED,
        "objective_failed",
        2,
    )
    assert verdict.values["p99"] > 0.5


async def test_range_aggregation(r: EvaluationRunner) -> None:
    verdict = await r.evaluate(NS, "peak")
    assert verdict.outcome == CheckOutcome.SUCCEEDED, verdict
    assert 1.0 <= verdict.values["latency-peak"] <= 2.0  # the peak, not the latest value


async def test_no_data(r: EvaluationRunner) -> None:
    verdict = await r.evaluate(NS, "no-data")
    assert (verdict.outcome, verdict.reason) == (CheckOutcome.FAILED, "no_data")
    assert r.stats.queries == {"no_data": 2}


async def test_query_error(r: EvaluationRunner) -> None:
    verdict = await r.evaluate(NS, "broken-query")
    assert (verdict.outcome, verdict.reason) == (CheckOutcome.FAILED, "query_error")
    assert "bad_data" in verdict.message and "parse error" in verdict.message
