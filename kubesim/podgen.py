"""Pod objects as the kubelet and API server would serve them.

The point is realism in shape and size (a typical controller-managed pod is 5-10 KB of JSON
with managedFields, projected service-account volumes, probes and per-container statuses),
because the exporter's decoding cost and memory are dominated by exactly this.
"""

from __future__ import annotations

from typing import Any

from kubesim.defaults import default_pod_spec
from kubesim.podmodel import PodRecord, PodState, container_id, image_digest
from kubesim.util import JsonDict, clone, rfc3339, safe_hash

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def _api_access_volume(pod_name: str) -> JsonDict:
    suffix = safe_hash(pod_name, 5)
    return {
        "name": f"kube-api-access-{suffix}",
        "projected": {
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
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }


def _qos(containers: list[Any]) -> str:
    requests = limits = guaranteed = 0
    for c in containers:
        res = c.get("resources") or {} if isinstance(c, dict) else {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests += bool(req)
        limits += bool(lim)
        guaranteed += bool(lim) and all(lim.get(k) == req.get(k, lim.get(k)) for k in lim)
    if containers and guaranteed == len(containers) and limits == len(containers):
        return "Guaranteed"
    return "Burstable" if requests or limits else "BestEffort"


def _repo(image: str) -> str:
    tail = image.rsplit("/", 1)
    last = tail[-1].split("@")[0].split(":")[0]
    return f"{tail[0]}/{last}" if len(tail) == 2 else last


def _container_status(rec: PodRecord, state: PodState, container: JsonDict) -> JsonDict:
    name = container.get("name", "")
    image = container.get("image", "")
    status: JsonDict = {"name": name}
    if state.waiting_reason == "ContainerCreating":
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    elif state.waiting_reason == "CrashLoopBackOff":
        delay = (
            "5m0s" if state.restart_count >= 6 else f"{int(10 * 2 ** (state.restart_count - 1))}s"
        )
        status["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {delay} restarting failed container={name} "
                f"pod={rec.name}_{rec.namespace}({rec.uid or ''})",
            }
        }
    else:
        assert state.running_since is not None
        status["state"] = {"running": {"startedAt": rfc3339(state.running_since)}}
    if state.last_crash is not None:
        started, finished = state.last_crash
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": rfc3339(started),
                "finishedAt": rfc3339(finished),
                "containerID": container_id(rec.name, name, state.restart_count - 1),
            }
        }
    else:
        status["lastState"] = {}
    status["ready"] = state.ready
    status["restartCount"] = state.restart_count
    status["image"] = image
    if state.phase != "Pending":
        status["imageID"] = f"docker-pullable://{_repo(image)}@sha256:{image_digest(image)}"
        status["containerID"] = container_id(rec.name, name, state.restart_count)
    else:
        status["imageID"] = ""
    status["started"] = state.running
    return status


def _conditions(rec: PodRecord, state: PodState, containers: list[JsonDict]) -> list[JsonDict]:
    created = rfc3339(rec.created_at)
    started = rfc3339(rec.created_at + rec.start_s)
    running = state.phase == "Running"

    def cond(kind: str, ok: bool, since: str, reason: str | None = None) -> JsonDict:
        c: JsonDict = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
        c["lastTransitionTime"] = since
        if not ok and reason:
            c["reason"] = reason
            names = " ".join(x.get("name", "") for x in containers)
            c["message"] = f"containers with unready status: [{names}]"
        return c

    ready_since = rfc3339(state.ready_since) if state.ready_since is not None else None
    not_ready_since = started if state.last_crash is None else rfc3339(state.last_crash[1])
    ready_time = ready_since or (not_ready_since if running else created)
    return [
        cond("PodReadyToStartContainers", running, started if running else created),
        cond("Initialized", True, created),
        cond("Ready", state.ready, ready_time, "ContainersNotReady"),
        cond("ContainersReady", state.ready, ready_time, "ContainersNotReady"),
        cond("PodScheduled", True, created),
    ]


def node_ip(node: str) -> str:
    digits = "".join(ch for ch in node if ch.isdigit()) or "1"
    return f"172.18.0.{int(digits) % 250 + 1}"


def pod_status(
    rec: PodRecord, state: PodState, containers: list[JsonDict] | None = None
) -> JsonDict:
    """What the kubelet reports for this record at this state."""
    if containers is None:
        spec = rec.template.get("spec") or {}
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    host_ip = node_ip(rec.node)
    status: JsonDict = {"phase": state.phase}
    status["conditions"] = _conditions(rec, state, containers)
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    if state.phase != "Pending":
        status["podIP"] = rec.ip
        status["podIPs"] = [{"ip": rec.ip}]
    status["startTime"] = rfc3339(rec.created_at)
    status["containerStatuses"] = [_container_status(rec, state, c) for c in containers]
    status["qosClass"] = _qos(containers)
    return status


def pod_object(rec: PodRecord, state: PodState, *, managed_fields: bool = False) -> JsonDict:
    """The Pod a real cluster would serve for this record at this state."""
    template = rec.template
    tmeta = template.get("metadata") or {}
    spec = clone(template.get("spec") or {})
    default_pod_spec(spec)
    volume = _api_access_volume(rec.name)
    spec["volumes"] = [*(spec.get("volumes") or []), volume]
    mount = {"name": volume["name"], "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    for c in containers:
        c["volumeMounts"] = [*(c.get("volumeMounts") or []), mount]
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec["nodeName"] = rec.node
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{t}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for t in ("not-ready", "unreachable")
        ],
    )
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    metadata: JsonDict = {"name": rec.name}
    if rec.ordinal is None:
        metadata["generateName"] = rec.name[:-5] if len(rec.name) > 6 else rec.name
    metadata["namespace"] = rec.namespace
    if rec.uid:
        metadata["uid"] = rec.uid
    metadata["creationTimestamp"] = rfc3339(rec.created_at)
    metadata["labels"] = dict(rec.labels)
    annotations = tmeta.get("annotations")
    if annotations:
        metadata["annotations"] = dict(annotations)
    metadata["ownerReferences"] = [dict(rec.owner)]
    status = pod_status(rec, state, containers)
    pod: JsonDict = {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec}
    if managed_fields:
        metadata["managedFields"] = _managed_fields(metadata, spec, status, rec.created_at)
    pod["status"] = status
    return pod


def _fields_v1(value: Any) -> Any:
    """A structural summary in the shape server-side apply records in managedFields."""
    if isinstance(value, dict):
        return {f"f:{k}": _fields_v1(v) for k, v in value.items()}
    if isinstance(value, list):
        out: JsonDict = {}
        for item in value:
            if isinstance(item, dict) and "name" in item:
                out[f'k:{{"name":"{item["name"]}"}}'] = _fields_v1(item)
            elif isinstance(item, dict) and "type" in item:
                out[f'k:{{"type":"{item["type"]}"}}'] = _fields_v1(item)
            else:
                out["."] = {}
        return out
    return {}


def _managed_fields(
    metadata: JsonDict, spec: JsonDict, status: JsonDict, ts: float
) -> list[JsonDict]:
    meta_fields = {
        k: v for k, v in metadata.items() if k in ("generateName", "labels", "ownerReferences")
    }
    return [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": rfc3339(ts),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": _fields_v1(meta_fields), "f:spec": _fields_v1(spec)},
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": rfc3339(ts + 3),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": _fields_v1(status)},
            "subresource": "status",
        },
    ]
