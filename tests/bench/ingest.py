"""Ingest, memory and /metrics render benchmark for Daylight (performance-anchors §4, §7).

Run from the repository root::

    .venv/bin/python -m tests.bench.ingest [--json] [--pods N] [--events N] [--profile]

One run measures, side by side on the same bytes:

1. RSS per cached pod: 100k distinct pods decoded through the pods informer into its cache
   (run first, before the process has freed memory that the cache could silently reuse).
2. Watch ingest throughput. One list of synthetic watch event lines (about 90% Pods of
   6-11 KB, plus ReplicaSets and Deployments), each serialized once with orjson, is fed to:
   (a) our path: ``Informer.handle_line`` of the pods / replicasets / deployments informer,
       whose sink feeds a real ``DoraModel`` through the product's pipeline exactly as
       ``daylight run`` does (decode + cache + model);
   (b) ``orjson.loads(line)`` alone;
   (c) the kubernetes client: ``Watch().unmarshal_event(line.decode(), "V1Pod" | ...)`` on a
       stratified subset of the same lines (it is slow), scaled to events/s.
   Best of 3 repetitions; within a repetition the three paths are interleaved per chunk so
   load from other processes hits them alike. GC stays on and is not frozen (the runtime
   does not freeze; ``--gc-freeze`` shows the difference).
3. /metrics render: a DoraModel with ~10k DORA series, cold render and steady-state renders.

The result is a measurement, not a test: the exit code is 0 even when a target is missed.
The JSON result is also written to tests/bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson

from exporter.app.pipeline import Pipeline as ProductPipeline
from exporter.kube import resources
from exporter.kube.informer import Informer
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer

ROOT = Path(__file__).resolve().parents[2]

SEED = 20260501
DAY = 86400.0
RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
TARGETS = {
    "ratio_vs_orjson": (">=", 1.0),
    "ratio_vs_kubernetes_client": (">=", 10.0),
    "rss_bytes_per_cached_pod": ("<=", 4096.0),
    "render_ms_10k_series": ("<=", 20.0),
}
K8S_TYPES = {"Pod": "V1Pod", "ReplicaSet": "V1ReplicaSet", "Deployment": "V1Deployment"}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --------------------------------------------------------------------------- object shapes


class Ids:
    """Deterministic uids, hashes and addresses from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def suffix(self, n: int = 5) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def ip(self, prefix: str = "10.244") -> str:
        return f"{prefix}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"


_KEYED = ("name", "type", "ip")


def fields_v1(value: Any) -> Any:
    """A managedFields ``fieldsV1`` tree shaped like the API server's for ``value``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {".": {}}
        for key, item in value.items():
            out[f"f:{key}"] = fields_v1(item)
        return out
    if isinstance(value, list):
        out = {".": {}}  # keyed lists; a list of scalars is one atomic field
        for item in value:
            if not isinstance(item, dict):
                continue
            field = next((f for f in _KEYED if f in item), None)
            if field is not None:
                out["k:" + orjson.dumps({field: item[field]}).decode()] = fields_v1(item)
            elif "containerPort" in item:
                key = {"containerPort": item["containerPort"], "protocol": "TCP"}
                out["k:" + orjson.dumps(key).decode()] = fields_v1(item)
        return out if len(out) > 1 else {}
    return {}


ENV_NAMES = (
    "LOG_LEVEL",
    "LOG_FORMAT",
    "HTTP_PORT",
    "METRICS_PORT",
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_NAME",
    "REDIS_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "FEATURE_FLAGS",
    "CACHE_TTL_SECONDS",
    "MAX_CONNECTIONS",
    "REQUEST_TIMEOUT",
    "REGION",
)


def container_spec(ids: Ids, app: str, name: str, image: str, main: bool) -> dict[str, Any]:
    rng = ids.rng
    env: list[dict[str, Any]] = [
        {"name": n, "value": f"{n.lower()}-{rng.randrange(1000)}"}
        for n in rng.sample(ENV_NAMES, rng.randint(0, 3) if main else rng.randint(0, 1))
    ]
    env.append(
        {
            "name": "POD_NAME",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        }
    )
    if main and rng.random() < 0.5:
        env.append(
            {
                "name": "DATABASE_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "password"}},
            }
        )
    port = 8080 if main else 9090 + rng.randrange(10)
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [
            {"name": "http" if main else "metrics", "containerPort": port, "protocol": "TCP"}
        ],
        "env": env,
        "resources": {
            "requests": {
                "cpu": f"{rng.choice((50, 100, 250))}m",
                "memory": f"{rng.choice((128, 256))}Mi",
            },
        },
        "volumeMounts": [
            {
                "name": "kube-api-access",
                "readOnly": True,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            },
        ]
        if main
        else [],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    if main and rng.random() < 0.5:
        container["resources"]["limits"] = {
            "cpu": f"{rng.choice((500, 1000, 2000))}m",
            "memory": f"{rng.choice((256, 512, 1024))}Mi",
        }
    if main and rng.random() < 0.5:
        container["args"] = ["--config=/etc/app/config.yaml", f"--port={port}"]
    if main:
        container["volumeMounts"].append(
            {"name": "config", "readOnly": True, "mountPath": "/etc/app"}
        )
    if main and rng.random() < 0.7:
        container["readinessProbe"] = {
            "httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 3,
        }
    if main and rng.random() < 0.4:
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
            "initialDelaySeconds": 5,
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        }
    if main and rng.random() < 0.4:
        container["securityContext"] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True}
    return container


def pod_spec(ids: Ids, app: str, workload: str, version: str, sidecars: int) -> dict[str, Any]:
    containers = [
        container_spec(ids, app, "main", f"registry.example.com/{app}/{workload}:{version}", True)
    ]
    for i in range(sidecars):
        name = ("envoy", "log-shipper")[i]
        sidecar = container_spec(
            ids, app, name, f"registry.example.com/infra/{name}:1.{ids.rng.randrange(30)}.0", False
        )
        if name == "log-shipper":  # no ports, no env
            del sidecar["ports"], sidecar["env"]
        containers.append(sidecar)
    return {
        "volumes": [
            {"name": "config", "configMap": {"name": f"{workload}-config", "defaultMode": 420}},
            {
                "name": "kube-api-access",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                },
            },
        ],
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": workload,
        "serviceAccount": workload,
        "securityContext": {"runAsUser": 10001, "fsGroup": 10001},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }


class Workload:
    """One Deployment with its ReplicaSets and pods, able to emit realistic watch objects."""

    def __init__(
        self,
        ids: Ids,
        ns: str,
        app: str,
        name: str,
        replicas: int,
        created: float,
        kubectl_applied: bool,
    ) -> None:
        self.ids, self.ns, self.app, self.name = ids, ns, app, name
        self.uid = ids.uid()
        self.replicas = replicas
        self.created = created
        self.kubectl_applied = kubectl_applied
        self.sidecars = ids.rng.choice((0, 0, 0, 1, 1, 2))
        self.generation = 1
        self.revision = 0
        self.version = ""
        self.template: dict[str, Any] = {}
        self.image_ids: list[str] = []
        self.spec_fields: dict[str, Any] = {}
        self._fields_key: tuple[int, int] | None = None
        self._fields: Any = None
        self.pod_hash = ""
        self.rs: dict[str, dict[str, Any]] = {}  # name -> ReplicaSet object
        self.labels = {
            "app": name,
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": app,
            "app.kubernetes.io/managed-by": "kubectl" if kubectl_applied else "Helm",
            "team": f"team-{hash(app) % 7}",
        }
        self.status: dict[str, Any] = {}

    # ---------------------------------------------------------------- template / deployment

    def new_template(self, version: str, commit_time: float) -> None:
        self.version = version
        labels = {
            "app": self.name,
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/part-of": self.app,
            "app.kubernetes.io/version": version,
        }
        annotations = {
            "daylight.dev/commit-sha": self.ids.hex(40),
            "daylight.dev/commit-time": iso(commit_time),
        }
        if self.ids.rng.random() < 0.5:
            annotations["prometheus.io/scrape"] = "true"
            annotations["prometheus.io/port"] = "8080"
        if self.ids.rng.random() < 0.3:
            annotations["checksum/config"] = self.ids.hex(64)
        self.template = {
            "metadata": {"creationTimestamp": None, "labels": labels, "annotations": annotations},
            "spec": pod_spec(self.ids, self.app, self.name, version, self.sidecars),
        }
        # every pod of one revision runs the same images: one digest per container
        self.image_ids = [self.ids.hex(64) for _ in self.template["spec"]["containers"]]
        self.spec_fields = fields_v1(self.template["spec"])  # shared by its pods' managedFields
        digest = hashlib.sha256(orjson.dumps(self.template, option=orjson.OPT_SORT_KEYS))
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        self.pod_hash = "".join(alphabet[b % len(alphabet)] for b in digest.digest()[:10])

    def deployment(self, rv: int, now: float) -> dict[str, Any]:
        annotations = {"deployment.kubernetes.io/revision": str(self.revision)}
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.ns,
            "uid": self.uid,
            "resourceVersion": str(rv),
            "generation": self.generation,
            "creationTimestamp": iso(self.created),
            "labels": dict(self.labels),
            "annotations": annotations,
        }
        spec = {
            "replicas": self.replicas,
            "selector": {"matchLabels": {"app": self.name}},
            "template": self.template,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        }
        if self.kubectl_applied:
            applied = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": self.name, "namespace": self.ns, "labels": self.labels},
                "spec": spec,
            }
            annotations["kubectl.kubernetes.io/last-applied-configuration"] = (
                orjson.dumps(applied).decode() + "\n"
            )
        else:
            annotations["meta.helm.sh/release-name"] = self.app
            annotations["meta.helm.sh/release-namespace"] = self.ns
        meta["managedFields"] = [
            {
                "manager": "kubectl-client-side-apply" if self.kubectl_applied else "helm",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": iso(now),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": self.deployment_fields(spec)},
            },
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": iso(now),
                "fieldsType": "FieldsV1",
                "subresource": "status",
                "fieldsV1": {"f:status": fields_v1(self.status)},
            },
        ]
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": spec,
            "status": self.status,
        }

    def deployment_fields(self, spec: dict[str, Any]) -> Any:
        key = (id(self.template), self.replicas)
        if self._fields_key != key:
            self._fields_key, self._fields = key, fields_v1(spec)
        return self._fields

    def set_status(
        self,
        now: float,
        updated: int,
        ready: int,
        total: int,
        progressing: tuple[str, str] = ("True", "NewReplicaSetAvailable"),
        observed: int | None = None,
    ) -> None:
        p_status, p_reason = progressing
        rs_name = f"{self.name}-{self.pod_hash}"
        message = {
            "NewReplicaSetAvailable": f'ReplicaSet "{rs_name}" has successfully progressed.',
            "ReplicaSetUpdated": f'ReplicaSet "{rs_name}" is progressing.',
            "ProgressDeadlineExceeded": f'ReplicaSet "{rs_name}" has timed out progressing.',
        }[p_reason]
        self.status = {
            "observedGeneration": self.generation if observed is None else observed,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready >= self.replicas - 1 else "False",
                    "lastUpdateTime": iso(now),
                    "lastTransitionTime": iso(now - 3600),
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": p_status,
                    "lastUpdateTime": iso(now),
                    "lastTransitionTime": iso(now),
                    "reason": p_reason,
                    "message": message,
                },
            ],
        }

    def replicaset(self, name: str, rv: int, now: float) -> dict[str, Any]:
        return self.rs[name] | {
            "metadata": dict(self.rs[name]["metadata"], resourceVersion=str(rv))
        }

    def new_replicaset(self, now: float) -> str:
        name = f"{self.name}-{self.pod_hash}"
        template = orjson.loads(orjson.dumps(self.template))
        template["metadata"]["labels"]["pod-template-hash"] = self.pod_hash
        labels = dict(template["metadata"]["labels"])
        existing = self.rs.get(name)
        if existing is not None:  # a rollback reuses its ReplicaSet with a new revision
            ann = existing["metadata"]["annotations"]
            history = [
                h for h in ann.get("deployment.kubernetes.io/revision-history", "").split(",") if h
            ]
            ann["deployment.kubernetes.io/revision-history"] = ",".join(
                [*history, ann["deployment.kubernetes.io/revision"]]
            )
            ann["deployment.kubernetes.io/revision"] = str(self.revision)
            return name
        spec = {
            "replicas": 0,
            "selector": {"matchLabels": {"app": self.name, "pod-template-hash": self.pod_hash}},
            "template": template,
        }
        meta = {
            "name": name,
            "namespace": self.ns,
            "uid": self.ids.uid(),
            "resourceVersion": "0",
            "generation": 1,
            "creationTimestamp": iso(now),
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(self.replicas),
                "deployment.kubernetes.io/max-replicas": str(self.replicas + 1),
                "deployment.kubernetes.io/revision": str(self.revision),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": self.name,
                    "uid": self.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": iso(now),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": self.deployment_fields(spec)},
                }
            ],
        }
        self.rs[name] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": meta,
            "spec": spec,
            "status": {"replicas": 0, "observedGeneration": 1},
        }
        return name

    def scale_replicaset(self, name: str, replicas: int) -> None:
        rs = self.rs[name]
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["generation"] += 1
        rs["status"] = {
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": rs["metadata"]["generation"],
        }


class PodState:
    __slots__ = (
        "cids",
        "fields",
        "image_ids",
        "ip",
        "name",
        "node",
        "pod_hash",
        "ready",
        "restarts",
        "rs_name",
        "rs_uid",
        "spec_fields",
        "started",
        "template",
        "uid",
        "w",
    )

    def __init__(self, w: Workload, rs_name: str, started: float) -> None:
        ids = w.ids
        self.w = w
        self.rs_name = rs_name
        self.rs_uid = w.rs[rs_name]["metadata"]["uid"]
        self.pod_hash = w.pod_hash
        self.name = f"{rs_name}-{ids.suffix()}"
        self.uid = ids.uid()
        self.node = f"node-{ids.rng.randrange(200):03d}"
        self.ip = ids.ip()
        self.started = started
        self.restarts = 0
        self.ready = True
        self.template = w.template
        self.spec_fields = w.spec_fields
        self.fields: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.cids = [ids.hex(64) for _ in self.template["spec"]["containers"]]
        self.image_ids = w.image_ids


def pod_object(
    p: PodState, rv: int, now: float, stage: str = "running", deleting: bool = False
) -> dict[str, Any]:
    """A full Pod as the API server serves it. stage: pending | starting | running."""
    w = p.w
    tmeta = p.template["metadata"]
    labels = dict(tmeta["labels"], **{"pod-template-hash": p.pod_hash})
    meta: dict[str, Any] = {
        "name": p.name,
        "generateName": f"{p.rs_name}-",
        "namespace": w.ns,
        "uid": p.uid,
        "resourceVersion": str(rv),
        "creationTimestamp": iso(p.started),
        "labels": labels,
        "annotations": dict(tmeta["annotations"]),
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": p.rs_name,
                "uid": p.rs_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if deleting:
        meta["deletionTimestamp"] = iso(now + 30)
        meta["deletionGracePeriodSeconds"] = 30
    spec = dict(p.template["spec"], nodeName=p.node)
    containers = spec["containers"]
    ready = stage == "running" and p.ready and not deleting
    statuses = []
    for i, c in enumerate(containers):
        if stage == "pending":
            state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
        else:
            state = {"running": {"startedAt": iso(p.started + 2)}}
        entry = {
            "name": c["name"],
            "state": state,
            "lastState": {},
            "ready": ready,
            "restartCount": p.restarts,
            "image": c["image"],
            "imageID": f"{c['image'].split(':')[0]}@sha256:{p.image_ids[i]}",
            "started": stage != "pending",
        }
        if stage != "pending":
            entry["containerID"] = f"containerd://{p.cids[i]}"
        if p.restarts:
            entry["lastState"] = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled",
                    "startedAt": iso(p.started),
                    "finishedAt": iso(p.started + 60),
                    "containerID": f"containerd://{p.cids[i]}",
                }
            }
        statuses.append(entry)
    flag = "True" if ready else "False"
    t = iso(p.started)
    status = {
        "phase": "Pending" if stage == "pending" else "Running",
        "conditions": [
            {
                "type": "PodReadyToStartContainers",
                "status": "True" if stage != "pending" else "False",
                "lastProbeTime": None,
                "lastTransitionTime": t,
            },
            {
                "type": "Initialized",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": t,
            },
            {
                "type": "Ready",
                "status": flag,
                "lastProbeTime": None,
                "lastTransitionTime": iso(now),
            },
            {
                "type": "ContainersReady",
                "status": flag,
                "lastProbeTime": None,
                "lastTransitionTime": iso(now),
            },
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": t,
            },
        ],
        "hostIP": f"192.168.{int(p.node[-3:]) // 250}.{int(p.node[-3:]) % 250 + 2}",
        "hostIPs": [{"ip": f"192.168.{int(p.node[-3:]) // 250}.{int(p.node[-3:]) % 250 + 2}"}],
        "podIP": p.ip,
        "podIPs": [{"ip": p.ip}],
        "startTime": t,
        "containerStatuses": statuses,
        "qosClass": "Burstable",
    }
    if p.fields is None:  # the same keys on every update of this pod: built once
        p.fields = (
            {
                "f:metadata": fields_v1(
                    {k: meta[k] for k in ("generateName", "labels", "annotations")}
                ),
                "f:spec": p.spec_fields,
            },
            {"f:status": fields_v1({k: v for k, v in status.items() if k != "containerStatuses"})},
        )
    meta["managedFields"] = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": t,
            "fieldsType": "FieldsV1",
            "fieldsV1": p.fields[0],
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": iso(now),
            "fieldsType": "FieldsV1",
            "subresource": "status",
            "fieldsV1": p.fields[1],
        },
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def event_line(kind: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": kind, "object": obj})


# --------------------------------------------------------------------------- the ingest stream


class Cluster:
    """A namespace-spread set of Deployments whose churn produces the watch stream."""

    def __init__(self, pods: int, seed: int, start: float) -> None:
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.rv = 1000
        self.now = start
        self.workloads: list[Workload] = []
        self.pods: dict[str, list[PodState]] = {}  # workload uid -> live pods
        total = 0
        i = 0
        while total < pods:
            replicas = min(self.rng.randint(2, 6), pods - total)
            app = f"app-{i // 2:04d}" if i % 3 else f"svc-{i:04d}"
            w = Workload(
                self.ids,
                f"team-{i % 25:02d}",
                app,
                f"web-{i:04d}",
                replicas,
                created=start - self.rng.uniform(30, 300) * DAY,
                kubectl_applied=self.rng.random() < 0.5,
            )
            self.workloads.append(w)
            total += replicas
            i += 1

    def tick(self, seconds: float = 0.05) -> float:
        self.now += seconds
        return self.now

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _roll(self, w: Workload, version: str, at: float) -> str:
        w.revision += 1
        w.generation += 1
        w.new_template(version, commit_time=at - self.rng.uniform(600, 3 * DAY))
        rs_name = w.new_replicaset(at)
        return rs_name

    def initial(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The objects of the start-up LIST: ReplicaSets (old + current), Deployments, Pods."""
        rss, deps, pods = [], [], []
        for w in self.workloads:
            old = self._roll(w, f"1.{self.rng.randrange(40)}.0", w.created)
            w.scale_replicaset(old, 0)
            current = self._roll(w, f"2.{self.rng.randrange(40)}.0", self.now - DAY)
            w.scale_replicaset(current, w.replicas)
            w.set_status(self.now - DAY, w.replicas, w.replicas, w.replicas)
            live = self.pods[w.uid] = []
            for _ in range(w.replicas):
                p = PodState(w, current, self.now - DAY + self.rng.uniform(0, 600))
                live.append(p)
                pods.append(pod_object(p, self.next_rv(), self.now))
            for name in w.rs:
                rss.append(w.replicaset(name, self.next_rv(), self.now))
            deps.append(w.deployment(self.next_rv(), self.now))
        return rss, deps, pods

    def rollout(self) -> Iterator[tuple[str, str, bytes]]:
        """One rolling update, one pod at a time: the events the controllers would cause."""
        w = self.rng.choice(self.workloads)
        major, minor = w.version.split(".")[:2]
        at = self.tick(1.0)
        old_rs = f"{w.name}-{w.pod_hash}"
        new_rs = self._roll(w, f"{major}.{int(minor) + 1}.0", at)
        yield "Deployment", "MODIFIED", event_line("MODIFIED", w.deployment(self.next_rv(), at))
        yield "ReplicaSet", "ADDED", event_line("ADDED", w.replicaset(new_rs, self.next_rv(), at))
        w.set_status(at, 0, w.replicas, w.replicas, ("True", "ReplicaSetUpdated"))
        yield "Deployment", "MODIFIED", event_line("MODIFIED", w.deployment(self.next_rv(), at))
        live = self.pods[w.uid]
        for i in range(w.replicas):
            at = self.tick(2.0)
            p = PodState(w, new_rs, at)
            for stage in ("pending", "starting", "running"):
                kind = "ADDED" if stage == "pending" else "MODIFIED"
                yield (
                    "Pod",
                    kind,
                    event_line(kind, pod_object(p, self.next_rv(), self.tick(), stage)),
                )
            w.scale_replicaset(new_rs, i + 1)
            yield (
                "ReplicaSet",
                "MODIFIED",
                event_line("MODIFIED", w.replicaset(new_rs, self.next_rv(), at)),
            )
            old = live.pop(0)
            yield (
                "Pod",
                "MODIFIED",
                event_line("MODIFIED", pod_object(old, self.next_rv(), self.tick(), deleting=True)),
            )
            yield (
                "Pod",
                "DELETED",
                event_line("DELETED", pod_object(old, self.next_rv(), self.tick(), deleting=True)),
            )
            w.scale_replicaset(old_rs, w.replicas - i - 1)
            yield (
                "ReplicaSet",
                "MODIFIED",
                event_line("MODIFIED", w.replicaset(old_rs, self.next_rv(), at)),
            )
            live.append(p)
            if i + 1 < w.replicas:
                w.set_status(at, i + 1, w.replicas, w.replicas + 1, ("True", "ReplicaSetUpdated"))
                yield (
                    "Deployment",
                    "MODIFIED",
                    event_line("MODIFIED", w.deployment(self.next_rv(), at)),
                )
        w.set_status(self.tick(), w.replicas, w.replicas, w.replicas)
        yield (
            "Deployment",
            "MODIFIED",
            event_line("MODIFIED", w.deployment(self.next_rv(), self.now)),
        )

    def pod_update(self) -> tuple[str, str, bytes]:
        """Background churn: readiness flaps and (rarer) container restarts of a live pod."""
        w = self.rng.choice(self.workloads)
        p = self.rng.choice(self.pods[w.uid])
        if self.rng.random() < 0.05:
            p.restarts += 1
            p.ready = False
        else:
            p.ready = not p.ready if self.rng.random() < 0.5 else True
        return "Pod", "MODIFIED", event_line("MODIFIED", pod_object(p, self.next_rv(), self.tick()))

    def stream(self, events: int, pod_share: float = 0.9) -> list[tuple[str, str, bytes]]:
        out: list[tuple[str, str, bytes]] = []
        other = 0
        while len(out) < events:
            if other < (1 - pod_share) * (len(out) + 1):
                for item in self.rollout():
                    out.append(item)
                    other += item[0] != "Pod"
            else:
                out.append(self.pod_update())
        return out[:events]


# --------------------------------------------------------------------------- our path


class ListClient:
    """Stands in for the API client: answers the informer's LIST with one prepared page."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies

    async def get(self, path: str, params: dict[str, str]) -> bytes:
        return self.bodies[path]


INFORMED = {
    "Pod": resources.PODS,
    "ReplicaSet": resources.REPLICASETS,
    "Deployment": resources.DEPLOYMENTS,
}


def list_body(items: list[dict[str, Any]], rv: int) -> bytes:
    return orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }
    )


class Pipeline:
    """Informers for pods, replicasets and deployments feeding one DoraModel through the
    product's pipeline (exporter.app.pipeline), as ``daylight run`` feeds it."""

    def __init__(
        self, bodies: dict[str, bytes] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.model = DoraModel()
        client: Any = ListClient(bodies or {})
        self.informers = {
            kind: Informer(client, res, clock=clock) for kind, res in INFORMED.items()
        }
        self.pipeline = ProductPipeline(self.model, clock=clock)
        for informer in self.informers.values():
            informer.sink = self.pipeline.sink
        self.handle = {kind: inf.handle_line for kind, inf in self.informers.items()}

    def initial_sync(self) -> int:
        """The start-up list without the network, in WATCHED order, fed page by page."""
        order = ("ReplicaSet", "Deployment", "Pod")  # the WATCHED order of these three
        return asyncio.run(self.pipeline.sync([self.informers[k] for k in order]))


def stratified_subset(kinds: list[str], size: int) -> list[int]:
    """(c) needs a subset: the kubernetes client is ~30-100x slower. Stratified, so each kind
    keeps its share of the stream (plain striding aliases with the periodic rollout
    pattern), evenly spaced within the kind, in stream order."""
    by_kind: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        by_kind.setdefault(kind, []).append(i)
    subset: list[int] = []
    for indices in by_kind.values():
        take = max(1, round(size * len(indices) / len(kinds)))
        subset += [indices[int(j * len(indices) / take)] for j in range(take)]
    return sorted(subset)


def measure_ingest(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    t0 = time.perf_counter()
    start = time.time()
    cluster = Cluster(args.pods, SEED, start)
    rss, deps, pods = cluster.initial()
    bodies = {
        resources.REPLICASETS.path(): list_body(rss, cluster.rv),
        resources.DEPLOYMENTS.path(): list_body(deps, cluster.rv),
        resources.PODS.path(): list_body(pods, cluster.rv),
    }
    initial = {"replicasets": len(rss), "deployments": len(deps), "pods": len(pods)}
    del rss, deps, pods
    stream = cluster.stream(args.events)
    lines = [line for _, _, line in stream]
    kinds = [kind for kind, _, _ in stream]
    mix = Counter(kinds)
    types = Counter(t for _, t, _ in stream)
    pod_sizes = [len(line) for kind, _, line in stream if kind == "Pod"]
    log(
        f"generated {len(lines)} events ({dict(mix)}) in {time.perf_counter() - t0:.1f}s; "
        f"initial list: {len(cluster.workloads)} deployments, {args.pods} pods"
    )
    del stream, cluster

    from kubernetes import watch

    subset = stratified_subset(kinds, args.k8s_events)
    sub_lines = [lines[i] for i in subset]
    sub_types = [K8S_TYPES[kinds[i]] for i in subset]
    # what Watch.stream calls for every line
    client = watch.Watch()  # type: ignore[no-untyped-call]  # the kubernetes client is untyped
    unmarshal: Callable[[str, str], dict[str, Any]] = client.unmarshal_event
    checked = [
        type(unmarshal(line.decode(), rtype)["object"]).__name__ == rtype
        for line, rtype in zip(sub_lines, sub_types, strict=True)
    ]
    assert all(checked), "kubernetes client did not build the expected models"

    # All three paths run interleaved chunk by chunk (1000 events of ours and orjson, then a
    # proportional slice of the subset): the machine is shared, so a burst of outside load
    # hits every path alike instead of one whole repetition.
    loads = orjson.loads
    chunk = 1000
    bounds = [(i, min(i + chunk, len(lines))) for i in range(0, len(lines), chunk)]
    k8s_bounds = [
        (len(sub_lines) * j // len(bounds), len(sub_lines) * (j + 1) // len(bounds))
        for j in range(len(bounds))
    ]
    clocks = (time.perf_counter, time.process_time)

    def repetition() -> tuple[list[float], list[float], list[float], Pipeline]:
        pipe = Pipeline(bodies)  # fresh: same initial state and same stream every repetition
        pipe.initial_sync()
        handlers = [pipe.handle[k] for k in kinds]
        gc.collect()
        if args.gc_freeze:
            gc.freeze()
        totals = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]  # ours, orjson, k8s: (wall, cpu)
        for (lo, hi), (klo, khi) in zip(bounds, k8s_bounds, strict=True):
            batch = lines[lo:hi]
            marks = [[c() for c in clocks]]
            for handle, line in zip(handlers[lo:hi], batch, strict=True):
                handle(line)
            marks.append([c() for c in clocks])
            for line in batch:
                loads(line)
            marks.append([c() for c in clocks])
            for line, rtype in zip(sub_lines[klo:khi], sub_types[klo:khi], strict=True):
                unmarshal(line.decode(), rtype)
            marks.append([c() for c in clocks])
            for path in range(3):
                for j in range(2):
                    totals[path][j] += marks[path + 1][j] - marks[path][j]
        if args.gc_freeze:
            gc.unfreeze()
        bad = sum(sum(i.stats.invalid.values()) for i in pipe.informers.values())
        if bad:
            raise SystemExit(f"our path rejected {bad} events: the generator is wrong")
        return totals[0], totals[1], totals[2], pipe

    our_times, orjson_times, k8s_times, our_cpu, orjson_cpu, k8s_cpu = [], [], [], [], [], []
    for _ in range(3):
        ours_t, base_t, k8s_t, pipe = repetition()
        our_times.append(ours_t[0])
        our_cpu.append(ours_t[1])
        orjson_times.append(base_t[0])
        orjson_cpu.append(base_t[1])
        k8s_times.append(k8s_t[0])
        k8s_cpu.append(k8s_t[1])
    model_summary = {
        "tracked_workloads": len(pipe.model.workloads),
        "apps": len(pipe.model.apps),
        "finished_live_workload_deployments": sum(
            sum(s.outcomes.values())
            for per in pipe.model.stats.workloads.values()
            for s in per.values()
        ),
        "cached_pods": len(pipe.informers["Pod"].cache),
    }
    del pipe

    n = len(lines)
    ours_eps = n / min(our_times)
    orjson_eps = n / min(orjson_times)
    k8s_eps = len(sub_lines) / min(k8s_times)
    result = {
        "events": n,
        "event_mix": dict(mix),
        "event_types": dict(types),
        "pod_share": round(mix["Pod"] / n, 4),
        "pod_event_bytes": {
            "min": min(pod_sizes),
            "median": int(statistics.median(pod_sizes)),
            "max": max(pod_sizes),
        },
        "event_bytes_mean": int(sum(len(x) for x in lines) / n),
        "initial_list": initial,
        "events_per_s": round(ours_eps),
        "us_per_event": round(1e6 / ours_eps, 2),
        "orjson_events_per_s": round(orjson_eps),
        "orjson_us_per_event": round(1e6 / orjson_eps, 2),
        "kubernetes_client_events_per_s": round(k8s_eps),
        "kubernetes_client_us_per_event": round(1e6 / k8s_eps, 1),
        "kubernetes_client_subset": {"events": len(sub_lines), "mix": dict(Counter(sub_types))},
        "ratio_vs_orjson": round(ours_eps / orjson_eps, 3),
        "ratio_vs_orjson_cpu_time": round(min(orjson_cpu) / min(our_cpu), 3),
        "ratio_vs_kubernetes_client_cpu_time": round(
            (min(k8s_cpu) / len(sub_lines)) / (min(our_cpu) / n), 1
        ),
        "cpu_time_events_per_s": {
            "ours": round(n / min(our_cpu)),
            "orjson": round(n / min(orjson_cpu)),
            "kubernetes_client": round(len(sub_lines) / min(k8s_cpu)),
        },
        "ratio_vs_kubernetes_client": round(ours_eps / k8s_eps, 1),
        "timing": "best of 3 repetitions; each repetition interleaves per 1000-event chunk: "
        "ours, orjson.loads, then the matching slice of the kubernetes-client subset",
        "repetitions_s": {
            "ours": [round(x, 4) for x in our_times],
            "orjson": [round(x, 4) for x in orjson_times],
            "ours_cpu": [round(x, 4) for x in our_cpu],
            "orjson_cpu": [round(x, 4) for x in orjson_cpu],
            "kubernetes_client": [round(x, 4) for x in k8s_times],
            "kubernetes_client_cpu": [round(x, 4) for x in k8s_cpu],
        },
        "model_after_stream": model_summary,
    }
    return result, (bodies, kinds, lines)


def profile_ours(data: Any, top: int) -> str:
    import cProfile
    import io
    import pstats

    bodies, kinds, lines = data
    pipe = Pipeline(bodies)
    pipe.initial_sync()
    handlers = [pipe.handle[k] for k in kinds]
    prof = cProfile.Profile()
    prof.enable()
    for handle, line in zip(handlers, lines, strict=True):
        handle(line)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------- memory


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trim() -> bool | None:
    """Give freed heap pages back to the OS, so the reading counts live memory only."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return None


def measure_memory(count: int, batch: int = 1000) -> dict[str, Any]:
    """100k distinct pods through the pods informer into its cache; RSS delta per pod."""
    start = time.time()
    rng = random.Random(SEED + 1)
    ids = Ids(rng)
    workloads = [
        Workload(
            ids,
            f"team-{i % 25:02d}",
            f"app-{i // 2:04d}",
            f"web-{i:04d}",
            1,
            created=start - 90 * DAY,
            kubectl_applied=False,
        )
        for i in range(400)
    ]
    for w in workloads:
        w.revision = 1
        w.new_template(f"3.{rng.randrange(40)}.0", start - DAY)
        w.new_replicaset(start - DAY)

    pipe = Pipeline()
    informer = pipe.informers["Pod"]
    rv = 10_000

    # Full pods are built once per workload; each cached pod is a copy with its own name, uid,
    # resourceVersion, start time and IPs (what differs between replicas of one ReplicaSet).
    bases = []
    for w in workloads:
        p = PodState(w, f"{w.name}-{w.pod_hash}", start - DAY)
        p.restarts = rng.choice((0, 0, 0, 1))
        bases.append(pod_object(p, 0, start))
    alphabet = "bcdfghjklmnpqrstvwxz2456789"

    def suffix(n: int) -> str:
        out = ""
        for _ in range(5):
            n, r = divmod(n, len(alphabet))
            out += alphabet[r]
        return out

    serial = 0

    def batch_lines(n: int) -> list[bytes]:
        nonlocal rv, serial
        out = []
        for _ in range(n):
            base = rng.choice(bases)
            serial += 1
            rv += 1
            meta = base["metadata"]
            ip = ids.ip()
            obj = dict(
                base,
                metadata=dict(
                    meta,
                    name=meta["generateName"] + suffix(serial),
                    uid=ids.uid(),
                    resourceVersion=str(rv),
                    creationTimestamp=iso(start - rng.uniform(0, DAY)),
                ),
                status=dict(base["status"], podIP=ip, podIPs=[{"ip": ip}]),
            )
            out.append(event_line("ADDED", obj))
        return out

    # warm up every code path (decoder, generator, interned strings) with throwaway pods
    for line in batch_lines(200):
        informer.handle_line(line)
    informer.cache.clear()
    gc.collect()
    _trim()
    before = rss_bytes()
    t = time.perf_counter()
    decode_s = 0.0
    done = 0
    while done < count:
        lines = batch_lines(min(batch, count - done))
        d = time.perf_counter()
        for line in lines:
            informer.handle_line(line)
        decode_s += time.perf_counter() - d
        done += len(lines)
        del lines
    build_s = time.perf_counter() - t
    assert len(informer.cache) == count, len(informer.cache)
    gc.collect()
    after_untrimmed = rss_bytes()
    trimmed = _trim()
    after = rss_bytes()
    return {
        "cached_pods": count,
        "rss_bytes_per_cached_pod": round((after - before) / count),
        "rss_bytes_per_cached_pod_before_malloc_trim": round((after_untrimmed - before) / count),
        "rss_delta_mib": round((after - before) / 2**20, 1),
        "rss_method": "/proc/self/statm resident pages, gc.collect() then glibc malloc_trim(0) "
        "before each reading" + ("" if trimmed is not None else " (malloc_trim unavailable)"),
        "decode_into_cache_s": round(decode_s, 3),
        "decode_into_cache_us_per_pod": round(decode_s / count * 1e6, 2),
        "build_with_generation_s": round(build_s, 2),
    }


# --------------------------------------------------------------------------- render


def render_model(target_series: int) -> tuple[DoraModel, float, dict[str, Any]]:
    """Apps with real finished deployments, fed as watch lines through the informers."""
    rng = random.Random(SEED + 2)
    ids = Ids(rng)
    clock_now = [0.0]
    end = time.time()
    begin = end - 60 * DAY

    def build(apps: int) -> tuple[Pipeline, dict[str, int]]:
        pipe = Pipeline(clock=lambda: clock_now[0])
        timeline: list[tuple[float, int, str, bytes]] = []
        seq = 0
        counts: Counter[str] = Counter()

        def emit(at: float, kind: str, etype: str, obj: dict[str, Any]) -> None:
            nonlocal seq
            seq += 1
            timeline.append((at, seq, kind, event_line(etype, obj)))

        for a in range(apps):
            ns = f"team-{a % 25:02d}"
            members = 2 if a % 4 == 0 else 1
            ws = [
                Workload(
                    ids,
                    ns,
                    f"shop-{a:04d}",
                    f"shop-{a:04d}-{m}",
                    rng.randint(2, 4),
                    created=begin + rng.uniform(0, 5 * DAY),
                    kubectl_applied=False,
                )
                for m in range(members)
            ]
            t = ws[0].created
            rollouts = rng.randint(6, 14)
            for r in range(rollouts):
                fails = r > 0 and rng.random() < 0.12
                version = f"1.{r}.0"
                for w in ws:
                    at = t + rng.uniform(0, 10)
                    prev = (w.version, w.template, w.pod_hash)
                    w.revision += 1
                    w.generation += 1
                    w.new_template(version, commit_time=at - rng.uniform(1800, 2 * DAY))
                    rs = w.new_replicaset(at)
                    first = r == 0
                    emit(at, "Deployment", "ADDED" if first else "MODIFIED", w.deployment(0, at))
                    emit(at + 0.5, "ReplicaSet", "ADDED", w.replicaset(rs, 0, at))
                    w.set_status(at + 1, 0, w.replicas, w.replicas, ("True", "ReplicaSetUpdated"))
                    emit(at + 1, "Deployment", "MODIFIED", w.deployment(0, at + 1))
                    done = at + rng.uniform(30, 600)
                    if fails:
                        w.set_status(
                            done + 600,
                            1,
                            w.replicas,
                            w.replicas + 1,
                            ("False", "ProgressDeadlineExceeded"),
                        )
                        emit(done + 600, "Deployment", "MODIFIED", w.deployment(0, done + 600))
                        counts["failed"] += 1
                        # rollback: back to the previous template (kubectl rollout undo)
                        back = done + 600 + rng.uniform(300, 3600)
                        w.version, w.template, w.pod_hash = prev
                        w.revision += 1
                        w.generation += 1
                        w.new_replicaset(back)
                        emit(back, "Deployment", "MODIFIED", w.deployment(0, back))
                        w.set_status(back + 60, w.replicas, w.replicas, w.replicas)
                        emit(back + 60, "Deployment", "MODIFIED", w.deployment(0, back + 60))
                    else:
                        w.scale_replicaset(rs, w.replicas)
                        emit(done, "ReplicaSet", "MODIFIED", w.replicaset(rs, 0, done))
                        w.set_status(done, w.replicas, w.replicas, w.replicas)
                        emit(done, "Deployment", "MODIFIED", w.deployment(0, done))
                        counts["succeeded"] += 1
                t += rng.uniform(0.5, (end - t) / max(1, rollouts - r) * 1.6)
                t = min(t, end - 3600)
        timeline.sort()
        for at, _, kind, line in timeline:
            clock_now[0] = at
            pipe.handle[kind](line)
        counts["events"] = len(timeline)
        counts["last_event_at"] = int(timeline[-1][0]) if timeline else 0
        return pipe, dict(counts)

    probe, _ = build(20)
    renderer = MetricsRenderer(probe.model)
    renderer.render(end + 3600)
    per_app = renderer.series / max(1, len(probe.model.apps))
    apps = max(1, round(target_series / per_app))
    pipe, counts = build(apps)
    now = max(end, counts.pop("last_event_at")) + 60.0  # every deployment has finished by now
    pipe.model.advance(now)
    bad = sum(sum(i.stats.invalid.values()) for i in pipe.informers.values())
    assert not bad, f"render model: {bad} invalid events"
    return pipe.model, now, dict(counts, apps=apps)


def measure_render(target_series: int, renders: int) -> dict[str, Any]:
    t = time.perf_counter()
    model, now, counts = render_model(target_series)
    build_s = time.perf_counter() - t
    renderer = MetricsRenderer(model)
    gc.collect()
    t = time.perf_counter()
    body = renderer.render(now)
    cold_ms = (time.perf_counter() - t) * 1e3
    lines = body.split(b"\n")
    series = sum(1 for line in lines if line and not line.startswith(b"#"))
    per_app = Counter(
        line[line.index(b'app="') + 5 :].split(b'"', 1)[0]
        for line in lines
        if line and not line.startswith(b"#") and b'app="' in line
    )
    colds = [cold_ms]
    for _ in range(4):  # more cold renders with fresh renderers: one sample is noisy
        fresh = MetricsRenderer(model)
        t = time.perf_counter()
        fresh.render(now)
        colds.append((time.perf_counter() - t) * 1e3)
    del fresh
    steady = []
    for _ in range(renders):
        t = time.perf_counter()
        again = renderer.render(now)
        steady.append((time.perf_counter() - t) * 1e3)
    assert again == body
    # a 30 s scrape interval moves every app past its 15 s window-refresh epoch
    scrape, scrape_cpu = [], []
    for i in range(1, 21):
        t, c = time.perf_counter(), time.process_time()
        renderer.render(now + 30 * i)
        scrape.append((time.perf_counter() - t) * 1e3)
        scrape_cpu.append((time.process_time() - c) * 1e3)
    steady.sort()
    return {
        "series": series,
        "series_reported_by_renderer": renderer.series,
        "apps": len(model.apps),
        "series_per_app": {
            "min": min(per_app.values()),
            "max": max(per_app.values()),
            "mean": round(series / max(1, len(per_app)), 1),
        },
        "body_bytes": len(body),
        "render_ms_10k_series": round(statistics.median(steady), 3),
        "render_steady_p99_ms": round(steady[min(len(steady) - 1, int(len(steady) * 0.99))], 3),
        "render_steady_renders": len(steady),
        "render_cold_ms": round(cold_ms, 2),
        "render_cold_median_of_5_ms": round(statistics.median(colds), 2),
        "render_every_30s_median_ms": round(statistics.median(scrape), 2),
        "render_every_30s_cpu_median_ms": round(statistics.median(scrape_cpu), 2),
        "render_every_30s_note": "now advanced 30 s per render, like a 30 s scrape interval: "
        "every app is past its 15 s window-refresh epoch, so each render re-renders all apps",
        "model_build": dict(counts, seconds=round(build_s, 2)),
    }


# --------------------------------------------------------------------------- main


def versions() -> dict[str, str]:
    import kubernetes

    return {
        "python": platform.python_version(),
        "msgspec": msgspec.__version__,
        "orjson": orjson.__version__,
        "kubernetes": kubernetes.__version__,
    }


def code_under_test() -> dict[str, Any]:
    """Which exporter code was measured: HEAD plus any uncommitted changes under exporter/."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            done = subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    status = git("status", "--porcelain", "--untracked-files=no", "exporter")
    dirty = [line[3:] for line in status.splitlines()]
    return {"head": git("rev-parse", "--short", "HEAD"), "uncommitted_exporter_files": dirty}


def targets(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = result[key]
        ok = value >= bound if op == ">=" else value <= bound
        out[key] = {"target": f"{op} {bound:g}", "value": value, "pass": ok}
    return out


def summary(r: dict[str, Any]) -> str:
    t = r["targets"]
    mark = {True: "PASS", False: "MISS"}
    lines = [
        f"Daylight ingest benchmark ({r['versions']['python']}, msgspec "
        f"{r['versions']['msgspec']}, orjson {r['versions']['orjson']}, kubernetes "
        f"{r['versions']['kubernetes']}), {r['cpus']} CPUs, gc: {r['gc']}",
        f"events: {r['events']} ({r['event_mix']}), pod lines {r['pod_event_bytes']} bytes",
        f"  ours (decode+cache+model): {r['events_per_s']:>9,} ev/s  "
        f"{r['us_per_event']:.2f} us/event",
        f"  orjson.loads alone:        {r['orjson_events_per_s']:>9,} ev/s  "
        f"{r['orjson_us_per_event']:.2f} us/event",
        f"  kubernetes client:         {r['kubernetes_client_events_per_s']:>9,} ev/s  "
        f"{r['kubernetes_client_us_per_event']:.1f} us/event "
        f"(subset of {r['kubernetes_client_subset']['events']})",
        f"  ratio vs orjson  {r['ratio_vs_orjson']:.2f}  [{mark[t['ratio_vs_orjson']['pass']]} "
        f"{t['ratio_vs_orjson']['target']}]",
        f"  ratio vs k8s     {r['ratio_vs_kubernetes_client']:.1f}  "
        f"[{mark[t['ratio_vs_kubernetes_client']['pass']]} "
        f"{t['ratio_vs_kubernetes_client']['target']}]",
        f"memory: {r['rss_bytes_per_cached_pod']} B RSS per cached pod over "
        f"{r['memory']['cached_pods']} pods ({r['memory']['rss_delta_mib']} MiB)  "
        f"[{mark[t['rss_bytes_per_cached_pod']['pass']]} "
        f"{t['rss_bytes_per_cached_pod']['target']}]",
        f"render: {r['series']} series, steady median {r['render_ms_10k_series']} ms "
        f"(p99 {r['render']['render_steady_p99_ms']} ms)  "
        f"[{mark[t['render_ms_10k_series']['pass']]} {t['render_ms_10k_series']['target']}], "
        f"cold {r['render_cold_ms']} ms; scrapes 30 s apart (each re-renders every app): "
        f"{r['render_scrape_every_30s_ms']} ms",
        f"  CPU-time events/s {r['cpu_time_events_per_s']}: ratio vs orjson "
        f"{r['ratio_vs_orjson_cpu_time']}, vs k8s {r['ratio_vs_kubernetes_client_cpu_time']}",
        f"wall time {r['wall_s']} s, load average {r['load_average_1m']} on {r['cpus']} CPUs; "
        f"written to {RESULTS.relative_to(ROOT)}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pods", type=int, default=5000, help="pods in the ingest cluster")
    parser.add_argument("--events", type=int, default=30000, help="watch events replayed")
    parser.add_argument(
        "--k8s-events",
        type=int,
        default=1000,
        help="subset of events timed through the kubernetes client",
    )
    parser.add_argument(
        "--cache-pods",
        type=int,
        default=100_000,
        help="distinct pods decoded into the cache for the memory figure",
    )
    parser.add_argument("--series", type=int, default=10_000, help="target series for render")
    parser.add_argument("--renders", type=int, default=200, help="steady-state renders timed")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after the initial sync (runtime.py does not)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile our ingest path; printed on stderr"
    )
    args = parser.parse_args(argv)
    wall = time.perf_counter()
    load_start = round(os.getloadavg()[0], 2)  # other processes share these CPUs
    if not gc.isenabled():
        gc.enable()

    # memory first, in a process that has not yet allocated and freed hundreds of MiB: freed
    # but still resident heap would be reused by the cache and hide part of its cost
    log("memory ...")
    memory = measure_memory(args.cache_pods)
    gc.collect()
    log("ingest ...")
    ingest, data = measure_ingest(args)
    profile = profile_ours(data, 30) if args.profile else None
    del data
    gc.collect()
    log("render ...")
    render = measure_render(args.series, args.renders)

    result: dict[str, Any] = {
        "benchmark": "ingest",
        **ingest,
        "rss_bytes_per_cached_pod": memory["rss_bytes_per_cached_pod"],
        "memory": memory,
        "series": render["series"],
        "render_ms_10k_series": render["render_ms_10k_series"],
        "render_cold_ms": render["render_cold_ms"],
        "render_scrape_every_30s_ms": render["render_every_30s_median_ms"],
        "render": render,
        "gc": "enabled, thresholds "
        + str(gc.get_threshold())
        + (", gc.freeze() after the initial sync" if args.gc_freeze else ", not frozen"),
        "seed": SEED,
        "cpus": os.cpu_count(),
        "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "versions": versions(),
        "code": code_under_test(),
        "wall_s": 0.0,
    }
    result["targets"] = targets(result)
    result["all_targets_pass"] = all(t["pass"] for t in result["targets"].values())
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if profile:
        print(profile, file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print(summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
