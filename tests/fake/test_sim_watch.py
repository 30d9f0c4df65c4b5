"""The watch protocol: replay from a resourceVersion, bookmarks, timeouts, 410s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kubesim import SimCluster
from tests.fake.simwatch import WatchResult, watch

PODS = "/api/v1/pods"


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(
        world=False, run_controllers=False, bookmark_interval_s=0.05, history_limit=20
    )
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def relabel(sim: SimCluster, name: str, **labels: str) -> None:
    sim.store.mutate("pods", name, "default", lambda o: o["metadata"]["labels"].update(labels))


async def test_watch_replays_exactly_the_events_after_the_resource_version(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a"))
    sim.store.create("pods", pod("b"))
    since = sim.store.rv
    relabel(sim, "a", x="1")
    sim.store.delete("pods", "b", "default")
    sim.store.create("pods", pod("c"))
    sim.store.create("deployments", {"metadata": {"name": "d", "namespace": "default"}, "spec": {}})
    result = await watch(
        http, sim.url + PODS, params={"resourceVersion": since}, until=lambda r: len(r.events) == 3
    )
    assert result.status == 200
    assert result.types() == ["MODIFIED", "DELETED", "ADDED"]
    assert result.names() == ["a", "b", "c"]
    versions = [int(o["metadata"]["resourceVersion"]) for o in result.objects()]
    assert versions == sorted(versions) and versions[0] > since
    assert all(o["kind"] == "Pod" and o["apiVersion"] == "v1" for o in result.objects())


async def test_replay_continues_with_live_events(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a"))
    since = sim.store.rv

    async def later() -> None:
        await sim.server.wait_for(lambda: sim.server.watches("pods") == 1)
        relabel(sim, "a", live="yes")
        sim.store.create("pods", pod("b"))

    task = asyncio.create_task(later())
    result = await watch(
        http, sim.url + PODS, params={"resourceVersion": since}, until=lambda r: len(r.events) == 2
    )
    await task
    assert result.types() == ["MODIFIED", "ADDED"]
    assert result.objects()[0]["metadata"]["labels"] == {"live": "yes"}


async def test_watch_without_resource_version_starts_with_the_current_state(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a"))
    sim.store.create("pods", pod("b"))
    sim.store.delete("pods", "a", "default")
    result = await watch(http, sim.url + PODS, until=lambda r: len(r.events) == 1, timeout=1)
    assert result.types() == ["ADDED"] and result.names() == ["b"]
    zero = await watch(
        http, sim.url + PODS, params={"resourceVersion": "0"}, until=lambda r: len(r.events) == 1
    )
    assert zero.names() == ["b"]


async def test_bookmarks_arrive_and_carry_only_a_resource_version(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a"))
    result = await watch(
        http,
        sim.url + PODS,
        params={"resourceVersion": sim.store.rv, "allowWatchBookmarks": "true"},
        until=lambda r: r.types().count("BOOKMARK") >= 2,
    )
    bookmark = result.events[0]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(sim.store.rv), "creationTimestamp": None},
    }
    # Without the opt-in there are none.
    quiet = await watch(http, sim.url + PODS, params={"resourceVersion": sim.store.rv}, timeout=0.3)
    assert quiet.events == []


async def test_bookmark_never_runs_ahead_of_unsent_events(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    since = sim.store.rv

    async def churn() -> None:
        for n in range(40):
            sim.store.create("pods", pod(f"p{n}"))
            await asyncio.sleep(0.005)

    task = asyncio.create_task(churn())
    result = await watch(
        http,
        sim.url + PODS,
        params={"resourceVersion": since, "allowWatchBookmarks": "1"},
        until=lambda r: len(r.objects("ADDED")) == 40,
    )
    await task
    seen = 0
    for event in result.events:
        rv = int(event["object"]["metadata"]["resourceVersion"])
        assert rv >= seen
        seen = rv


async def test_timeout_seconds_closes_the_stream_cleanly(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await watch(http, sim.url + PODS, params={"timeoutSeconds": 1}, timeout=5)
    assert result.ended and result.error is None
    assert 0.9 <= loop.time() - started < 3
    assert sim.server.watches() == 0


async def test_compacted_resource_version_gets_an_error_event(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a"))
    old = sim.store.rv
    for n in range(25):
        relabel(sim, "a", n=str(n))
    result = await watch(http, sim.url + PODS, params={"resourceVersion": old})
    assert result.status == 200 and result.ended
    assert result.types() == ["ERROR"]
    status = result.events[0]["object"]
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version")


async def test_selector_transitions_become_added_and_deleted(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a", app="web"))
    sim.store.create("pods", pod("b", app="api"))
    since = sim.store.rv
    relabel(sim, "a", app="api")  # leaves the selection
    relabel(sim, "b", app="web")  # enters it
    relabel(sim, "b", extra="1")  # stays in it
    result = await watch(
        http,
        sim.url + PODS,
        params={"resourceVersion": since, "labelSelector": "app=web"},
        until=lambda r: len(r.events) == 3,
    )
    assert list(zip(result.types(), result.names(), strict=True)) == [
        ("DELETED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "b"),
    ]


async def test_namespaced_watch_and_single_object_watch(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    since = sim.store.rv
    sim.store.create("pods", pod("a", "one"))
    sim.store.create("pods", pod("b", "two"))
    sim.store.create("pods", pod("c", "one"))
    one = await watch(
        http,
        sim.url + "/api/v1/namespaces/one/pods",
        params={"resourceVersion": since},
        until=lambda r: len(r.events) == 2,
    )
    assert one.names() == ["a", "c"]
    single = await watch(
        http,
        sim.url + PODS,
        params={"resourceVersion": since, "fieldSelector": "metadata.name=b"},
        until=lambda r: len(r.events) == 1,
    )
    assert single.names() == ["b"]


async def test_send_initial_events_ends_with_an_annotated_bookmark(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a"))
    result = await watch(
        http,
        sim.url + PODS,
        params={
            "sendInitialEvents": "true",
            "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true",
        },
        until=lambda r: "BOOKMARK" in r.types(),
    )
    assert result.types()[:2] == ["ADDED", "BOOKMARK"]
    annotations = result.events[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


async def test_slow_watcher_is_closed_cleanly(http: aiohttp.ClientSession) -> None:
    cluster = SimCluster(world=False, run_controllers=False, watch_queue_limit=5)
    url = await cluster.start()
    try:
        async with http.get(url + PODS, params={"watch": "1", "resourceVersion": "1"}) as response:
            await cluster.server.wait_for(lambda: cluster.server.watches("pods") == 1)
            for n in range(50):  # all queued synchronously: the watcher cannot keep up
                cluster.store.create("pods", pod(f"p{n}"))
            body = await asyncio.wait_for(response.read(), 5)
        lines = body.decode().splitlines()
        assert 0 < len(lines) < 50
        assert cluster.server.watches("pods") == 0
    finally:
        await cluster.stop()


async def test_stop_ends_open_watches(http: aiohttp.ClientSession) -> None:
    cluster = SimCluster(world=False, run_controllers=False)
    url = await cluster.start()
    pending = asyncio.create_task(watch(http, url + PODS, timeout=10))
    await cluster.server.wait_for(lambda: cluster.server.watches() == 1)
    await cluster.stop()
    result: WatchResult = await asyncio.wait_for(pending, 5)
    assert result.ended or result.error is not None
