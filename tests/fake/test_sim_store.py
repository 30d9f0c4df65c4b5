"""The simulated store: object shape, resourceVersions, generations, history and compaction."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kubesim.errors import ApiError
from kubesim.events import CLOSED, WatchEvent
from kubesim.store import Store
from kubesim.util import controller_uid


def deployment(name: str = "web", image: str = "nginx:1.25", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def test_created_object_is_shaped_like_the_api_serves_it() -> None:
    store = Store(seed=1)
    obj = store.create("deployments", deployment())
    assert list(obj)[:3] == ["kind", "apiVersion", "metadata"]
    meta = obj["metadata"]
    assert list(meta)[:6] == [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert meta["generation"] == 1 and isinstance(meta["resourceVersion"], str)
    # API defaulting, including the template's null creationTimestamp quirk.
    spec = obj["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": "25%"}
    assert spec["progressDeadlineSeconds"] == 600 and spec["revisionHistoryLimit"] == 10
    assert spec["template"]["metadata"]["creationTimestamp"] is None
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_uids_are_deterministic_per_seed_and_creation_time_is_settable() -> None:
    a, b = Store(seed=3), Store(seed=3)
    first = a.create("deployments", deployment(), now=0)
    assert (
        first["metadata"]["uid"] == b.create("deployments", deployment(), now=0)["metadata"]["uid"]
    )
    old = deployment("old")
    old["metadata"]["creationTimestamp"] = "2020-01-02T03:04:05Z"
    assert a.create("deployments", old)["metadata"]["creationTimestamp"] == "2020-01-02T03:04:05Z"
    assert first["metadata"]["creationTimestamp"] == "1970-01-01T00:00:00Z"


def test_generation_moves_only_with_spec_and_noop_updates_are_silent() -> None:
    store = Store()
    obj = store.create("deployments", deployment())
    rv = store.rv
    obj["metadata"]["annotations"] = {"note": "x"}
    obj = store.update("deployments", obj)
    assert obj["metadata"]["generation"] == 1 and store.rv == rv + 1
    obj["spec"]["replicas"] = 5
    obj = store.update("deployments", obj)
    assert obj["metadata"]["generation"] == 2
    obj["status"] = {"observedGeneration": 2, "replicas": 5}
    obj = store.update_status("deployments", obj)
    assert obj["metadata"]["generation"] == 2 and obj["status"]["replicas"] == 5
    rv = store.rv
    same = store.update("deployments", obj)
    assert (
        store.rv == rv and same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    )
    # A plain update never touches status (status subresource semantics).
    obj["status"] = {"replicas": 99}
    assert store.update("deployments", obj)["status"]["replicas"] == 5


def test_stale_resource_version_conflicts() -> None:
    store = Store()
    obj = store.create("deployments", deployment())
    store.mutate("deployments", "web", "default", lambda o: o["spec"].update(replicas=3))
    with pytest.raises(ApiError) as err:
        store.update("deployments", obj)
    assert err.value.code == 409 and err.value.reason == "Conflict"
    with pytest.raises(ApiError) as err:
        store.create("deployments", deployment())
    assert err.value.reason == "AlreadyExists"


def test_delete_is_an_event_with_its_own_resource_version() -> None:
    store = Store()
    store.create("deployments", deployment())
    deleted = store.delete("deployments", "web", "default")
    assert deleted["metadata"]["resourceVersion"] == str(store.rv)
    event = store.history("deployments")[-1]
    assert event.type == "DELETED" and event.prev is not None
    assert store.get("deployments", "web", "default") is None


def test_history_is_bounded_and_old_versions_are_compacted() -> None:
    store = Store(history_limit=3)
    store.create("deployments", deployment())
    start = store.rv
    for n in range(5):

        def scale(o: dict[str, Any], n: int = n) -> None:
            o["spec"].update(replicas=n)

        store.mutate("deployments", "web", "default", scale)
    assert len(store.history("deployments")) == 3
    assert store.compacted_rv("deployments") > start
    with pytest.raises(ApiError) as err:
        store.watch("deployments", start)
    assert err.value.code == 410 and err.value.reason == "Expired"
    events, sub = store.watch("deployments", store.compacted_rv("deployments"))
    assert [e.rv for e in events] == [e.rv for e in store.history("deployments")]
    sub.close()
    store.compact()
    with pytest.raises(ApiError):
        store.snapshot("deployments", store.rv - 1)


def test_snapshot_rebuilds_an_older_state() -> None:
    store = Store()
    store.create("deployments", deployment("a"))
    store.create("deployments", deployment("b"))
    at = store.rv
    store.delete("deployments", "a", "default")
    store.create("deployments", deployment("c"))
    store.mutate("deployments", "b", "default", lambda o: o["spec"].update(replicas=9))
    past = store.snapshot("deployments", at)
    assert past.keys == ["default/a", "default/b"]
    assert past.entries["default/b"].obj["spec"]["replicas"] == 2
    assert store.snapshot("deployments").keys == ["default/b", "default/c"]


def test_owner_index_follows_owner_references() -> None:
    store = Store()
    owner = store.create("deployments", deployment())
    rs = {
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 1, "selector": {}, "template": {"spec": {"containers": []}}},
    }
    created = store.create("replicasets", rs)
    assert controller_uid(created) == owner["metadata"]["uid"]
    assert [
        o["metadata"]["name"] for o in store.owned("replicasets", owner["metadata"]["uid"])
    ] == ["web-1"]
    store.delete("replicasets", "web-1", "default")
    assert store.owned("replicasets", owner["metadata"]["uid"]) == []


def test_slow_watcher_is_dropped_not_blocking() -> None:
    store = Store(watch_queue_limit=2)
    _, sub = store.watch("deployments", store.rv)
    for n in range(4):
        store.create("deployments", deployment(f"d{n}"))
    assert sub.dropped and sub.closed
    items = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [type(i) for i in items[:2]] == [WatchEvent, WatchEvent] and items[-1] is CLOSED
    assert store.subscribers("deployments") == ()


def test_crd_objects_keep_sorted_keys_and_cluster_scope_drops_namespace() -> None:
    store = Store()
    app = store.create(
        "keptnapps",
        {
            "metadata": {"name": "shop", "namespace": "prod"},
            "spec": {"version": "1", "workloads": []},
        },
    )
    assert app["apiVersion"] == "lifecycle.keptn.sh/v1" and "generation" in app["metadata"]
    entry = store.entry("keptnapps", "shop", "prod")
    assert entry is not None and entry.full_bytes().startswith(b'{"apiVersion":')
    ns = store.create("namespaces", {"metadata": {"name": "prod", "namespace": "ignored"}})
    assert "namespace" not in ns["metadata"]
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "prod"
