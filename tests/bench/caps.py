"""Scrape and report at 20,000 apps with the default caps, and what /healthz feels meanwhile.

    .venv/bin/python -m tests.bench.caps [--apps 20000] [--json]

Builds a model of N one-Deployment apps plus one app of 100 workloads (each with a
deployment in history and one watched live, tests/unit/test_caps.py), serves it through the
real HTTP app (objects frozen out of the collector's sight, as the runtime does after its
start-up sync), and measures: the first and a steady /metrics scrape (series, bytes, time),
one GET /api/v1/dora page of 5,000 apps, and /healthz latency (p50, p99, max) polled every
5 ms while each of those two runs. The baseline is /healthz on the idle server, measured in
the same run. Figures go to tests/bench/results/caps.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from aiohttp import test_utils

from exporter.app.pipeline import settle_memory
from exporter.model.engine import DoraModel
from exporter.outputs import selfmetrics
from exporter.outputs.http import HttpApi
from exporter.outputs.metrics import MetricsRenderer
from tests.unit.test_caps import LATER, populate, samples

RESULTS = Path(__file__).resolve().parent / "results" / "caps.json"


async def _latencies(client: Any, during: Any) -> tuple[dict[str, float], float, Any]:
    stop = False
    waits: list[float] = []

    async def poll() -> None:
        while not stop:
            started = time.perf_counter()
            async with client.get("/healthz") as response:
                await response.read()
            waits.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)

    poller = asyncio.create_task(poll())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    result = await during()
    took = time.perf_counter() - started
    stop = True
    await poller
    waits.sort()
    figures = {
        "p50_ms": round(statistics.median(waits), 2),
        "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 2),
        "max_ms": round(waits[-1], 2),
        "samples": len(waits),
    }
    return figures, took, result


async def measure(apps: int) -> dict[str, Any]:
    model = DoraModel()
    built = time.perf_counter()
    populate(model, apps)
    built = time.perf_counter() - built
    settle_memory()  # as the runtime does after its start-up sync
    renderer = MetricsRenderer(model)
    registry = selfmetrics.build_registry([selfmetrics.Cardinality(renderer)], process=False)
    api = HttpApi(model, renderer, registry, lambda: (True, []), clock=lambda: LATER)
    client = test_utils.TestClient(test_utils.TestServer(api.app()))
    await client.start_server()
    try:
        idle, _, _ = await _latencies(client, lambda: asyncio.sleep(0.5))

        async def scrape() -> bytes:
            async with client.get("/metrics") as response:
                return await response.read()

        async def report() -> bytes:
            async with client.get("/api/v1/dora", params={"limit": "5000"}) as response:
                return await response.read()

        first, first_s, body = await _latencies(client, scrape)
        steady, steady_s, _ = await _latencies(client, scrape)
        during_report, report_s, page = await _latencies(client, report)
    finally:
        await client.close()
    return {
        "benchmark": "caps",
        "apps": len(model.apps),
        "model_build_s": round(built, 2),
        "scrape": {
            "series": len(samples(body)),
            "bytes": len(body),
            "dropped_apps": renderer.dropped_apps,
            "dropped_series": renderer.dropped_series,
            "first_s": round(first_s, 3),
            "steady_ms": round(steady_s * 1000, 2),
        },
        "report_page": {"apps": 5000, "bytes": len(page), "s": round(report_s, 3)},
        "healthz_ms": {
            "idle": idle,
            "during_first_scrape": first,
            "during_steady_scrape": steady,
            "during_report": during_report,
        },
        "targets": {
            "series_lt_50000": len(samples(body)) < 50_000,
            "bytes_lt_10mb": len(body) < 10 * 1024 * 1024,
            "healthz_max_lt_100ms_during_report": during_report["max_ms"] < 100,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=20_000, help="one-Deployment apps")
    parser.add_argument("--json", action="store_true", help="print the JSON result")
    args = parser.parse_args()
    result = asyncio.run(measure(args.apps))
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        s, h = result["scrape"], result["healthz_ms"]
        print(
            f"{result['apps']} apps: scrape {s['series']} series, {s['bytes']} bytes, "
            f"first {s['first_s']} s, steady {s['steady_ms']} ms; /healthz max "
            f"{h['during_report']['max_ms']} ms during a 5000-app report page "
            f"(idle p50 {h['idle']['p50_ms']} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
