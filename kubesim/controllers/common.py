"""What every simulated controller shares: options, the per-step context, small helpers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesim.podmodel import PodRecord, crash_after, ip_for
from kubesim.store import Store
from kubesim.util import SAFE_ALPHABET, JsonDict, clone, rfc3339, safe_hash

KIND_TO_RESOURCE = {
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Job": "jobs",
}


@dataclass(slots=True)
class ControllerOptions:
    with_pods: bool = False  # mirror simulated pods as Pod objects
    pod_ready_s: float = 2.0  # creation → Ready for a healthy pod
    crash_after_s: float = 30.0  # how long a `crashloop` pod runs before each crash
    nodes: int = 3  # simulated nodes: DaemonSet size and pod placement
    seed: int = 0


@dataclass(slots=True)
class PodBook:
    """Simulated pods by owner uid, then pod name."""

    by_owner: dict[str, dict[str, PodRecord]] = field(default_factory=dict)
    adopted: set[str] = field(default_factory=set)
    next_ip: int = 0

    def of(self, owner_uid: str) -> dict[str, PodRecord]:
        return self.by_owner.setdefault(owner_uid, {})

    def forget(self, owner_uid: str) -> dict[str, PodRecord]:
        self.adopted.discard(owner_uid)
        return self.by_owner.pop(owner_uid, {})


@dataclass(slots=True)
class Context:
    store: Store
    options: ControllerOptions
    pods: PodBook
    rng: random.Random
    now: float
    wake: Callable[[float, str, str | None, str], None]
    cache: dict[Any, Any] = field(default_factory=dict)  # memo shared across steps

    @property
    def timestamp(self) -> str:
        return rfc3339(self.now)

    def nodes(self) -> list[str]:
        return [f"sim-node-{i + 1}" for i in range(max(1, self.options.nodes))]

    def suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choice(SAFE_ALPHABET) for _ in range(length))

    def new_pod(
        self,
        name: str,
        namespace: str,
        owner: JsonDict,
        template: JsonDict,
        labels: dict[str, str],
        node: str,
        *,
        created_at: float | None = None,
        revision: str = "",
        ordinal: int | None = None,
    ) -> PodRecord:
        ip = ip_for(self.pods.next_ip)
        self.pods.next_ip += 1
        # Slight, deterministic per-pod variation so pods do not all flip at the same instant.
        jitter = 1.0 + (sum(map(ord, name)) % 7) / 20.0
        return PodRecord(
            name=name,
            namespace=namespace,
            owner=owner,
            template=template,
            labels=labels,
            created_at=self.now if created_at is None else created_at,
            node=node,
            ip=ip,
            ready_s=self.options.pod_ready_s * jitter,
            crash_after_s=crash_after(template, self.options.crash_after_s),
            revision=revision,
            ordinal=ordinal,
        )


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: "25%" of 3 is 1 rounded up, 0 rounded down."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = int(value[:-1])
        except ValueError:
            return 0
        scaled = pct * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def set_condition(conditions: list[JsonDict], new: JsonDict) -> list[JsonDict]:
    """SetDeploymentCondition semantics: same status and reason is a no-op; a status flip
    resets lastTransitionTime; the condition moves to the end of the list."""
    current = next((c for c in conditions if c.get("type") == new["type"]), None)
    if current is not None:
        if current.get("status") == new["status"] and current.get("reason") == new.get("reason"):
            return conditions
        if current.get("status") == new["status"]:
            new = dict(new, lastTransitionTime=current.get("lastTransitionTime"))
    return [c for c in conditions if c.get("type") != new["type"]] + [new]


def condition(kind: str, status: str, reason: str, message: str, ts: str) -> JsonDict:
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def find_condition(status: JsonDict | None, kind: str) -> JsonDict | None:
    for c in (status or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == kind:
            return c
    return None


def without_empty(values: dict[str, Any], keep: tuple[str, ...] = ()) -> JsonDict:
    """Go `omitempty` on integer and string status fields."""
    return {k: v for k, v in values.items() if k in keep or v not in (0, "", None, [])}


def status_patch(obj: JsonDict, status: JsonDict) -> JsonDict:
    """The minimal body for a /status write: identity plus the new status."""
    metadata = obj["metadata"]
    return {
        "metadata": {"name": metadata["name"], "namespace": metadata.get("namespace")},
        "status": status,
    }


def template_hash(ctx: Context, obj: JsonDict, ignore_label: str | None = None) -> str:
    """Hash of `spec.template` (minus one label), memoised per object generation: templates
    are compared on every reconcile and only change with the spec."""
    metadata = obj["metadata"]
    key = ("template", metadata["uid"], metadata.get("generation"), ignore_label)
    found = ctx.cache.get(key)
    if found is None:
        template = obj["spec"].get("template") or {}
        if ignore_label is not None:
            labels = (template.get("metadata") or {}).get("labels") or {}
            if ignore_label in labels:
                template = clone(template)
                del template["metadata"]["labels"][ignore_label]
        if len(ctx.cache) > 50_000:
            ctx.cache.clear()
        found = ctx.cache[key] = safe_hash(template)
    return str(found)


def controller_managed(metadata: JsonDict, timestamp: str) -> JsonDict:
    """The managedFields entry kube-controller-manager leaves on objects it writes; its
    ``time`` is the last time the controller changed the object (clients date events by it)."""
    return dict(
        metadata,
        managedFields=[
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": timestamp,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }
        ],
    )
