"""The launcher on the real control plane: a Deployment annotated with pre- and
post-deployment tasks rolls out, the launcher creates each task's Job exactly once (also
across a restart), kwok completes or fails the Job pods, and a failing post-deployment task
becomes a failed change with reason task_failed in the exporter's model (run in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.app.launcher import Launcher
from exporter.events import keys
from exporter.kube.config import load
from exporter.launcher.jobs import LauncherConfig
from tests.cluster.controlplane import BEHAVIOR_ANNOTATION, ControlPlane
from tests.evaluations.harness import Exporter, wait_for

pytestmark = pytest.mark.cluster


def task_definition(name: str, *, behavior: str | None = None) -> dict[str, Any]:
    annotations = {BEHAVIOR_ANNOTATION: behavior} if behavior else {}
    return {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "container": {"name": "task", "image": "registry.example/tasks:1", "args": [name]},
            "retries": 0,
            "timeout": "2m",
        },
    }


def deployment(image: str) -> dict[str, Any]:
    labels = {"app": "checkout"}
    annotations = {
        "keptn.sh/app": "shop",
        "keptn.sh/pre-deployment-tasks": "migrate",
        "keptn.sh/post-deployment-tasks": "verify",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": "checkout", "image": image}]},
            },
        },
    }


def task_jobs(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cp.kubectl_json(
        "get", "jobs", "-n", namespace, "-l", f"{keys.MANAGED_BY}={keys.LAUNCHER}"
    )["items"]
    return items


def by_phase(jobs: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    return [j for j in jobs if j["metadata"]["labels"][keys.PHASE_LABEL] == phase]


def condition(job: dict[str, Any]) -> str | None:
    for c in job.get("status", {}).get("conditions", []):
        if c["type"] in ("Complete", "Failed") and c["status"] == "True":
            return str(c["type"])
    return None


async def test_tasks_run_beside_the_rollout_and_a_failed_post_task_fails_the_change(
    control_plane: ControlPlane, keptn_crds: list[str], namespace: str
) -> None:
    cp = control_plane
    for definition in (task_definition("migrate"), task_definition("verify", behavior="job-fail")):
        cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(definition))
    access = load(str(cp.kubeconfig))
    config = LauncherConfig(
        allowed_namespaces=(namespace,),
        namespaces=(namespace,),
        tick_s=0.2,
        definition_grace_s=5.0,
        watch_timeout_s=60,
    )
    exporter = Exporter(access, namespaces=(namespace,))
    await exporter.start()
    launcher = Launcher(access, config)
    await launcher.start()
    try:
        cp.kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps(deployment("registry.example/checkout:1.0")),
        )

        def both_finished() -> list[dict[str, Any]] | None:
            jobs = task_jobs(cp, namespace)
            if len(jobs) == 2 and all(condition(j) for j in jobs):
                return jobs
            return None

        jobs = await wait_for("pre and post task Jobs finished", both_finished, timeout=120)
        (pre,) = by_phase(jobs, "pre")
        (post,) = by_phase(jobs, "post")
        assert condition(pre) == "Complete"  # kwok's default: Job pods succeed
        assert condition(post) == "Failed"  # daylight.test/behavior: job-fail on the template
        assert pre["metadata"]["ownerReferences"][0]["name"] == "checkout"
        env = post["spec"]["template"]["spec"]["containers"][0]["env"]
        context = json.loads(next(e["value"] for e in env if e["name"] == "KEPTN_CONTEXT"))
        assert context["appName"] == "shop" and context["taskType"] == "post"
        assert context["workloadName"] == "checkout" and context["workloadVersion"] == "1.0"
        assert context["objectType"] == "Workload" and context["traceparent"].startswith("00-")

        # the exporter saw the failed post task: a failed change, reason task_failed
        def failed_change() -> bool:
            groups = exporter.deployments(namespace, "shop")
            return bool(groups) and "task_failed" in groups[-1].failure_reasons

        await wait_for("task_failed in the exporter's model", failed_change, timeout=60)
        (group,) = exporter.deployments(namespace, "shop")
        assert group.outcome.value == "succeeded"  # the rollout succeeded; the change failed
        assert exporter.checks.stats.tasks == {("pre", "succeeded"): 1, ("post", "failed"): 1}
        phases = {(p.name, p.status) for p in exporter.checks.phases(group)}
        assert phases == {("pre_deployment_tasks", "ok"), ("post_deployment_tasks", "error")}
        await wait_for("Events sent", lambda: launcher.stats.events["created"] == 2)
        assert launcher.stats.created == {"pre": 1, "post": 1}
        events = cp.kubectl_json("get", "events.events.k8s.io", "-n", namespace)["items"]
        launched = [e for e in events if e.get("reason") == "TaskLaunched"]
        assert len(launched) == 2 and launched[0]["regarding"]["kind"] == "Deployment"
    finally:
        await launcher.stop()

    # a restarted launcher (within the catch-up window) launches nothing twice
    again = Launcher(access, config)
    await again.start()
    try:
        await wait_for("catch-up done", lambda: again.stats.existing == {"post": 1})
        assert again.stats.created == {}
        assert len(task_jobs(cp, namespace)) == 2

        # the next version: one new pre and one new post Job
        cp.kubectl(
            "set",
            "image",
            "-n",
            namespace,
            "deployment/checkout",
            "checkout=registry.example/checkout:1.1",
        )
        await wait_for(
            "second round of task Jobs", lambda: len(task_jobs(cp, namespace)) == 4, timeout=120
        )
        await wait_for("launches counted", lambda: again.stats.created == {"pre": 1, "post": 1})
        assert len(task_jobs(cp, namespace)) == 4
    finally:
        await again.stop()
        await exporter.stop()


async def test_least_privilege_launcher_without_event_rights(
    control_plane: ControlPlane, keptn_crds: list[str], namespace: str
) -> None:
    """RBAC like the chart's launcher Role: Jobs and ConfigMaps in its namespace, reads of
    what it watches, no Events and no Secrets. Tasks still launch; Events are switched off."""
    cp = control_plane
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "launcher"},
        "rules": [
            {
                "apiGroups": ["apps"],
                "verbs": ["get", "list", "watch"],
                "resources": [
                    "deployments",
                    "replicasets",
                    "statefulsets",
                    "daemonsets",
                    "controllerrevisions",
                ],
            },
            {
                "apiGroups": ["lifecycle.keptn.sh"],
                "verbs": ["get", "list", "watch"],
                "resources": ["keptnapps", "keptntaskdefinitions"],
            },
            {
                "apiGroups": ["batch"],
                "resources": ["jobs"],
                "verbs": ["create", "get", "list", "watch", "delete"],
            },
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["create", "get", "list", "watch", "delete"],
            },
        ],
    }
    cp.kubectl("create", "serviceaccount", "launcher", "-n", namespace)
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(role))
    cp.kubectl(
        "create",
        "rolebinding",
        "launcher",
        "-n",
        namespace,
        "--role=launcher",
        f"--serviceaccount={namespace}:launcher",
    )
    kubeconfig = cp.service_account_kubeconfig(namespace, "launcher")
    secret_task = {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": "notify"},
        "spec": {
            "python": {
                "inline": {"code": "print('hi')"},
                "secureParameters": {"secret": "not-readable"},
            }
        },
    }
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(secret_task))
    body = deployment("registry.example/checkout:2.0")
    body["spec"]["template"]["metadata"]["annotations"] = {
        "keptn.sh/post-deployment-tasks": "notify"
    }
    config = LauncherConfig(
        allowed_namespaces=(namespace,), namespaces=(namespace,), tick_s=0.2, watch_timeout_s=60
    )
    launcher = Launcher(load(str(kubeconfig)), config)
    await launcher.start()
    try:
        cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
        jobs = await wait_for("post Job", lambda: task_jobs(cp, namespace), timeout=120)
        (job,) = jobs
        assert keys.RESULT_LABEL not in job["metadata"]["labels"]  # a real task, not a record
        configmaps = cp.kubectl_json("get", "configmaps", "-n", namespace)["items"]
        code = [c for c in configmaps if c["metadata"]["name"].startswith("daylight-fn-notify-")]
        assert len(code) == 1 and code[0]["immutable"] is True
        assert code[0]["metadata"]["ownerReferences"][0]["kind"] == "KeptnTaskDefinition"
        await wait_for("Events switched off", lambda: launcher.stats.events["failed"] == 1)
        assert launcher.stats.invalid == {}  # the Secret could not be checked: not a failure
    finally:
        await launcher.stop()


async def test_missing_secret_and_configmap_fail_the_task_before_it_runs(
    control_plane: ControlPlane, keptn_crds: list[str], namespace: str
) -> None:
    """With the right to ask (metadata only), a missing Secret or ConfigMap is a failed task
    with a reason, a Warning Event and a record the exporter reads; a present one is fine."""
    cp = control_plane
    cp.kubectl("create", "secret", "generic", "present", "-n", namespace,
               "--from-literal=SECURE_DATA=s3cr3t")  # fmt: skip  # a table
    definitions = {
        "with-secret": {"python": {"inline": {"code": "print(1)"},
                                   "secureParameters": {"secret": "present"}}},
        "without-secret": {"python": {"inline": {"code": "print(1)"},
                                      "secureParameters": {"secret": "absent"}}},
        "without-code": {"deno": {"configMapRef": {"name": "no-such-code"}}},
    }  # fmt: skip  # a table
    for name, spec in definitions.items():
        body: dict[str, Any] = {"apiVersion": "lifecycle.keptn.sh/v1",
                                "kind": "KeptnTaskDefinition",
                                "metadata": {"name": name}, "spec": spec}  # fmt: skip  # a table
        cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    access = load(str(cp.kubeconfig))
    exporter = Exporter(access, namespaces=(namespace,))
    await exporter.start()
    config = LauncherConfig(allowed_namespaces=(namespace,), namespaces=(namespace,), tick_s=0.2)
    launcher = Launcher(access, config)
    await launcher.start()
    try:
        body = deployment("registry.example/checkout:3.0")
        body["spec"]["template"]["metadata"]["annotations"] = {
            "keptn.sh/app": "shop",
            "keptn.sh/post-deployment-tasks": "with-secret,without-secret,without-code",
        }
        cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
        jobs = await wait_for("three post Jobs", lambda: len(task_jobs(cp, namespace)) == 3
                              and task_jobs(cp, namespace), timeout=120)  # fmt: skip  # a table
        records = {
            j["metadata"]["labels"][keys.TASK_NAME_KEY]: j["metadata"]["annotations"].get(
                keys.FAILURE_ANNOTATION, ""
            )
            for j in jobs
        }
        assert records["with-secret"] == ""
        assert records["without-secret"].startswith("missing_secret: Secret")
        assert records["without-code"].startswith("missing_configmap: ConfigMap")
        await wait_for("Events sent", lambda: launcher.stats.events["created"] == 3)
        assert launcher.stats.invalid == {"missing_secret": 1, "missing_configmap": 1}
        events = cp.kubectl_json("get", "events.events.k8s.io", "-n", namespace)["items"]
        warnings = sorted(e["note"] for e in events if e.get("type") == "Warning")
        assert len(warnings) == 2 and "missing_configmap" in warnings[0]

        def failed_change() -> bool:
            groups = exporter.deployments(namespace, "shop")
            return bool(groups) and "task_failed" in groups[-1].failure_reasons

        await wait_for("task_failed from the records", failed_change, timeout=60)
        assert exporter.checks.stats.task_failures["missing_secret"] == 1
    finally:
        await launcher.stop()
        await exporter.stop()
