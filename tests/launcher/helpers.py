"""Builders shared by the launcher tests: definitions and requests as the API serves them."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from exporter.events.objects import KeptnObject
from exporter.launcher.render import Owner, TaskContext, TaskRequest

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def definition(
    name: str,
    spec: dict[str, Any],
    *,
    namespace: str = "shop",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    kind: str = "KeptnTaskDefinition",
) -> KeptnObject:
    obj = {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{kind.lower()}-{name}",
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "spec": spec,
    }
    return msgspec.json.decode(json.dumps(obj), type=KeptnObject)


def request(
    task: str,
    *,
    phase: str = "post",
    object_type: str = "Workload",
    namespace: str = "shop",
    revision: str = "3",
) -> TaskRequest:
    workload = object_type == "Workload"
    context = TaskContext(
        app_name="shop",
        app_version="1.4.0",
        workload_name="checkout" if workload else "",
        workload_version="1.4.0" if workload else "",
        task_type=phase,
        object_type=object_type,
        traceparent=TRACEPARENT,
        metadata=(("team", "payments"),),
    )
    owner = (
        Owner("apps/v1", "Deployment", "checkout", "uid-deploy-checkout")
        if workload
        else Owner("lifecycle.keptn.sh/v1", "KeptnApp", "shop", "uid-keptnapp-shop")
    )
    identity = (
        namespace,
        owner.kind,
        owner.name,
        owner.uid,
        "shop",
        context.workload_name,
        "1.4.0",
        revision,
        task,
        phase,
    )
    return TaskRequest(
        namespace=namespace,
        task=task,
        phase=phase,
        context=context,
        owner=owner,
        identity=identity,
        workload_kind="Deployment" if workload else "",
        revision=revision,
    )
