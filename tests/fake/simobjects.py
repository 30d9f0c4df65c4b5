"""Deterministic objects for the sim tests, built the way the simulated cluster serves them.

`make_pod(i)` is a realistic 5-10 KB controller-managed pod (managedFields, projected
service-account volume, probes, per-container statuses) and `make_replicaset(i)` /
`make_deployment(i)` its owners; `make_job` is a Job the simulated Job controller finishes.
"""

from __future__ import annotations

import hashlib
import uuid

from kubesim.controllers.job import DURATION_ANNOTATION, OUTCOME_ANNOTATION
from kubesim.defaults import default_template
from kubesim.podgen import pod_object
from kubesim.podmodel import PodRecord, ip_for, pod_state
from kubesim.util import JsonDict, clone, rfc3339, safe_hash

BENCH_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fixed, so generated objects are stable


def _bench_template(app: str, version: str, containers: int = 2) -> JsonDict:
    specs: list[JsonDict] = []
    for c in range(containers):
        name = app if c == 0 else f"{app}-sidecar-{c}"
        image = f"registry.example.com/bench/{name}:{version}"
        specs.append(
            {
                "name": name,
                "image": image,
                "ports": [{"name": "http", "containerPort": 8080 + c}],
                "env": [
                    {"name": f"SETTING_{k:02d}", "value": f"{app}-{k:02d}"}
                    for k in range(6 if c == 0 else 2)
                ]
                + [
                    {
                        "name": "POD_NAME",
                        "valueFrom": {
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                        },
                    }
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + c}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + c}},
            }
        )
    template: JsonDict = {
        "metadata": {
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/part-of": app.rsplit("-", 1)[0],
                "app.kubernetes.io/version": version,
                "app.kubernetes.io/managed-by": "helm",
                "team": "bench",
            },
            "annotations": {
                "daylight.dev/commit-sha": hashlib.sha1(f"{app}{version}".encode()).hexdigest(),
                "prometheus.io/scrape": "true",
            },
        },
        "spec": {"containers": specs},
    }
    default_template(template)
    return template


def make_deployment(i: int, *, namespaces: int = 20, replicas: int = 3) -> JsonDict:
    """Deployment `bench-app-<i>` (no status), deterministic in `i`."""
    app = f"bench-app-{i}"
    template = _bench_template(app, f"1.{i % 7}.{i % 13}")
    labels = {"app.kubernetes.io/name": app}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": app,
            "namespace": f"bench-{i % namespaces}",
            "labels": labels,
            "creationTimestamp": rfc3339(BENCH_EPOCH + i),
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template},
    }


def make_replicaset(i: int, *, namespaces: int = 20, replicas: int = 3) -> JsonDict:
    """The ReplicaSet of `make_deployment(i)`'s current template, ownerReference included."""
    deploy = make_deployment(i, namespaces=namespaces, replicas=replicas)
    template = clone(deploy["spec"]["template"])
    pth = safe_hash(template)
    template["metadata"]["labels"]["pod-template-hash"] = pth
    selector = dict(deploy["spec"]["selector"]["matchLabels"], **{"pod-template-hash": pth})
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deploy['metadata']['name']}-{pth}",
            "namespace": deploy["metadata"]["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(replicas),
                "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                "deployment.kubernetes.io/revision": "1",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deploy["metadata"]["name"],
                    "uid": safe_hash(["deploy", i], 8),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "creationTimestamp": rfc3339(BENCH_EPOCH + i),
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template},
        "status": {
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": 1,
        },
    }


def make_pod(i: int, *, namespaces: int = 20, pods_per_app: int = 3) -> JsonDict:
    """A realistic running pod of 5-10 KB, deterministic in `i` (no uid/resourceVersion)."""
    app_index = i // pods_per_app
    rs = make_replicaset(app_index, namespaces=namespaces, replicas=pods_per_app)
    rs_meta = rs["metadata"]
    name = f"{rs_meta['name']}-{safe_hash(['pod', i], 5)}"
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs_meta["name"],
        "uid": safe_hash(["rs", app_index], 8),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    created = BENCH_EPOCH + i
    rec = PodRecord(
        name=name,
        namespace=rs_meta["namespace"],
        owner=owner,
        template=rs["spec"]["template"],
        labels=dict(rs["spec"]["template"]["metadata"]["labels"]),
        created_at=created,
        node=f"sim-node-{i % 10 + 1}",
        ip=ip_for(i),
        ready_s=4.0,
        crash_after_s=0.0,
    )
    rec.uid = str(uuid.UUID(hashlib.md5(name.encode()).hexdigest()))
    return pod_object(rec, pod_state(rec, created + 60.0), managed_fields=True)


def make_job(
    name: str, namespace: str, *, outcome: str = "succeed", duration_s: float = 5.0
) -> JsonDict:
    """A Job the simulated Job controller will finish with `outcome` after `duration_s`."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {OUTCOME_ANNOTATION: outcome, DURATION_ANNOTATION: str(duration_s)},
        },
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "task", "image": "busybox:1.36", "command": ["true"]}],
                }
            }
        },
    }
