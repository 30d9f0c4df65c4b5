"""`daylight launcher`'s flags and its HTTP port (/metrics, /healthz, /readyz)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from exporter.app.cli import build_parser
from exporter.app.launcher import Launcher, config_from, http_app
from exporter.kube.config import ClusterAccess
from kubesim import SimCluster


def test_flags_become_the_configuration() -> None:
    args = build_parser().parse_args(
        ["launcher", "--allowed-namespaces", "team-a, team-b", "--catch-up-window", "10m",
         "--python-runtime-image", "registry.example/py:2", "--task-events", "off",
         "--max-task-timeout", "2h"]
    )  # fmt: skip  # a table
    config, model = config_from(args)
    assert config.allowed_namespaces == ("team-a", "team-b")
    assert config.catch_up_window_s == 600.0 and config.limits.min_ttl_s == 600
    assert config.images.python == "registry.example/py:2"
    assert config.images.deno.startswith("ghcr.io/keptn/deno-runtime")
    assert config.events is False and config.limits.max_timeout_s == 7200.0
    assert model.default_environment == "production"  # shared flags at their defaults


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, nodes=1)
    await cluster.start()
    yield cluster
    await cluster.stop()


async def test_http_port(sim: SimCluster) -> None:
    launcher = Launcher(ClusterAccess.plain(sim.url))
    runner = web.AppRunner(http_app(launcher))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/readyz") as response:
                assert response.status == 503  # not synced yet
            await launcher.start()
            async with http.get(url + "/readyz") as response:
                assert response.status == 200
            async with http.get(url + "/healthz") as response:
                assert response.status == 200
            async with http.get(url + "/metrics") as response:
                text = await response.text()
        for family in (
            'daylight_build_info{mode="launcher"',
            'daylight_launcher_jobs_created_total{phase="post"} 0.0',
            'daylight_tasks_total{outcome="failed",phase="post"} 0.0',
            'daylight_informer_synced{resource="jobs"} 1.0',
            "daylight_launcher_pending 0.0",
            "process_",
        ):
            assert family in text, family
        assert "daylight_evaluations_total" not in text  # evaluations run in the exporter
    finally:
        await launcher.stop()
        await runner.cleanup()
