"""What to watch: which resources, in which namespaces, with which selectors.

One builder for every process that watches (the exporter, the launcher, ``record``), so a
namespace scope or a label selector means the same thing everywhere. The label selector
narrows what belongs to apps (workloads, their revisions and pods); namespaces and Keptn
objects stay whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.kube.client import ApiClient
from exporter.kube.informer import Informer
from exporter.kube.resources import (
    CONTROLLER_REVISIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    WATCHED,
    Resource,
)

SELECTABLE = frozenset(
    {DEPLOYMENTS, STATEFULSETS, DAEMONSETS, REPLICASETS, CONTROLLER_REVISIONS, PODS}
)


@dataclass(slots=True)
class WatchScope:
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: frozenset[str] = frozenset()
    label_selector: str | None = None
    resources: tuple[Resource, ...] = WATCHED
    watch_timeout_s: int = 300
    page_size: int = 500
    selectors: Mapping[Resource, str] = field(default_factory=dict)
    """Fixed selectors per resource (e.g. the launcher's own Jobs), beside label_selector."""


def build_informers(
    client: ApiClient,
    scope: WatchScope,
    *,
    item_type: Any = None,
    clock: Callable[[], float] | None = None,
) -> list[Informer]:
    """One informer per resource and namespace of the scope, in the resources' order."""
    informers: list[Informer] = []
    for resource in scope.resources:
        namespaces: Sequence[str | None] = (None,)
        if scope.namespaces and resource.namespaced:
            namespaces = scope.namespaces
        selector = scope.selectors.get(resource)
        if selector is None and resource in SELECTABLE:
            selector = scope.label_selector
        for namespace in namespaces:
            extra: dict[str, Any] = {} if clock is None else {"clock": clock}
            informers.append(
                Informer(
                    client,
                    resource,
                    namespace=namespace,
                    label_selector=selector or None,
                    item_type=item_type,
                    page_size=scope.page_size,
                    watch_timeout_s=scope.watch_timeout_s,
                    excluded_namespaces=scope.exclude_namespaces,
                    **extra,
                )
            )
    return informers
