"""Builders for hand-written event logs: objects shaped exactly as the API server serves them.

Each helper returns a full object (apiVersion, kind, metadata, spec, status) so a scenario
reads like the sequence of watch events a real cluster would produce.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    moment = T0 + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_template(
    image: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"creationTimestamp": None, "labels": dict(labels or {})}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    }


@dataclass
class Log:
    """Accumulates watch events with a global resourceVersion, like one etcd."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    rv: int = 100
    last_at: float = 0.0

    def emit(self, at: float, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.last_at = max(self.last_at, at)
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.lines.append({"time": ts(at), "type": event_type, "object": obj})
        return obj

    def side(self, at: float, kind: str, body: dict[str, Any]) -> None:
        key = "alert" if kind == "ALERT" else "change"
        self.lines.append({"time": ts(at), "type": kind, key: body})

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines))
        return path


def namespace(name: str, at: float, environment: str | None = None) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": name}
    if environment:
        labels["daylight.dev/environment"] = environment
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "uid": f"ns-{name}", "creationTimestamp": ts(at),
                     "labels": labels},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }  # fmt: skip  # a table


class Deployment:
    """A Deployment plus the ReplicaSets its controller would create."""

    def __init__(self, log: Log, ns: str, name: str, labels: dict[str, str], at: float,
                 replicas: int = 2, deadline: int = 600) -> None:  # fmt: skip  # a table
        self.log, self.ns, self.name, self.labels = log, ns, name, labels
        self.uid = f"uid-deploy-{ns}-{name}"
        self.generation = 1
        self.revision = 0
        self.replicasets: dict[str, dict[str, Any]] = {}
        self.current_rs = ""
        self.obj: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "uid": self.uid, "generation": 1,
                         "creationTimestamp": ts(at), "labels": dict(labels),
                         "annotations": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {}, "strategy": {"type": "RollingUpdate"},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": deadline},
            "status": {},
        }  # fmt: skip  # a table

    def _status(self, updated: int, ready: int, available: int, total: int,
                progressing: tuple[str, str], at: float) -> None:  # fmt: skip  # a table
        p_status, p_reason = progressing
        desired = self.obj["spec"]["replicas"]
        self.obj["status"] = {
            "observedGeneration": self.generation,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [
                {"type": "Available", "status": "True" if available >= desired - 1 else "False",
                 "reason": "MinimumReplicasAvailable", "lastUpdateTime": ts(at),
                 "lastTransitionTime": ts(at)},
                {"type": "Progressing", "status": p_status, "reason": p_reason,
                 "lastUpdateTime": ts(at), "lastTransitionTime": ts(at)},
            ],
        }  # fmt: skip  # a table

    def set_template(self, at: float, template: dict[str, Any]) -> None:
        """A user edit: the spec changes, the status is still the old one."""
        first = not self.obj["spec"]["template"]
        self.obj["spec"]["template"] = template
        if not first:
            self.generation += 1
        self.obj["metadata"]["generation"] = self.generation
        self.log.emit(at, "ADDED" if first else "MODIFIED", self.obj)

    def scale(self, at: float, replicas: int) -> None:
        self.obj["spec"]["replicas"] = replicas
        self.generation += 1
        self.obj["metadata"]["generation"] = self.generation
        self.log.emit(at, "MODIFIED", self.obj)

    def controller_rolls(self, at: float, rs_hash: str) -> None:
        """The controller creates (or reuses) the ReplicaSet and starts the rollout."""
        self.revision += 1
        rev = str(self.revision)
        template = copy.deepcopy(self.obj["spec"]["template"])
        template["metadata"]["labels"]["pod-template-hash"] = rs_hash
        rs_name = f"{self.name}-{rs_hash}"
        existing = self.replicasets.get(rs_name)
        if existing is None:
            rs = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": self.ns, "uid": f"uid-rs-{rs_name}",
                             "generation": 1, "creationTimestamp": ts(at),
                             "labels": dict(template["metadata"]["labels"]),
                             "annotations": {"deployment.kubernetes.io/revision": rev},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                  "name": self.name, "uid": self.uid,
                                                  "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": {"replicas": self.obj["spec"]["replicas"], "template": template},
                "status": {"replicas": 0, "observedGeneration": 1},
            }  # fmt: skip  # a table
            self.replicasets[rs_name] = rs
            self.current_rs = rs_name
            self._written(rs, at)
            self.log.emit(at, "ADDED", rs)
        else:
            ann = existing["metadata"]["annotations"]
            old = ann["deployment.kubernetes.io/revision"]
            earlier = ann.get("deployment.kubernetes.io/revision-history", "")
            history = [h for h in earlier.split(",") if h]
            ann["deployment.kubernetes.io/revision-history"] = ",".join([*history, old])
            ann["deployment.kubernetes.io/revision"] = rev
            existing["spec"]["replicas"] = self.obj["spec"]["replicas"]
            self.current_rs = rs_name
            self._written(existing, at)
            self.log.emit(at, "MODIFIED", existing)
        self.obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = rev
        total = self.obj["spec"]["replicas"]
        self._status(0, total, total, total, ("True", "ReplicaSetUpdated"), at)
        self.log.emit(at, "MODIFIED", self.obj)

    def observe_only(self, at: float) -> None:
        """The controller observed a spec change that needs no new ReplicaSet (scale)."""
        total = self.obj["spec"]["replicas"]
        self._status(total, total, total, total, ("True", "NewReplicaSetAvailable"), at)
        self.log.emit(at, "MODIFIED", self.obj)

    def complete(self, at: float) -> None:
        total = self.obj["spec"]["replicas"]
        for name, rs in self.replicasets.items():  # the old ReplicaSets are scaled away
            if name != self.current_rs and rs["spec"]["replicas"]:
                rs["spec"]["replicas"] = 0
                self._written(rs, at)
                self.log.emit(at, "MODIFIED", rs)
        self._status(total, total, total, total, ("True", "NewReplicaSetAvailable"), at)
        self.log.emit(at, "MODIFIED", self.obj)

    @staticmethod
    def _written(rs: dict[str, Any], at: float) -> None:
        """The controller's managedFields entry, dated by its last write."""
        rs["metadata"]["managedFields"] = [
            {"manager": "kube-controller-manager", "operation": "Update", "time": ts(at)},
            {"manager": "kube-controller-manager", "operation": "Update",
             "subresource": "status", "time": ts(at + 1)},
        ]  # fmt: skip  # a table

    def stuck(self, at: float) -> None:
        total = self.obj["spec"]["replicas"]
        self._status(1, total, total, total + 1, ("True", "ReplicaSetUpdated"), at)
        self.log.emit(at, "MODIFIED", self.obj)

    def deadline_exceeded(self, at: float) -> None:
        total = self.obj["spec"]["replicas"]
        self._status(1, total, total, total + 1, ("False", "ProgressDeadlineExceeded"), at)
        self.log.emit(at, "MODIFIED", self.obj)


class StatefulSet:
    def __init__(self, log: Log, ns: str, name: str, labels: dict[str, str], at: float,
                 replicas: int = 1) -> None:  # fmt: skip  # a table
        self.log, self.ns, self.name = log, ns, name
        self.uid = f"uid-sts-{ns}-{name}"
        self.generation = 1
        self.revision = 0
        self.obj: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": ns, "uid": self.uid, "generation": 1,
                         "creationTimestamp": ts(at), "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "serviceName": name, "template": {},
                     "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"replicas": 0, "availableReplicas": 0},
        }  # fmt: skip  # a table

    def set_template(self, at: float, template: dict[str, Any]) -> None:
        first = not self.obj["spec"]["template"]
        self.obj["spec"]["template"] = template
        if not first:
            self.generation += 1
        self.obj["metadata"]["generation"] = self.generation
        self.log.emit(at, "ADDED" if first else "MODIFIED", self.obj)

    def controller_rolls(self, at: float, cr_hash: str) -> None:
        self.revision += 1
        name = f"{self.name}-{cr_hash}"
        template = copy.deepcopy(self.obj["spec"]["template"])
        template["$patch"] = "replace"
        cr = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": self.ns, "uid": f"uid-cr-{name}",
                         "creationTimestamp": ts(at),
                         "labels": {"controller-revision-hash": cr_hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                              "name": self.name, "uid": self.uid,
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "data": {"spec": {"template": template}},
            "revision": self.revision,
        }  # fmt: skip  # a table
        self.log.emit(at, "ADDED", cr)
        current = self.obj["status"].get("currentRevision", name)
        replicas = self.obj["spec"]["replicas"]
        self.obj["status"] = {
            "observedGeneration": self.generation, "replicas": replicas,
            "readyReplicas": replicas, "currentReplicas": replicas, "updatedReplicas": 0,
            "currentRevision": current, "updateRevision": name,
            "availableReplicas": replicas,
        }  # fmt: skip  # a table
        self.log.emit(at, "MODIFIED", self.obj)

    def complete(self, at: float) -> None:
        status = self.obj["status"]
        replicas = self.obj["spec"]["replicas"]
        status.update({"updatedReplicas": replicas, "readyReplicas": replicas,
                       "currentRevision": status["updateRevision"],
                       "currentReplicas": replicas})  # fmt: skip  # a table
        self.log.emit(at, "MODIFIED", self.obj)


def pod_of(
    owner: Deployment,
    rs_hash: str,
    index: int,
    at: float,
    *,
    restarts: int = 0,
    crashloop: bool = False,
    digest: str = "sha256:" + "0" * 64,
) -> dict[str, Any]:
    """A Pod of one of the Deployment's ReplicaSets, as the kubelet reports it."""
    rs_name = f"{owner.name}-{rs_hash}"
    state: dict[str, Any] = {"running": {"startedAt": ts(at)}}
    if crashloop:
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting"}}
    template = owner.obj["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{rs_name}-p{index}", "namespace": owner.ns,
                     "uid": f"uid-pod-{rs_name}-{index}", "creationTimestamp": ts(at),
                     "labels": {**template["metadata"]["labels"], "pod-template-hash": rs_hash},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": rs_name, "uid": f"uid-rs-{rs_name}",
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": template["spec"],
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "main", "image": template["spec"]["containers"][0]["image"],
             "imageID": f"registry.example/{owner.name}@{digest}", "ready": not crashloop,
             "restartCount": restarts, "state": state}]},
    }  # fmt: skip  # a table


def set_available(owner: Deployment, at: float, available: bool) -> None:
    """After a rollout: pods fail (or recover) and the Available condition follows."""
    conditions = owner.obj["status"]["conditions"]
    conditions[0] = {**conditions[0], "status": "True" if available else "False",
                     "reason": "MinimumReplicasAvailable" if available
                     else "MinimumReplicasUnavailable", "lastUpdateTime": ts(at),
                     "lastTransitionTime": ts(at)}  # fmt: skip  # a table
    total = owner.obj["spec"]["replicas"]
    owner.obj["status"]["availableReplicas"] = total if available else 0
    owner.obj["status"]["readyReplicas"] = total if available else 0
    owner.log.emit(at, "MODIFIED", owner.obj)
