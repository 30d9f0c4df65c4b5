"""Fault hooks of the simulated API server, and its request counters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kubesim import SimCluster
from tests.fake.simwatch import watch

PODS = "/api/v1/pods"
DEPLOYMENTS = "/apis/apps/v1/deployments"


def pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }


def deployment(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
            },
        },
    }


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, run_controllers=False, bookmark_interval_s=0.05)
    await cluster.start()
    for n in range(3):
        cluster.store.create("pods", pod(f"p{n}"))
    yield cluster
    await cluster.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(read_bufsize=4 << 20) as session:
        yield session


async def status_of(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], str]:
    async with http.get(url) as response:
        return response.status, dict(response.headers), await response.text()


async def test_disconnect_after_n_events_aborts_the_connection(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.faults.disconnect_watch(after_events=2, resource="pods")
    broken = await watch(http, sim.url + PODS, timeout=2)
    assert broken.error is not None and not broken.ended
    assert broken.names() == ["p0", "p1"]
    assert sim.server.disconnects["pods"] == 1 and sim.faults.fired["disconnect"] == 1
    # Consumed: the next watch is healthy.
    healthy = await watch(http, sim.url + PODS, until=lambda r: len(r.events) == 3)
    assert healthy.error is None and len(healthy.events) == 3


async def test_disconnect_armed_while_a_watch_is_idle(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    pending = asyncio.create_task(
        watch(http, sim.url + PODS, params={"resourceVersion": sim.store.rv}, timeout=3)
    )
    await sim.server.wait_for(lambda: sim.server.watches("pods") == 1)
    sim.faults.disconnect_watch(after_events=0)
    result = await pending
    assert result.error is not None and result.events == []
    assert sim.server.watches("pods") == 0


async def test_throttling_with_retry_after_for_one_resource(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.faults.throttle(2, retry_after=3, resource="pods")
    for _ in range(2):
        status, headers, text = await status_of(http, sim.url + PODS)
        assert status == 429 and headers["Retry-After"] == "3"
        body = json.loads(text)
        assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 3
    assert (await status_of(http, sim.url + DEPLOYMENTS))[0] == 200
    assert (await status_of(http, sim.url + PODS))[0] == 200
    assert sim.faults.fired["throttle"] == 2
    assert sim.server.count("list", "pods") == 3  # faulted requests are counted too


async def test_server_errors_for_the_next_requests(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.faults.server_error(1, verbs=["watch"])
    assert (await status_of(http, sim.url + PODS))[0] == 200  # a list is not a watch
    status, _, text = await status_of(http, sim.url + PODS + "?watch=1")
    assert status == 500 and json.loads(text)["reason"] == "InternalError"
    sim.faults.server_error(2)
    codes = [(await status_of(http, sim.url + p))[0] for p in (PODS, DEPLOYMENTS, PODS)]
    assert codes == [500, 500, 200]


async def test_malformed_line_inserted_into_a_watch(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.faults.malformed_watch_line(resource="pods")
    result = await watch(http, sim.url + PODS, until=lambda r: len(r.events) == 3)
    assert len(result.bad_lines) == 1 and result.names() == ["p0", "p1", "p2"]
    sim.faults.malformed_watch_line(replace=True)
    replaced = await watch(http, sim.url + PODS, until=lambda r: len(r.events) == 2, timeout=1)
    assert len(replaced.bad_lines) == 1 and replaced.names() == ["p1", "p2"]


async def test_objects_with_wrong_field_types(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    sim.store.create("deployments", deployment("web"))
    sim.faults.wrong_types("deployments", count=2)
    async with http.get(sim.url + DEPLOYMENTS) as response:
        listed = (await response.json())["items"][0]
    assert listed["spec"]["replicas"] == "three" and listed["metadata"]["labels"] == []
    assert "kind" not in listed
    result = await watch(http, sim.url + DEPLOYMENTS, until=lambda r: len(r.events) == 1)
    assert result.objects()[0]["spec"]["replicas"] == "three"
    clean = await watch(http, sim.url + DEPLOYMENTS, until=lambda r: len(r.events) == 1)
    assert clean.objects()[0]["spec"]["replicas"] == 2
    stored = sim.store.get("deployments", "web", "default")
    assert stored is not None and stored["spec"]["replicas"] == 2


async def test_object_with_a_one_mebibyte_annotation(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.faults.huge_annotation("pods", name="p1")
    result = await watch(http, sim.url + PODS, until=lambda r: len(r.events) == 3)
    sizes = [
        len(o["metadata"].get("annotations", {}).get("daylight.sim/padding", ""))
        for o in result.objects()
    ]
    assert sizes == [0, 1 << 20, 0]
    sim.faults.huge_annotation("pods", size=2048)
    async with http.get(sim.url + "/api/v1/namespaces/default/pods/p2") as response:
        assert (
            len((await response.json())["metadata"]["annotations"]["daylight.sim/padding"]) == 2048
        )


async def test_forbidden_and_missing_resources_as_faults(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.faults.forbid("pods", count=1)
    status, _, text = await status_of(http, sim.url + PODS)
    assert status == 403 and json.loads(text)["reason"] == "Forbidden"
    sim.faults.not_found("keptnapps")  # persistent until cleared
    for _ in range(2):
        status, _, text = await status_of(http, sim.url + "/apis/lifecycle.keptn.sh/v1/keptnapps")
        assert status == 404 and text == "404 page not found\n"
    sim.faults.clear()
    assert (await status_of(http, sim.url + "/apis/lifecycle.keptn.sh/v1/keptnapps"))[0] == 200


async def test_counters_show_one_watch_per_resource(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.server.reset_counters()
    watches = [
        asyncio.create_task(
            watch(http, sim.url + path, params={"resourceVersion": sim.store.rv}, timeout=0.5)
        )
        for path in (PODS, DEPLOYMENTS)
    ]
    await sim.server.wait_for(lambda: sim.server.watches() == 2)
    assert sim.server.requests == {("watch", "pods"): 1, ("watch", "deployments"): 1}
    assert sim.server.request_log[-1].query["resourceVersion"] == str(sim.store.rv)
    await asyncio.gather(*watches)
    # The clients hung up: the server notices and forgets their watches.
    await sim.server.wait_for(lambda: sim.server.watches() == 0)


async def test_close_watches_ends_streams_cleanly(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    pending = asyncio.create_task(watch(http, sim.url + PODS, timeout=5))
    await sim.server.wait_for(lambda: sim.server.watches("pods") == 1)
    assert sim.server.close_watches("pods") == 1
    result = await pending
    assert result.ended and result.error is None and len(result.events) == 3
