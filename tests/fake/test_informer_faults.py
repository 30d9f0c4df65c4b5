"""The informer against the simulated API server, with every fault it must survive.

Each test asserts what the exporter ends up knowing (the objects delivered, in order, once)
and the self-metrics that tell an operator what happened.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Backoff, Disabled, Informer
from exporter.kube.resources import DEPLOYMENTS, KEPTN_APPS, PODS
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.selfmetrics import build_registry, exporter_collectors, render_self
from kubesim import SimCluster

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    # the paginated LIST path: a server without streaming lists (tests/fake/test_reflector.py
    # covers the streaming path that current servers take)
    cluster = SimCluster(
        world=False, run_controllers=False, bookmark_interval_s=0.05, watch_list=False
    )
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def client(sim: SimCluster) -> AsyncIterator[ApiClient]:
    api = ApiClient(ClusterAccess.plain(sim.server.url))
    try:
        yield api
    finally:
        await api.close()


def pod(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        "status": {"phase": "Running"},
    }


def deployment(name: str, image: str = "web:1", ns: str = "default") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, kind: str, obj: Any, _initial: bool) -> None:
        self.events.append((kind, obj.metadata.name))

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; saw {self.events}")
            await asyncio.sleep(0.02)


def fast_informer(client: ApiClient, resource: Any = PODS, **kw: Any) -> Informer:
    return Informer(
        client,
        resource,
        backoff=Backoff(base_s=0.01, cap_s=0.05, rng=random.Random(1)),
        watch_timeout_s=30,
        **kw,
    )


async def start(informer: Informer, recorder: Recorder) -> asyncio.Task[None]:
    await informer.initial_list()
    informer.sink = recorder
    return asyncio.create_task(informer.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def self_metrics(informer: Informer) -> str:
    model = DoraModel()
    collectors = exporter_collectors(
        model,
        MetricsRenderer(model),
        mode="run",
        informers=lambda: [(informer.name, informer.stats)],
    )
    return render_self(build_registry(collectors)).decode()


async def test_list_paginates_into_one_consistent_snapshot(
    sim: SimCluster, client: ApiClient
) -> None:
    for i in range(25):
        sim.store.create("pods", pod(f"p{i:02d}"))
    informer = fast_informer(client, page_size=10)
    items = await informer.initial_list()
    assert sorted(p.metadata.name for p in items) == [f"p{i:02d}" for i in range(25)]
    assert sim.server.count("list", "pods") == 3
    assert informer.resource_version == str(sim.store.rv)
    assert informer.stats.synced and informer.stats.cached == 25


async def test_watch_resumes_from_the_list_version_and_keeps_order(
    sim: SimCluster, client: ApiClient
) -> None:
    sim.store.create("pods", pod("before"))
    informer, recorder = fast_informer(client), Recorder()
    task = await start(informer, recorder)
    sim.store.create("pods", pod("a"))
    sim.store.mutate("pods", "a", "default", lambda o: o["metadata"]["labels"].update(x="1"))
    sim.store.delete("pods", "a", "default")
    await recorder.wait_for(lambda: len(recorder.events) == 3)
    assert recorder.events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    await recorder.wait_for(lambda: informer.stats.events["BOOKMARK"] > 0)
    assert sim.server.watches("pods") == 1  # steady state: exactly one WATCH
    assert informer.stats.cached == 1
    await stop(task)


async def test_bookmarks_move_the_resume_point_without_events(
    sim: SimCluster, client: ApiClient
) -> None:
    informer, recorder = fast_informer(client), Recorder()
    task = await start(informer, recorder)
    listed = int(informer.resource_version)
    sim.store.create("deployments", deployment("elsewhere"))  # moves the global version
    await recorder.wait_for(lambda: int(informer.resource_version or 0) > listed)
    assert recorder.events == []
    await stop(task)


async def test_disconnect_mid_stream_resumes_without_loss_or_duplicates(
    sim: SimCluster, client: ApiClient
) -> None:
    informer, recorder = fast_informer(client), Recorder()
    task = await start(informer, recorder)
    sim.faults.disconnect_watch(after_events=2, resource="pods")
    for i in range(6):
        sim.store.create("pods", pod(f"p{i}"))
    await recorder.wait_for(lambda: len(recorder.events) >= 6)
    await asyncio.sleep(0.2)
    assert recorder.events == [("ADDED", f"p{i}") for i in range(6)]
    assert informer.stats.restarts["disconnect"] >= 1
    assert sim.server.count("list", "pods") == 1  # resumed by version, no relist needed
    assert 'daylight_watch_restarts_total{reason="disconnect",resource="pods"}' in (
        self_metrics(informer)
    )
    await stop(task)


async def test_410_gone_relists_and_delivers_what_was_missed(
    sim: SimCluster, client: ApiClient
) -> None:
    sim.store.create("pods", pod("stays"))
    sim.store.create("pods", pod("goes"))
    informer, recorder = fast_informer(client), Recorder()
    await informer.initial_list()
    informer.sink = recorder
    # while we are not watching, the cluster moves on and compacts away our version
    sim.store.delete("pods", "goes", "default")
    sim.store.create("pods", pod("new"))
    sim.store.mutate("pods", "stays", "default", lambda o: o["metadata"]["labels"].update(v="2"))
    sim.store.compact()
    task = asyncio.create_task(informer.run())
    await recorder.wait_for(lambda: len(recorder.events) >= 3)
    assert sorted(recorder.events) == [("ADDED", "new"), ("DELETED", "goes"), ("MODIFIED", "stays")]
    assert informer.stats.restarts["gone"] == 1
    assert sim.server.count("list", "pods") == 2
    assert sim.server.count("watch", "pods") <= 3  # no reconnect storm
    assert sorted(informer.cache) == ["default/new", "default/stays"]
    await stop(task)


async def test_429_honours_retry_after(sim: SimCluster, client: ApiClient) -> None:
    sim.store.create("pods", pod("p"))
    sim.faults.throttle(2, retry_after=1, resource="pods", verbs=["list"])
    informer = fast_informer(client)
    started = asyncio.get_running_loop().time()
    items = await informer.initial_list()
    waited = asyncio.get_running_loop().time() - started
    assert [p.metadata.name for p in items] == ["p"]
    assert waited >= 1.9  # two Retry-After: 1 answers, not the 10 ms backoff
    assert informer.stats.errors["429"] == 2
    assert informer.stats.restarts["throttled"] == 2
    assert 'daylight_api_errors_total{code="429",resource="pods"} 2.0' in self_metrics(informer)


async def test_500_is_retried_with_backoff(sim: SimCluster, client: ApiClient) -> None:
    sim.store.create("pods", pod("p"))
    sim.faults.server_error(3, resource="pods")
    informer = fast_informer(client)
    items = await informer.initial_list()
    assert len(items) == 1
    assert informer.stats.errors["500"] == 3
    assert informer.backoff.attempt == 3  # grows: not reset by one success (client-go)


async def test_malformed_line_is_skipped_and_the_stream_goes_on(
    sim: SimCluster, client: ApiClient
) -> None:
    informer, recorder = fast_informer(client), Recorder()
    task = await start(informer, recorder)
    sim.faults.malformed_watch_line(resource="pods")
    sim.store.create("pods", pod("after"))
    await recorder.wait_for(lambda: recorder.events == [("ADDED", "after")])
    assert informer.stats.invalid["malformed_json"] == 1
    assert 'daylight_invalid_input_total{reason="malformed_json"} 1.0' in self_metrics(informer)
    await stop(task)


async def test_wrong_field_types_skip_the_object_not_the_stream(
    sim: SimCluster, client: ApiClient
) -> None:
    sim.store.create("deployments", deployment("web"))
    informer, recorder = fast_informer(client, DEPLOYMENTS), Recorder()
    task = await start(informer, recorder)
    sim.faults.wrong_types("deployments", name="web")
    sim.store.mutate("deployments", "web", "default", lambda o: o["spec"].update(replicas=2))
    sim.store.create("deployments", deployment("api"))
    await recorder.wait_for(lambda: ("ADDED", "api") in recorder.events)
    assert ("MODIFIED", "web") not in recorder.events
    assert informer.stats.invalid["wrong_field_type"] == 1
    assert informer.cache["default/web"].spec.replicas == 1  # the last good state is kept
    assert int(informer.resource_version) == sim.store.rv
    await stop(task)


async def test_a_1_mib_annotation_is_dropped_not_kept(sim: SimCluster, client: ApiClient) -> None:
    informer, recorder = fast_informer(client, DEPLOYMENTS), Recorder()
    task = await start(informer, recorder)
    sim.faults.huge_annotation("deployments", size=1 << 20, name="big")
    sim.store.create("deployments", deployment("big"))
    await recorder.wait_for(lambda: recorder.events == [("ADDED", "big")])
    cached = informer.cache["default/big"]
    assert all(len(v) < 65536 for v in cached.metadata.annotations.values())
    assert informer.stats.invalid["oversized_annotation"] == 1
    await stop(task)


async def test_forbidden_and_missing_resources_are_disabled_not_fatal(
    sim: SimCluster, client: ApiClient
) -> None:
    sim.registry.set_forbidden("pods")
    sim.registry.set_installed("keptnapps", False)
    pods, keptn = fast_informer(client), fast_informer(client, KEPTN_APPS)
    with pytest.raises(Disabled):
        await pods.initial_list()
    with pytest.raises(Disabled):
        await keptn.initial_list()
    assert pods.stats.disabled == "forbidden" and keptn.stats.disabled == "not_found"
    text = self_metrics(pods)
    assert 'daylight_informer_disabled{reason="forbidden",resource="pods"} 1.0' in text
    assert 'daylight_informer_synced{resource="pods"} 0.0' in text
