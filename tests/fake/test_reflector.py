"""The informer behaves like client-go's reflector where it matters to the API server:
streaming lists from the watch cache (with a paginated fallback), Retry-After on 429 and
5xx in both forms, a backoff that is not reset by every line, each object fed once when a
continue token expires, and input nested too deeply skipped rather than fatal."""

from __future__ import annotations

import asyncio
import email.utils
import random
import sys
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from exporter.events.envelope import EventType
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Backoff, Disabled, Informer
from exporter.kube.resources import KEPTN_TASK_DEFINITIONS, PODS
from kubesim import SimCluster


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": dict(labels)},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def task_definition(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def create_deep(sim: SimCluster, obj: dict[str, Any]) -> None:
    """Store an object nested deeper than Python's recursion limit, as a real API server
    would (it allows far deeper JSON): the simulator copies and encodes it with a higher
    limit once, and serves the cached bytes; the informer then reads it at the normal one."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        sim.store.create("keptntaskdefinitions", obj, copy=False)
        name = obj["metadata"]["name"]
        entry = sim.store.entry("keptntaskdefinitions", name, "default")
        assert entry is not None
        entry.full_bytes()
        entry.item_bytes()
    finally:
        sys.setrecursionlimit(limit)


async def cluster(*, watch_list: bool) -> SimCluster:
    sim = SimCluster(
        world=False, run_controllers=False, bookmark_interval_s=0.05, watch_list=watch_list
    )
    await sim.start()
    return sim


@pytest.fixture
async def streaming() -> AsyncIterator[SimCluster]:
    sim = await cluster(watch_list=True)
    yield sim
    await sim.stop()


@pytest.fixture
async def paged() -> AsyncIterator[SimCluster]:
    sim = await cluster(watch_list=False)
    yield sim
    await sim.stop()


def informer(sim: SimCluster, resource: Any = PODS, **kw: Any) -> Informer:
    client = ApiClient(ClusterAccess.plain(sim.url))
    kw.setdefault("backoff", Backoff(base_s=0.01, cap_s=0.05, rng=random.Random(1)))
    return Informer(client, resource, watch_timeout_s=30, **kw)


class Feed:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, event_type: EventType, obj: Any) -> None:
        self.seen.append((str(event_type), obj.metadata.name))


async def test_the_initial_list_streams_from_the_watch_cache(streaming: SimCluster) -> None:
    for i in range(25):
        streaming.store.create("pods", pod(f"p{i:02d}"))
    inf, feed = informer(streaming, page_size=10), Feed()
    items = await inf.initial_list(feed)
    assert sorted(name for _, name in feed.seen) == [f"p{i:02d}" for i in range(25)]
    assert {kind for kind, _ in feed.seen} == {"ADDED"} and len(items) == 25
    assert streaming.server.count("list", "pods") == 0  # no LIST, nothing read from etcd
    assert streaming.server.count("watch", "pods") == 1
    assert inf.resource_version == str(streaming.store.rv)
    seen: list[str] = []
    inf.sink = lambda kind, obj, _initial: seen.append(f"{kind} {obj.metadata.name}")
    task = asyncio.create_task(inf.run())
    streaming.store.create("pods", pod("live"))
    await until(lambda: seen == ["ADDED live"])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await inf.client.close()


async def test_without_streaming_lists_it_falls_back_to_pages(paged: SimCluster) -> None:
    for i in range(25):
        paged.store.create("pods", pod(f"p{i:02d}"))
    inf = informer(paged, page_size=10)
    items = await inf.initial_list()
    assert len(items) == 25
    assert paged.server.count("watch", "pods") == 1  # asked once, refused with 422
    assert paged.server.count("list", "pods") == 3
    assert not inf.lister.streaming
    await inf.initial_list()
    assert paged.server.count("watch", "pods") == 1  # not asked again by this process
    await inf.client.close()


async def test_an_expired_continue_token_feeds_each_object_once(paged: SimCluster) -> None:
    for i in range(25):
        paged.store.create("pods", pod(f"p{i:02d}"))
    inf, fed = informer(paged, page_size=10), Feed()

    def feed(event_type: EventType, obj: Any) -> None:
        fed(event_type, obj)
        if obj.metadata.name == "p09":  # the last of page 1: the cluster moves on, compacts
            paged.store.delete("pods", "p03", "default")
            paged.store.mutate(
                "pods", "p05", "default", lambda o: o["metadata"]["labels"].update(v="2")
            )
            paged.store.create("pods", pod("p99"))
            paged.store.compact()

    items = await inf.initial_list(feed)
    assert inf.stats.restarts["list_expired"] == 1
    added = [name for kind, name in fed.seen if kind == "ADDED"]
    assert sorted(added) == sorted([f"p{i:02d}" for i in range(25)] + ["p99"])
    assert len(added) == len(set(added))  # nothing fed twice
    assert ("MODIFIED", "p05") in fed.seen and ("DELETED", "p03") in fed.seen
    assert "default/p03" not in {f"default/{p.metadata.name}" for p in items}
    await inf.client.close()


@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_retry_after_is_honoured_on_5xx_in_both_forms(
    streaming: SimCluster, form: str
) -> None:
    streaming.store.create("pods", pod("p"))
    # an HTTP-date has whole seconds: 2.5 s ahead is a wait of at least 1.5 s
    ahead = email.utils.formatdate(time.time() + 2.5, usegmt=True)
    when = "2" if form == "seconds" else ahead
    streaming.faults.unavailable(1, retry_after=when, resource="pods")
    inf = informer(streaming)
    started = time.monotonic()
    assert len(await inf.initial_list()) == 1
    assert time.monotonic() - started >= 1.4  # the server's wait, not the 10 ms backoff
    assert inf.stats.errors["503"] == 1 and inf.stats.restarts["retry_after"] == 1
    await inf.client.close()


def test_the_backoff_grows_until_two_quiet_minutes_pass() -> None:
    clock = [0.0]
    backoff = Backoff(rng=random.Random(3), monotonic=lambda: clock[0])
    backoff._since = 0.0
    delays = [backoff.next() for _ in range(8)]
    assert 0.8 <= delays[0] < 1.6 and 1.6 <= delays[1] < 3.2
    assert all(30.0 <= d < 60.0 for d in delays[6:])  # capped at 30 s, jittered up to 2x
    clock[0] = 121.0
    assert backoff.next() < 1.6  # reset after two minutes, not after a line


async def test_a_server_dropping_each_watch_after_one_event_is_not_hammered(
    streaming: SimCluster,
) -> None:
    inf = informer(streaming)
    await inf.initial_list()
    inf.sink = lambda *_: None
    streaming.faults.disconnect_watch(after_events=1, resource="pods", count=None)
    task = asyncio.create_task(inf.run())
    for i in range(6):
        streaming.store.create("pods", pod(f"e{i}"))
        await asyncio.sleep(0.05)
    await until(lambda: inf.stats.restarts["disconnect"] >= 4)
    assert inf.backoff.attempt >= 4  # each reconnect waited longer than the one before
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await inf.client.close()


@pytest.mark.parametrize("watch_list", [True, False])
async def test_an_object_nested_too_deeply_is_skipped_with_a_reason(watch_list: bool) -> None:
    sim = await cluster(watch_list=watch_list)
    try:
        create_deep(sim, task_definition("deep", deep(2000)))
        sim.store.create("keptntaskdefinitions", task_definition("fine", {"retries": 1}))
        inf = informer(sim, KEPTN_TASK_DEFINITIONS)
        items = await inf.initial_list()
        assert [o.metadata.name for o in items] == ["fine"]
        assert inf.stats.invalid["too_deep"] == 1
        seen: list[str] = []
        inf.sink = lambda _kind, obj, _initial: seen.append(obj.metadata.name)
        task = asyncio.create_task(inf.run())
        create_deep(sim, task_definition("deeper", deep(2000)))
        sim.store.create("keptntaskdefinitions", task_definition("after", {"retries": 2}))
        await until(lambda: seen == ["after"])
        assert inf.stats.invalid["too_deep"] == 2
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await inf.client.close()
    finally:
        await sim.stop()


async def test_a_list_answered_with_html_is_retried_not_fatal(paged: SimCluster) -> None:
    paged.store.create("pods", pod("p"))
    paged.faults.not_json(1, resource="pods", verbs=["list"])
    inf = informer(paged)
    assert len(await inf.initial_list()) == 1
    assert inf.stats.errors["malformed"] == 1
    await inf.client.close()


class FlakyClient(ApiClient):
    """Connection errors for the first GETs, as an API server restarting would cause."""

    def __init__(self, access: ClusterAccess, failures: int) -> None:
        super().__init__(access)
        self.failures = failures

    async def get(self, path: str, params: Mapping[str, str], *, timeout_s: float = 60.0) -> bytes:
        if self.failures:
            self.failures -= 1
            raise aiohttp.ClientConnectionError("connection refused")
        return await super().get(path, params, timeout_s=timeout_s)


async def test_a_disabled_resource_survives_connection_errors_and_comes_back(
    paged: SimCluster,
) -> None:
    paged.registry.set_installed("keptntaskdefinitions", False)
    client = FlakyClient(ClusterAccess.plain(paged.url), failures=0)
    inf = Informer(client, KEPTN_TASK_DEFINITIONS, disabled_retry_s=0.05, watch_timeout_s=30)
    inf.lister.streaming = False  # the retries go through the (flaky) paginated LIST
    with pytest.raises(Disabled):
        await inf.initial_list()
    inf.sink = lambda *_: None
    client.failures = 3
    task = asyncio.create_task(inf.run())
    await until(lambda: client.failures == 0)
    await asyncio.sleep(0.1)
    assert not task.done()  # the retry loop survived the connection errors
    paged.registry.set_installed("keptntaskdefinitions", True)
    await until(lambda: inf.stats.disabled is None and inf.stats.synced)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
