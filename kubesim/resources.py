"""The resource types the simulated API server knows, and which of them it currently serves.

A resource can be switched off at run time to look like a CRD that is not installed (plain-text
404, as the real aggregator answers for an unknown group/version) or like one the service
account may not read (403 with a Status body). Both are per-cluster state, so each cluster
owns its own `Registry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    # Built-in (typed) resources omit kind/apiVersion on list items and keep Go struct field
    # order; custom resources are unstructured: full items with sorted keys.
    builtin: bool = True
    has_status: bool = True
    has_generation: bool = True
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def path(self, namespace: str | None = None) -> str:
        """The collection URL, the same shape a client builds."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


KEPTN_LIFECYCLE = "lifecycle.keptn.sh"
KEPTN_METRICS = "metrics.keptn.sh"


def _crd(group: str, plural: str, kind: str) -> ResourceType:
    return ResourceType(group, "v1", plural, kind, True, kind.lower(), builtin=False)


ALL_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        "namespace",
        has_generation=False,
        short_names=("ns",),
    ),
    ResourceType("", "v1", "pods", "Pod", True, "pod", has_generation=False, short_names=("po",)),
    ResourceType(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        True,
        "configmap",
        has_status=False,
        has_generation=False,
        short_names=("cm",),
    ),
    ResourceType(
        "apps", "v1", "deployments", "Deployment", True, "deployment", short_names=("deploy",)
    ),
    ResourceType(
        "apps", "v1", "replicasets", "ReplicaSet", True, "replicaset", short_names=("rs",)
    ),
    ResourceType(
        "apps", "v1", "statefulsets", "StatefulSet", True, "statefulset", short_names=("sts",)
    ),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, "daemonset", short_names=("ds",)),
    ResourceType(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        True,
        "controllerrevision",
        has_status=False,
        has_generation=False,
    ),
    ResourceType("batch", "v1", "jobs", "Job", True, "job"),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        "event",
        has_status=False,
        has_generation=False,
        short_names=("ev",),
    ),
    _crd(KEPTN_LIFECYCLE, "keptnapps", "KeptnApp"),
    _crd(KEPTN_LIFECYCLE, "keptntaskdefinitions", "KeptnTaskDefinition"),
    _crd(KEPTN_LIFECYCLE, "keptnevaluationdefinitions", "KeptnEvaluationDefinition"),
    _crd(KEPTN_METRICS, "keptnmetrics", "KeptnMetric"),
    _crd(KEPTN_METRICS, "keptnmetricsproviders", "KeptnMetricsProvider"),
)

# Optional APIs that a fresh simulated cluster does not serve until a test installs them.
NOT_INSTALLED_BY_DEFAULT = frozenset({"events"})


class UnknownResource(KeyError):
    """A plural the registry has never heard of (a programming error, not a 404)."""


class Registry:
    """Resource types by plural (plurals are unique across the simulated API)."""

    def __init__(self, types: tuple[ResourceType, ...] = ALL_TYPES) -> None:
        self._types = {t.plural: t for t in types}
        if len(self._types) != len(types):
            raise ValueError("resource plurals must be unique in the simulated API")
        self._not_installed: set[str] = set(NOT_INSTALLED_BY_DEFAULT)
        self._forbidden: set[str] = set()

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._types.values())

    def __contains__(self, plural: object) -> bool:
        return plural in self._types

    def get(self, plural: str) -> ResourceType:
        try:
            return self._types[plural]
        except KeyError:
            raise UnknownResource(plural) from None

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._types.get(plural)
        if rt is None or rt.group != group or rt.version != version:
            return None
        return rt

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rt in self._types.values():
            if rt.kind == kind and rt.api_version == api_version:
                return rt
        return None

    # -- run-time switches -----------------------------------------------------------------
    def installed(self, plural: str) -> bool:
        return plural not in self._not_installed

    def forbidden(self, plural: str) -> bool:
        return plural in self._forbidden

    def set_installed(self, plural: str, installed: bool = True) -> None:
        """Installs or removes the API, like applying or deleting its CRD."""
        self.get(plural)
        if installed:
            self._not_installed.discard(plural)
        else:
            self._not_installed.add(plural)

    def set_forbidden(self, plural: str, forbidden: bool = True) -> None:
        """Denies or allows reading the resource, like an RBAC change for our service account."""
        self.get(plural)
        if forbidden:
            self._forbidden.add(plural)
        else:
            self._forbidden.discard(plural)

    def served(self) -> list[ResourceType]:
        """What discovery advertises: installed resources (forbidden ones are still listed)."""
        return [t for t in self._types.values() if self.installed(t.plural)]
