"""Simulated Deployment/ReplicaSet controllers, stepped on a simulated clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubesim.controllers import Controllers
from kubesim.controllers.deployment import REVISION, REVISION_HISTORY
from kubesim.podmodel import BEHAVIOR_ANNOTATION
from kubesim.store import Store

T0 = 1_700_000_000.0
NS = "shop"


def template(image: str, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}, "annotations": annotations},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }


class Cluster:
    def __init__(self, *, with_pods: bool = False, replicas: int = 3, **spec: object) -> None:
        self.store = Store(seed=1)
        self.ctl = Controllers(self.store, with_pods=with_pods, pod_ready_s=2.0, seed=1)
        self.now = T0
        body = {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template("shop/web:1.0"),
                **spec,
            },
        }
        self.store.create("deployments", body, now=T0)
        self.ctl.step(T0)

    def settle(self, seconds: float = 60.0) -> None:
        self.now = self.ctl.advance(self.now + seconds)

    def change(self, edit: Callable[[dict[str, Any]], None]) -> None:
        self.store.mutate("deployments", "web", NS, edit)
        self.ctl.step(self.now)

    def set_template(self, image: str, **annotations: str) -> None:
        self.change(lambda d: d["spec"].update(template=template(image, **annotations)))

    @property
    def deploy(self) -> dict[str, Any]:
        found = self.store.get("deployments", "web", NS)
        assert found is not None
        return found

    def replicasets(self) -> list[dict[str, Any]]:
        return sorted(
            self.store.list("replicasets", NS),
            key=lambda r: int(r["metadata"]["annotations"][REVISION]),
        )

    def progress_reasons_since(self, rv: int) -> list[str]:
        """Progressing reasons as watchers saw them (several can pass within one step)."""
        reasons: list[str] = []
        for event in self.store.history("deployments"):
            conditions = (event.entry.obj.get("status") or {}).get("conditions") or []
            for cond in conditions:
                fresh = not reasons or reasons[-1] != cond["reason"]
                if event.rv > rv and cond["type"] == "Progressing" and fresh:
                    reasons.append(cond["reason"])
        return reasons

    def condition(self, kind: str) -> dict[str, Any]:
        return next(c for c in self.deploy["status"]["conditions"] if c["type"] == kind)


def test_a_new_deployment_gets_a_replicaset_and_completes() -> None:
    c = Cluster()
    c.settle()
    (rs,) = c.replicasets()
    pth = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pth}" and len(pth) == 10
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pth}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pth
    owner = rs["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Deployment" and owner["controller"] is True
    assert owner["uid"] == c.deploy["metadata"]["uid"]
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": rs["metadata"]["generation"],
    }
    deploy = c.deploy
    assert deploy["metadata"]["annotations"][REVISION] == "1"
    status = deploy["status"]
    assert status["observedGeneration"] == 1
    assert (
        status["replicas"],
        status["updatedReplicas"],
        status["readyReplicas"],
        status["availableReplicas"],
    ) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in status  # omitempty, like the real server
    assert c.condition("Available")["reason"] == "MinimumReplicasAvailable"
    progressing = c.condition("Progressing")
    assert progressing["status"] == "True" and progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == f'ReplicaSet "web-{pth}" has successfully progressed.'


def test_a_new_version_rolls_within_max_surge() -> None:
    c = Cluster(replicas=4)
    c.settle()
    c.now += 100
    rv = c.store.rv
    c.set_template("shop/web:1.1")
    old, new = c.replicasets()
    assert new["metadata"]["annotations"][REVISION] == "2"
    reasons = c.progress_reasons_since(rv)
    assert reasons == ["NewReplicaSetAvailable", "NewReplicaSetCreated", "ReplicaSetUpdated"]
    seen_updating = False
    surge_ok = True
    for _ in range(40):
        nxt = c.ctl.next_wakeup()
        if nxt is None:
            break
        c.now = nxt
        c.ctl.step(c.now)
        rs_all = c.replicasets()
        surge_ok &= sum(r["spec"]["replicas"] for r in rs_all) <= 4 + 1
        seen_updating |= c.condition("Progressing")["reason"] == "ReplicaSetUpdated"
    assert surge_ok and seen_updating
    old, new = c.replicasets()
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 4
    assert c.deploy["metadata"]["annotations"][REVISION] == "2"
    progressing = c.condition("Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["lastUpdateTime"] > progressing["lastTransitionTime"]


def test_rollback_reuses_the_replicaset_and_records_its_history() -> None:
    c = Cluster()
    c.settle()
    first = c.replicasets()[0]["metadata"]["name"]
    c.set_template("shop/web:1.1")
    c.settle()
    c.set_template("shop/web:1.0")  # kubectl rollout undo
    c.settle()
    rss = c.replicasets()
    assert len(rss) == 2
    reused = rss[-1]
    assert reused["metadata"]["name"] == first
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert reused["metadata"]["annotations"][REVISION_HISTORY] == "1"
    assert reused["spec"]["replicas"] == 3 and rss[0]["spec"]["replicas"] == 0
    assert c.deploy["metadata"]["annotations"][REVISION] == "3"
    c.set_template("shop/web:1.1")  # and forward again
    c.settle()
    assert c.replicasets()[-1]["metadata"]["annotations"][REVISION_HISTORY] == "2"


def test_restart_makes_a_new_replicaset_and_scaling_does_not() -> None:
    c = Cluster()
    c.settle()
    generation = c.deploy["metadata"]["generation"]
    c.change(lambda d: d["spec"].update(replicas=5))
    c.settle()
    assert c.deploy["metadata"]["generation"] == generation + 1
    assert len(c.replicasets()) == 1 and c.replicasets()[0]["spec"]["replicas"] == 5
    assert c.deploy["status"]["availableReplicas"] == 5
    c.set_template("shop/web:1.0", **{"kubectl.kubernetes.io/restartedAt": "2023-11-14T22:20:00Z"})
    c.settle()
    rss = c.replicasets()
    assert len(rss) == 2 and rss[-1]["metadata"]["annotations"][REVISION] == "2"
    assert rss[0]["spec"]["template"]["spec"] == rss[1]["spec"]["template"]["spec"]


def test_never_ready_revision_exceeds_the_progress_deadline_then_is_fixed() -> None:
    c = Cluster(progressDeadlineSeconds=15)
    c.settle()
    c.set_template("shop/web:1.1", **{BEHAVIOR_ANNOTATION: "never-ready"})
    c.settle(10)
    assert c.condition("Progressing")["status"] == "True"
    c.settle(20)
    progressing = c.condition("Progressing")
    assert progressing["status"] == "False" and progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["message"].endswith("has timed out progressing.")
    old, new = c.replicasets()
    assert old["status"]["availableReplicas"] == 3  # the old version keeps serving
    assert new["status"]["replicas"] >= 1 and "readyReplicas" not in new["status"]
    assert c.condition("Available")["status"] == "True"
    rv = c.store.rv
    c.set_template("shop/web:1.2")  # fix forward
    assert c.progress_reasons_since(rv)[:2] == ["ProgressDeadlineExceeded", "NewReplicaSetCreated"]
    assert c.condition("Progressing")["status"] == "True"
    c.settle()
    assert c.condition("Progressing")["reason"] == "NewReplicaSetAvailable"
    assert [r["spec"]["replicas"] for r in c.replicasets()] == [0, 0, 3]


def test_pods_are_realistic_and_follow_scaling() -> None:
    c = Cluster(with_pods=True, replicas=2)
    c.settle()
    pods = c.store.list("pods", NS)
    assert len(pods) == 2
    pod = pods[0]
    (rs,) = c.replicasets()
    assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
    assert (
        pod["metadata"]["labels"]["pod-template-hash"]
        == rs["metadata"]["labels"]["pod-template-hash"]
    )
    assert pod["metadata"]["generateName"] == rs["metadata"]["name"] + "-"
    status = pod["status"]
    assert status["phase"] == "Running"
    assert {x["type"]: x["status"] for x in status["conditions"]}["Ready"] == "True"
    container = status["containerStatuses"][0]
    assert container["imageID"].startswith("docker-pullable://shop/web@sha256:")
    assert container["ready"] is True and container["restartCount"] == 0
    assert "running" in container["state"]
    assert pod["spec"]["nodeName"].startswith("sim-node-")
    c.change(lambda d: d["spec"].update(replicas=1))
    c.settle()
    assert len(c.store.list("pods", NS)) == 1


def test_crashloop_pods_restart_with_backoff() -> None:
    c = Cluster(with_pods=True, replicas=1)
    c.settle()
    c.set_template(
        "shop/web:1.1",
        **{BEHAVIOR_ANNOTATION: "crashloop", "daylight.sim/crash-after-seconds": "10"},
    )
    c.settle(8)
    assert c.condition("Progressing")["reason"] == "NewReplicaSetAvailable"  # it did roll out
    c.settle(120)
    (pod,) = c.store.list("pods", NS)
    container = pod["status"]["containerStatuses"][0]
    assert container["restartCount"] >= 3
    assert "CrashLoopBackOff" in str(container["state"]) or "running" in container["state"]
    assert container["lastState"]["terminated"]["reason"] == "Error"
    seen_backoff = False
    for _ in range(10):
        c.settle(15)
        (pod,) = c.store.list("pods", NS)
        state = pod["status"]["containerStatuses"][0]["state"]
        seen_backoff |= state.get("waiting", {}).get("reason") == "CrashLoopBackOff"
    assert seen_backoff


@pytest.mark.parametrize("limit", [0, 2])
def test_revision_history_limit_prunes_old_replicasets(limit: int) -> None:
    c = Cluster(revisionHistoryLimit=limit)
    for minor in range(1, 6):
        c.settle()
        c.set_template(f"shop/web:1.{minor}")
    c.settle()
    revisions = [int(r["metadata"]["annotations"][REVISION]) for r in c.replicasets()]
    assert revisions == list(range(6 - limit, 7))


def test_deleting_a_deployment_collects_its_replicasets_and_pods() -> None:
    c = Cluster(with_pods=True)
    c.settle()
    assert c.store.count("pods") == 3
    c.store.delete("deployments", "web", NS)
    c.ctl.step(c.now)
    assert c.store.count("replicasets") == 0 and c.store.count("pods") == 0


def test_a_deleted_pod_is_replaced_under_a_new_name() -> None:
    c = Cluster(with_pods=True, replicas=1)
    c.settle()
    (pod,) = c.store.list("pods", NS)
    c.store.delete("pods", pod["metadata"]["name"], NS)
    c.ctl.step(c.now)
    (replacement,) = c.store.list("pods", NS)
    assert replacement["metadata"]["name"] != pod["metadata"]["name"]
    assert replacement["status"]["phase"] == "Pending"
