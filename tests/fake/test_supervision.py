"""A long-running task that dies is logged, counted, restarted, and /readyz tells the truth.

The exporter is wired as ``daylight run`` wires it (flags, runtime, HTTP port) against the
simulated cluster. A subscriber that raises on one object stands for a bug in event
handling: the exception leaves the pipeline inside the deployments informer's watch task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
import pytest

from exporter.app.cli import build_parser
from exporter.app.guard import Supervisor
from exporter.app.runtime import LiveRuntime
from exporter.app.serving import serve_exporter
from exporter.events.envelope import ObjectEvent
from exporter.kube.config import ClusterAccess
from exporter.model.engine import DoraModel
from exporter.model.facts import Fact
from exporter.outputs.http import bound_port
from kubesim import SimCluster


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": f"{name}:1.0"}]},
            },
        },
    }


class Bomb:
    """Raises once, on the event of the object called ``boom``."""

    def __init__(self) -> None:
        self.fired = 0

    def on_event(self, event: ObjectEvent, facts: Sequence[Fact]) -> None:
        if event.obj.metadata.name == "boom" and not self.fired:
            self.fired += 1
            raise RuntimeError("a bug in event handling")


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, nodes=1, controller_interval_s=0.05)
    await cluster.start()
    yield cluster
    await cluster.stop()


async def until(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return value


async def test_a_crashed_watch_is_logged_counted_restarted_and_readyz_says_so(
    sim: SimCluster, caplog: pytest.LogCaptureFixture
) -> None:
    args = build_parser().parse_args(["run", "--listen", "127.0.0.1:0"])
    model = DoraModel()
    supervisor = Supervisor(base_s=1.5, cap_s=1.5)  # a wide enough window to see /readyz fail
    runtime = LiveRuntime(ClusterAccess.plain(sim.url), model, supervisor=supervisor)
    bomb = Bomb()
    runtime.pipeline.subscribers.append(bomb)
    runtime.build_informers()
    runner = await serve_exporter(
        args,
        model=model,
        mode="run",
        ready=runtime.ready,
        informers=lambda: runtime.informers,
        supervisor=supervisor,
    )
    url = f"http://127.0.0.1:{bound_port(runner)}"
    caplog.set_level(logging.INFO, logger="daylight.tasks")
    async with aiohttp.ClientSession() as http:

        async def get(path: str) -> tuple[int, str]:
            async with http.get(url + path) as response:
                return response.status, await response.text()

        try:
            await runtime.start()
            assert (await get("/readyz"))[0] == 200
            sim.store.create("deployments", deployment("boom"))

            async def not_ready() -> str | None:
                status, body = await get("/readyz")
                return body if status == 503 else None

            body = await until("/readyz to fail", not_ready)
            assert "watch deployments" in body
            _, metrics = await get("/metrics")
            assert 'daylight_task_crashes_total{task="watch deployments"} 1.0' in metrics
            assert 'daylight_task_up{task="watch deployments"} 0.0' in metrics
            assert 'daylight_task_up{task="watch pods"} 1.0' in metrics
            crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
            assert len(crashed) == 1 and crashed[0].exc_info is not None
            assert "'watch deployments'" in crashed[0].getMessage()

            async def ready() -> bool:
                return (await get("/readyz"))[0] == 200

            await until("/readyz to pass again", ready)
            sim.store.create("deployments", deployment("after"))

            async def seen() -> bool:
                return any(t.key.name == "after" for t in model.workloads.values())

            await until("the watch to resume", seen)
            _, metrics = await get("/metrics")
            assert 'daylight_task_up{task="watch deployments"} 1.0' in metrics
            assert bomb.fired == 1
            assert any("restarted" in r.getMessage() for r in caplog.records)
        finally:
            await runtime.stop()
            await runner.cleanup()
