"""The e2e control plane itself behaves like a real cluster (rollouts, failures, Jobs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cluster.controlplane import BEHAVIOR_ANNOTATION, ControlPlane, read_versions

pytestmark = pytest.mark.cluster

IMAGE = "registry.example/daylight/app:1.0.0"


def pod_template(
    labels: dict[str, str], behavior: str | None = None, image: str = IMAGE
) -> dict[str, Any]:
    annotations = {BEHAVIOR_ANNOTATION: behavior} if behavior else {}
    return {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def deployment(
    name: str,
    *,
    replicas: int = 2,
    behavior: str | None = None,
    image: str = IMAGE,
    progress_deadline: int | None = None,
) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": pod_template(labels, behavior, image),
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def job(name: str, *, behavior: str | None = None) -> dict[str, Any]:
    template = pod_template({"job": name}, behavior)
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": template},
    }


def apply(cp: ControlPlane, namespace: str, obj: dict[str, Any]) -> None:
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def rollout_status(cp: ControlPlane, namespace: str, ref: str, timeout: int = 60) -> str:
    proc = cp.kubectl(
        "rollout", "status", "-n", namespace, ref, f"--timeout={timeout}s", timeout=timeout + 10
    )
    return proc.stdout


def pods(cp: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cp.kubectl_json("get", "pods", "-n", namespace, "-l", selector)[
        "items"
    ]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def replicasets(cp: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cp.kubectl_json(
        "get", "replicasets", "-n", namespace, "-l", selector
    )["items"]
    return items


def test_nodes_ready_and_versions(control_plane: ControlPlane) -> None:
    nodes = control_plane.kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    assert len(nodes) == len(control_plane.nodes) >= 2
    for node in nodes:
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert not node["spec"].get("taints")
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True"
    control_plane.kubectl("wait", "--for=condition=Ready", "node", "-l", "type=kwok")
    version = control_plane.kubectl_json("version")
    want = read_versions()["K8S_VERSION"]
    assert version["serverVersion"]["gitVersion"] == want
    assert version["clientVersion"]["gitVersion"] == want


def test_deployment_rolls_out(control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, namespace, deployment("web"))
    out = rollout_status(control_plane, namespace, "deployment/web")
    assert "successfully rolled out" in out
    ready = [p for p in pods(control_plane, namespace, "app=web") if is_ready(p)]
    assert len(ready) == 2
    for pod in ready:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"] in control_plane.nodes
        assert pod["status"]["podIP"]
    dep = control_plane.kubectl_json("get", "deployment", "web", "-n", namespace)
    assert dep["status"]["readyReplicas"] == 2
    assert dep["status"]["updatedReplicas"] == 2


def test_deployment_image_update_and_undo(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("api"))
    rollout_status(cp, namespace, "deployment/api")
    first = {rs["metadata"]["name"] for rs in replicasets(cp, namespace, "app=api")}
    assert len(first) == 1

    cp.kubectl("set", "image", "-n", namespace, "deployment/api", "app=registry.example/app:2")
    rollout_status(cp, namespace, "deployment/api")
    rss = replicasets(cp, namespace, "app=api")
    assert len(rss) == 2
    new = [rs for rs in rss if rs["metadata"]["name"] not in first]
    assert len(new) == 1
    assert new[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new[0]["status"].get("readyReplicas") == 2
    old = [rs for rs in rss if rs["metadata"]["name"] in first]
    assert old[0]["spec"]["replicas"] == 0
    images = {p["spec"]["containers"][0]["image"] for p in pods(cp, namespace, "app=api")}
    assert images == {"registry.example/app:2"}

    cp.kubectl("rollout", "undo", "-n", namespace, "deployment/api")
    rollout_status(cp, namespace, "deployment/api")
    dep = cp.kubectl_json("get", "deployment", "api", "-n", namespace)
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_rollout_restart(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("worker"))
    rollout_status(cp, namespace, "deployment/worker")
    before = {p["metadata"]["name"] for p in pods(cp, namespace, "app=worker")}
    cp.kubectl("rollout", "restart", "-n", namespace, "deployment/worker")
    rollout_status(cp, namespace, "deployment/worker")

    def replaced() -> bool:
        current = pods(cp, namespace, "app=worker")
        names = {p["metadata"]["name"] for p in current}
        return len(current) == 2 and not names & before and all(map(is_ready, current))

    cp.wait_until("restarted pods replace the old ones", replaced, timeout=60)
    dep = cp.kubectl_json("get", "deployment", "worker", "-n", namespace)
    template_annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in template_annotations
    assert len(replicasets(cp, namespace, "app=worker")) == 2


def test_never_ready_exceeds_progress_deadline(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("stuck", behavior="never-ready", progress_deadline=10))

    def deadline_exceeded() -> dict[str, Any] | None:
        dep = cp.kubectl_json("get", "deployment", "stuck", "-n", namespace)
        for cond in dep["status"].get("conditions", []):
            if cond["type"] == "Progressing" and cond["reason"] == "ProgressDeadlineExceeded":
                return dict(cond)
        return None

    cond = cp.wait_until("ProgressDeadlineExceeded", deadline_exceeded, timeout=90)
    assert cond["status"] == "False"
    current = pods(cp, namespace, "app=stuck")
    assert len(current) == 2
    for pod in current:
        assert pod["status"]["phase"] == "Running"
        assert not is_ready(pod)
        status = pod["status"]["containerStatuses"][0]
        assert status["ready"] is False
        assert "running" in status["state"]
    proc = cp.kubectl(
        "rollout", "status", "-n", namespace, "deployment/stuck", "--timeout=20s", check=False
    )
    assert proc.returncode != 0
    assert "exceeded its progress deadline" in proc.stderr


def test_crashloop(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("crashy", replicas=1, behavior="crashloop"))

    def restarted_three_times() -> dict[str, Any] | None:
        for pod in pods(cp, namespace, "app=crashy"):
            for status in pod["status"].get("containerStatuses", []):
                if status["restartCount"] >= 3:
                    return pod
        return None

    pod = cp.wait_until("restartCount >= 3", restarted_three_times, timeout=60)
    assert pod["status"]["phase"] == "Running"
    assert not is_ready(pod)
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is False
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    dep = cp.kubectl_json("get", "deployment", "crashy", "-n", namespace)
    assert dep["status"].get("readyReplicas", 0) == 0
    assert dep["status"]["unavailableReplicas"] == 1


def test_statefulset_rolls_out(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    labels = {"app": "db"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 5432}]},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": pod_template(labels),
        },
    }
    apply(cp, namespace, service)
    apply(cp, namespace, sts)
    rollout_status(cp, namespace, "statefulset/db")
    names = sorted(p["metadata"]["name"] for p in pods(cp, namespace, "app=db") if is_ready(p))
    assert names == ["db-0", "db-1"]
    cp.kubectl("set", "image", "-n", namespace, "statefulset/db", "app=registry.example/db:2")
    rollout_status(cp, namespace, "statefulset/db")
    got = cp.kubectl_json("get", "statefulset", "db", "-n", namespace)["status"]
    assert got["updateRevision"] == got["currentRevision"]
    assert got["readyReplicas"] == 2


def test_daemonset_rolls_out(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    labels = {"app": "agent"}
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": labels}, "template": pod_template(labels)},
    }
    apply(cp, namespace, ds)
    rollout_status(cp, namespace, "daemonset/agent")
    status = cp.kubectl_json("get", "daemonset", "agent", "-n", namespace)["status"]
    assert status["desiredNumberScheduled"] == len(cp.nodes)
    assert status["numberReady"] == len(cp.nodes)
    nodes = {p["spec"]["nodeName"] for p in pods(cp, namespace, "app=agent")}
    assert nodes == set(cp.nodes)


def test_job_succeeds(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, job("ok"))
    cp.kubectl("wait", "-n", namespace, "--for=condition=Complete", "job/ok", "--timeout=60s")
    got = cp.kubectl_json("get", "job", "ok", "-n", namespace)["status"]
    assert got["succeeded"] == 1
    (pod,) = pods(cp, namespace, "job=ok")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_job_fails(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, job("broken", behavior="job-fail"))
    cp.kubectl("wait", "-n", namespace, "--for=condition=Failed", "job/broken", "--timeout=60s")
    got = cp.kubectl_json("get", "job", "broken", "-n", namespace)["status"]
    assert got["failed"] == 1
    assert not got.get("succeeded")
    failed = [c for c in got["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "BackoffLimitExceeded"
    (pod,) = pods(cp, namespace, "job=broken")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1
    assert terminated["reason"] == "Error"


def test_service_account_kubeconfig_is_subject_to_rbac(
    control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    cp.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubeconfig = cp.service_account_kubeconfig(namespace, "reader")
    denied = cp.kubectl("get", "pods", "-n", namespace, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr
    cp.kubectl(
        "create", "role", "pod-reader", "-n", namespace, "--verb=get,list,watch", "--resource=pods"
    )
    cp.kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        namespace,
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
    )
    cp.wait_until(
        "RBAC grant takes effect",
        lambda: (
            cp.kubectl(
                "get", "pods", "-n", namespace, kubeconfig=kubeconfig, check=False
            ).returncode
            == 0
        ),
        timeout=20,
    )
    user = cp.user_kubeconfig("alice", ["devs"])
    who = cp.kubectl("auth", "whoami", "-o", "json", kubeconfig=user)
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "alice"
    assert "devs" in info["groups"]
