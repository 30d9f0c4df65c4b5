"""The resources Daylight watches, and how each is addressed and decoded."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from exporter.events import objects


@dataclass(frozen=True, slots=True)
class Resource:
    plural: str
    kind: str
    group: str
    version: str
    item_type: type[msgspec.Struct]
    namespaced: bool = True
    optional: bool = False  # a CRD that may be absent: 404 disables it with a warning

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


NAMESPACES = Resource("namespaces", "Namespace", "", "v1", objects.Namespace, namespaced=False)
PODS = Resource("pods", "Pod", "", "v1", objects.Pod)
DEPLOYMENTS = Resource("deployments", "Deployment", "apps", "v1", objects.Workload)
STATEFULSETS = Resource("statefulsets", "StatefulSet", "apps", "v1", objects.Workload)
DAEMONSETS = Resource("daemonsets", "DaemonSet", "apps", "v1", objects.Workload)
REPLICASETS = Resource("replicasets", "ReplicaSet", "apps", "v1", objects.ReplicaSet)
CONTROLLER_REVISIONS = Resource(
    "controllerrevisions", "ControllerRevision", "apps", "v1", objects.ControllerRevision
)
JOBS = Resource("jobs", "Job", "batch", "v1", objects.Job)
# KeptnApps carry app-level checks besides what identity needs; the other Keptn resources
# keep their spec raw (decoded on use, so a bad definition is a clear failure, not a gap).
KEPTN_APPS = Resource(
    "keptnapps", "KeptnApp", "lifecycle.keptn.sh", "v1", objects.KeptnAppWithChecks, optional=True
)
KEPTN_TASK_DEFINITIONS = Resource(
    "keptntaskdefinitions",
    "KeptnTaskDefinition",
    "lifecycle.keptn.sh",
    "v1",
    objects.KeptnObject,
    optional=True,
)
KEPTN_EVALUATION_DEFINITIONS = Resource(
    "keptnevaluationdefinitions",
    "KeptnEvaluationDefinition",
    "lifecycle.keptn.sh",
    "v1",
    objects.KeptnObject,
    optional=True,
)
KEPTN_METRICS = Resource(
    "keptnmetrics", "KeptnMetric", "metrics.keptn.sh", "v1", objects.KeptnObject, optional=True
)
KEPTN_METRICS_PROVIDERS = Resource(
    "keptnmetricsproviders",
    "KeptnMetricsProvider",
    "metrics.keptn.sh",
    "v1",
    objects.KeptnObject,
    optional=True,
)

# Feed order at start-up matters: environments and KeptnApps decide identities, and a
# workload's history is rebuilt from ReplicaSets/ControllerRevisions already known.
WATCHED: tuple[Resource, ...] = (
    NAMESPACES,
    KEPTN_APPS,
    REPLICASETS,
    CONTROLLER_REVISIONS,
    DEPLOYMENTS,
    STATEFULSETS,
    DAEMONSETS,
    PODS,
    JOBS,
    KEPTN_TASK_DEFINITIONS,
    KEPTN_EVALUATION_DEFINITIONS,
    KEPTN_METRICS,
    KEPTN_METRICS_PROVIDERS,
)

BY_KIND: dict[str, Resource] = {r.kind: r for r in WATCHED}
