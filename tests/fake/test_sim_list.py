"""List, get, pagination, selectors, errors and discovery over HTTP."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kubesim import SimCluster


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(world=False, with_pods=False, run_controllers=False, history_limit=50)
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(
    http: aiohttp.ClientSession, url: str, **params: str
) -> tuple[int, dict[str, Any]]:
    async with http.get(url, params=params) as response:
        return response.status, await response.json(content_type=None)


async def test_list_shape_follows_the_real_server(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.store.create("pods", pod("a", app="web"))
    sim.store.create(
        "keptnapps",
        {"metadata": {"name": "shop", "namespace": "default"}, "spec": {"version": "1"}},
    )
    status, body = await get_json(http, sim.url + "/api/v1/pods")
    assert status == 200
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert body["metadata"] == {"resourceVersion": str(sim.store.rv)}
    item = body["items"][0]
    assert "kind" not in item and "apiVersion" not in item  # typed list items carry neither
    _, crds = await get_json(
        http, sim.url + "/apis/lifecycle.keptn.sh/v1/namespaces/default/keptnapps"
    )
    assert crds["kind"] == "KeptnAppList"
    assert crds["items"][0]["kind"] == "KeptnApp"  # unstructured items do
    status, one = await get_json(http, sim.url + "/api/v1/namespaces/default/pods/a")
    assert status == 200 and one["kind"] == "Pod" and one["apiVersion"] == "v1"


async def test_namespaced_and_cluster_wide_paths(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    for ns in ("a", "b"):
        sim.store.create("namespaces", {"metadata": {"name": ns}})
        sim.store.create("pods", pod("p", ns))
    _, all_pods = await get_json(http, sim.url + "/api/v1/pods")
    _, in_a = await get_json(http, sim.url + "/api/v1/namespaces/a/pods")
    assert [p["metadata"]["namespace"] for p in all_pods["items"]] == ["a", "b"]
    assert [p["metadata"]["namespace"] for p in in_a["items"]] == ["a"]
    status, namespace = await get_json(http, sim.url + "/api/v1/namespaces/a")
    assert status == 200 and namespace["kind"] == "Namespace"
    status, missing = await get_json(http, sim.url + "/api/v1/namespaces/a/pods/nope")
    assert status == 404
    assert (
        missing["kind"] == "Status" and missing["reason"] == "NotFound" and missing["code"] == 404
    )
    async with http.get(sim.url + "/apis/apps/v1/deployments/x") as response:  # needs a namespace
        assert response.status == 404


async def test_pagination_is_a_consistent_snapshot(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    for n in range(7):
        sim.store.create("pods", pod(f"p{n}"))
    status, first = await get_json(http, sim.url + "/api/v1/pods", limit="3")
    assert status == 200 and len(first["items"]) == 3
    assert first["metadata"]["remainingItemCount"] == 4
    token = first["metadata"]["continue"]
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded["rv"] == int(first["metadata"]["resourceVersion"])
    # Churn between pages must not leak into the paginated list.
    sim.store.delete("pods", "p4", "default")
    sim.store.create("pods", pod("p9"))
    sim.store.mutate("pods", "p5", "default", lambda o: o["metadata"]["labels"].update(x="y"))
    names = [p["metadata"]["name"] for p in first["items"]]
    while token:
        _, page = await get_json(http, sim.url + "/api/v1/pods", limit="3", **{"continue": token})
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [p["metadata"]["name"] for p in page["items"]]
        assert (
            "labels" not in page["items"][0]["metadata"]
            or "x" not in page["items"][0]["metadata"]["labels"]
        )
        token = page["metadata"].get("continue", "")
    assert names == [f"p{n}" for n in range(7)]
    _, fresh = await get_json(http, sim.url + "/api/v1/pods")
    assert [p["metadata"]["name"] for p in fresh["items"]] == [
        "p0",
        "p1",
        "p2",
        "p3",
        "p5",
        "p6",
        "p9",
    ]


async def test_expired_continue_token_is_410(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    for n in range(4):
        sim.store.create("pods", pod(f"p{n}"))
    _, first = await get_json(http, sim.url + "/api/v1/pods", limit="2")
    sim.store.create("pods", pod("late"))
    sim.store.compact()
    status, body = await get_json(
        http, sim.url + "/api/v1/pods", limit="2", **{"continue": first["metadata"]["continue"]}
    )
    assert status == 410 and body["reason"] == "Expired" and body["code"] == 410
    status, body = await get_json(http, sim.url + "/api/v1/pods", **{"continue": "garbage!"})
    assert status == 400 and body["reason"] == "BadRequest"


async def test_selectors_over_http(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    sim.store.create("pods", pod("a", app="web", tier="fe"))
    sim.store.create("pods", pod("b", app="api"))
    sim.store.create("pods", pod("c"))

    async def names(**params: str) -> list[str]:
        _, body = await get_json(http, sim.url + "/api/v1/pods", **params)
        return [p["metadata"]["name"] for p in body["items"]]

    assert await names(labelSelector="app=web") == ["a"]
    assert await names(labelSelector="app in (web,api)") == ["a", "b"]
    assert await names(labelSelector="app notin (web)") == ["b", "c"]
    assert await names(labelSelector="!app") == ["c"]
    assert await names(labelSelector="app,tier!=be") == ["a", "b"]
    assert await names(fieldSelector="metadata.name=b") == ["b"]
    assert await names(labelSelector="app", limit="1") == ["a"]
    status, body = await get_json(http, sim.url + "/api/v1/pods", labelSelector="app in (")
    assert status == 400 and body["kind"] == "Status"


async def test_missing_crd_forbidden_resource_and_discovery(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    sim.registry.set_installed("keptnapps", False)
    async with http.get(sim.url + "/apis/lifecycle.keptn.sh/v1/keptnapps") as response:
        assert response.status == 404
        assert response.content_type == "text/plain"
        assert await response.text() == "404 page not found\n"
    _, group = await get_json(http, sim.url + "/apis/lifecycle.keptn.sh/v1")
    assert "keptnapps" not in [r["name"] for r in group["resources"]]
    assert "keptntaskdefinitions" in [r["name"] for r in group["resources"]]
    sim.registry.set_forbidden("pods")
    status, body = await get_json(http, sim.url + "/api/v1/namespaces/x/pods")
    assert status == 403 and body["reason"] == "Forbidden"
    assert 'cannot list resource "pods"' in body["message"] and 'namespace "x"' in body["message"]
    _, groups = await get_json(http, sim.url + "/apis")
    assert {"apps", "batch", "metrics.keptn.sh"} <= {g["name"] for g in groups["groups"]}
    status, version = await get_json(http, sim.url + "/version")
    assert status == 200 and version["major"] == "1"


async def test_bearer_token_is_required_when_configured(http: aiohttp.ClientSession) -> None:
    cluster = SimCluster(world=False, run_controllers=False, token="s3cret")
    url = await cluster.start()
    try:
        status, body = await get_json(http, url + "/api/v1/pods")
        assert status == 401 and body["reason"] == "Unauthorized"
        async with http.get(url + "/api/v1/pods", headers={"Authorization": "Bearer s3cret"}) as ok:
            assert ok.status == 200
    finally:
        await cluster.stop()


async def test_large_lists_are_gzipped_when_accepted(sim: SimCluster) -> None:
    for n in range(150):
        obj = pod(f"p{n:03d}")
        obj["metadata"]["annotations"] = {"blob": "x" * 1000}
        sim.store.create("pods", obj)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as raw,
        raw.get(sim.url + "/api/v1/pods", headers={"Accept-Encoding": "gzip"}) as response,
    ):
        assert response.headers["Content-Encoding"] == "gzip"
        body = json.loads(gzip.decompress(await response.read()))
        assert len(body["items"]) == 150


async def test_write_verbs_for_the_launcher(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "pre-task-"},
        "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "busybox:1.36"}]}}},
        "status": {"succeeded": 1},
    }
    url = sim.url + "/apis/batch/v1/namespaces/ci/jobs"
    async with http.post(url, json=job) as response:
        assert response.status == 201
        created = await response.json()
    name = created["metadata"]["name"]
    assert name.startswith("pre-task-") and "status" not in created
    labels = created["spec"]["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == name
    async with http.patch(
        f"{url}/{name}",
        data=json.dumps({"metadata": {"labels": {"a": "b"}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    ) as response:
        assert response.status == 200
        assert (await response.json())["metadata"]["labels"] == {"a": "b"}
    stale = dict(created)
    async with http.put(f"{url}/{name}", json=stale) as response:
        assert response.status == 409
    async with http.delete(f"{url}/{name}") as response:
        assert response.status == 200 and (await response.json())["status"] == "Success"
    assert sim.server.count("create", "jobs") == 1 and sim.server.count("delete", "jobs") == 1
