"""Simulated StatefulSet, DaemonSet and Job controllers."""

from __future__ import annotations

from typing import Any

from kubesim.controllers import Controllers
from kubesim.store import Store
from tests.fake.simobjects import make_job

T0 = 1_700_000_000.0
NS = "data"


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": image}]},
    }


def setup(kind: str, resource: str, **spec: object) -> tuple[Store, Controllers, float]:
    store = Store(seed=2)
    ctl = Controllers(store, with_pods=True, pod_ready_s=2.0, nodes=3, seed=2)
    body = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "db", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": template("pg:16.1"),
            **spec,
        },
    }
    store.create(resource, body, now=T0)
    return store, ctl, ctl.advance(T0 + 60, start=T0)


def revisions(store: Store) -> list[dict[str, Any]]:
    return sorted(store.list("controllerrevisions", NS), key=lambda r: r["revision"])


def status_of(store: Store, resource: str) -> dict[str, Any]:
    obj = store.get(resource, "db", NS)
    assert obj is not None, f"{resource}/db is gone"
    status: dict[str, Any] = obj["status"]
    return status


def retemplate(store: Store, resource: str, image: str) -> None:
    store.mutate(resource, "db", NS, lambda o: o["spec"].update(template=template(image)))


def test_statefulset_revisions_and_ordered_rolling_update() -> None:
    store, ctl, now = setup("StatefulSet", "statefulsets", replicas=3, serviceName="db")
    (first,) = revisions(store)
    digest = first["metadata"]["labels"]["controller.kubernetes.io/hash"]
    assert first["metadata"]["name"] == f"db-{digest}" and first["revision"] == 1
    assert first["data"]["spec"]["template"]["$patch"] == "replace"
    assert first["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "pg:16.1"
    assert first["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    status = status_of(store, "statefulsets")
    assert status["currentRevision"] == status["updateRevision"] == first["metadata"]["name"]
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (3, 3, 3)
    pods = {p["metadata"]["name"]: p for p in store.list("pods", NS)}
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    assert (
        pods["db-0"]["metadata"]["labels"]["controller-revision-hash"] == first["metadata"]["name"]
    )

    retemplate(store, "statefulsets", "pg:16.2")
    ctl.step(now)
    second = revisions(store)[-1]
    assert second["revision"] == 2
    replaced: list[str] = []
    while (at := ctl.next_wakeup()) is not None and at < now + 120:
        ctl.step(at)
        for pod in store.list("pods", NS):
            revision = pod["metadata"]["labels"]["controller-revision-hash"]
            name = pod["metadata"]["name"]
            if revision == second["metadata"]["name"] and name not in replaced:
                replaced.append(name)
        mid = status_of(store, "statefulsets")
        if mid["updatedReplicas"] < 3:
            assert mid["currentRevision"] == first["metadata"]["name"]
    assert replaced == ["db-2", "db-1", "db-0"]  # highest ordinal first
    status = status_of(store, "statefulsets")
    assert status["currentRevision"] == status["updateRevision"] == second["metadata"]["name"]

    retemplate(store, "statefulsets", "pg:16.1")  # rollback: the old revision is reused
    ctl.advance(now + 300)
    revs = revisions(store)
    assert [r["metadata"]["name"] for r in revs] == [
        second["metadata"]["name"],
        first["metadata"]["name"],
    ]
    assert revs[-1]["revision"] == 3
    status = status_of(store, "statefulsets")
    assert status["updateRevision"] == status["currentRevision"] == first["metadata"]["name"]


def test_daemonset_runs_one_pod_per_node_and_rolls_with_revisions() -> None:
    store, ctl, now = setup("DaemonSet", "daemonsets")
    (first,) = revisions(store)
    digest = first["metadata"]["labels"]["controller-revision-hash"]
    assert first["metadata"]["name"] == f"db-{digest}"
    status = status_of(store, "daemonsets")
    assert status == {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 3,
        "observedGeneration": 1,
        "updatedNumberScheduled": 3,
        "numberAvailable": 3,
    }
    nodes = sorted(p["spec"]["nodeName"] for p in store.list("pods", NS))
    assert nodes == ["sim-node-1", "sim-node-2", "sim-node-3"]
    retemplate(store, "daemonsets", "pg:16.2")
    ctl.step(now)
    unavailable = 0
    while (at := ctl.next_wakeup()) is not None and at < now + 120:
        ctl.step(at)
        mid = status_of(store, "daemonsets")
        unavailable = max(unavailable, mid.get("numberUnavailable", 0))
    assert unavailable == 1  # maxUnavailable: 1
    status = status_of(store, "daemonsets")
    assert status["updatedNumberScheduled"] == status["numberAvailable"] == 3
    assert status["observedGeneration"] == 2
    second = revisions(store)[-1]
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in store.list("pods", NS)}
    assert hashes == {second["metadata"]["labels"]["controller-revision-hash"]}


def test_jobs_succeed_or_fail_after_their_duration() -> None:
    store = Store()
    ctl = Controllers(store, seed=0)
    store.create("jobs", make_job("ok", "ci", duration_s=5), now=T0)
    store.create("jobs", make_job("bad", "ci", outcome="fail", duration_s=2), now=T0)
    ctl.step(T0)
    ok = store.get("jobs", "ok", "ci")
    assert ok is not None and ok["status"]["active"] == 1
    ctl.advance(T0 + 10)
    ok, bad = store.get("jobs", "ok", "ci"), store.get("jobs", "bad", "ci")
    assert ok is not None and bad is not None
    assert ok["status"]["succeeded"] == 1 and ok["status"]["conditions"][-1]["type"] == "Complete"
    assert ok["status"]["completionTime"] == "2023-11-14T22:13:25Z"
    assert bad["status"]["failed"] == 7
    assert bad["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"
