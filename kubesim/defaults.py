"""API-server defaulting for the kinds the sim runs controllers for.

Real objects come back from the server with defaults filled in (strategy, probes, the famous
`creationTimestamp: null` in pod templates); clients that fingerprint templates must cope with
that, so the sim serves the same shapes. Every function here is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesim.util import JsonDict

_PROBE_DEFAULTS = (
    ("timeoutSeconds", 1),
    ("periodSeconds", 10),
    ("successThreshold", 1),
    ("failureThreshold", 3),
)


def _image_pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in _PROBE_DEFAULTS:
        probe.setdefault(key, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("scheme", "HTTP")


def _default_container(container: Any) -> None:
    if not isinstance(container, dict):
        return
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    container.setdefault("resources", {})
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(key))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = container.get("image")
    container.setdefault(
        "imagePullPolicy", _image_pull_policy(image) if isinstance(image, str) else "IfNotPresent"
    )


def default_pod_spec(spec: Any, restart_policy: str = "Always") -> None:
    if not isinstance(spec, dict):
        return
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            _default_container(container)
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def default_template(template: Any, restart_policy: str = "Always") -> None:
    if not isinstance(template, dict):
        return
    metadata = template.setdefault("metadata", {})
    if isinstance(metadata, dict):
        # Go serialises the zero metav1.Time inside embedded templates as null.
        metadata.setdefault("creationTimestamp", None)
    default_pod_spec(template.setdefault("spec", {}), restart_policy)


def _spec(obj: JsonDict) -> JsonDict | None:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else None


def default_deployment(obj: JsonDict, _uid: str) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    default_template(spec.get("template"))
    _default_rolling_update(spec, "strategy", maxUnavailable="25%", maxSurge="25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def default_replicaset(obj: JsonDict, _uid: str) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    default_template(spec.get("template"))


def default_statefulset(obj: JsonDict, _uid: str) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    default_template(spec.get("template"))
    spec.setdefault("podManagementPolicy", "OrderedReady")
    _default_rolling_update(spec, "updateStrategy", partition=0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
    )


def default_daemonset(obj: JsonDict, _uid: str) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    default_template(spec.get("template"))
    _default_rolling_update(spec, "updateStrategy", maxUnavailable=1, maxSurge=0)
    spec.setdefault("revisionHistoryLimit", 10)


def default_job(obj: JsonDict, uid: str) -> None:
    """Jobs get a generated selector and labels keyed on their own uid, like the real server."""
    spec = _spec(obj)
    if spec is None:
        return
    name = obj.get("metadata", {}).get("name", "")
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    generated = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    if not spec.get("manualSelector"):
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        template = spec.get("template")
        if isinstance(template, dict):
            metadata = template.setdefault("metadata", {})
            if isinstance(metadata, dict):
                labels = metadata.setdefault("labels", {})
                if isinstance(labels, dict):
                    for key, value in generated.items():
                        labels.setdefault(key, value)
    default_template(spec.get("template"), restart_policy="Never")
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")


def default_pod(obj: JsonDict, _uid: str) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)


def default_namespace(obj: JsonDict, _uid: str) -> None:
    name = obj.get("metadata", {}).get("name", "")
    metadata = obj.setdefault("metadata", {})
    labels = metadata.setdefault("labels", {})
    if isinstance(labels, dict):
        labels.setdefault("kubernetes.io/metadata.name", name)
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj.setdefault("status", {"phase": "Active"})


Defaulter = Callable[[JsonDict, str], None]

DEFAULTERS: dict[str, Defaulter] = {
    "deployments": default_deployment,
    "replicasets": default_replicaset,
    "statefulsets": default_statefulset,
    "daemonsets": default_daemonset,
    "jobs": default_job,
    "pods": default_pod,
    "namespaces": default_namespace,
}


def _default_rolling_update(spec: JsonDict, key: str, **rolling_defaults: object) -> None:
    """A RollingUpdate strategy unless one is given, with the kind's rollingUpdate defaults."""
    strategy = spec.setdefault(key, {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                for name, value in rolling_defaults.items():
                    rolling.setdefault(name, value)
