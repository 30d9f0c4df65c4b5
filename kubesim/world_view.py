"""What the demo world reads back from the cluster: its workloads' objects, versions, rollout
state, broken templates and the revision `kubectl rollout undo` would restore."""

from __future__ import annotations

from kubesim.controllers.deployment import revision_of
from kubesim.controllers.replicaset import POD_TEMPLATE_HASH
from kubesim.controllers.revisions import revisions_of_uid, template_of
from kubesim.podmodel import BEHAVIOR_ANNOTATION
from kubesim.store import Store
from kubesim.util import JsonDict, as_int, clone
from kubesim.world_catalog import KEPTN, KEPTN_APP, LABELS, AppSpec, WorkloadSpec

RESOURCE_OF = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
}


def version_of(w: WorkloadSpec, template: JsonDict) -> str:
    metadata = template.get("metadata") or {}
    if w.style == LABELS:
        found = (metadata.get("labels") or {}).get("app.kubernetes.io/version")
    elif w.style in (KEPTN, KEPTN_APP):
        found = (metadata.get("annotations") or {}).get("keptn.sh/version")
    else:
        containers = (template.get("spec") or {}).get("containers") or [{}]
        found = str(containers[0].get("image", "")).rsplit(":", 1)[-1]
    return str(found or w.version)


class WorldView:
    """Read-only questions about the world's apps, answered from the store."""

    def __init__(self, *, store: Store, apps: tuple[AppSpec, ...]) -> None:
        self.store = store
        self.apps = apps

    def app(self, namespace: str, name: str) -> AppSpec:
        return next(a for a in self.apps if a.namespace == namespace and a.name == name)

    def obj(self, w: WorkloadSpec) -> JsonDict | None:
        return self.store.peek(RESOURCE_OF[w.kind], w.name, w.namespace)

    def current_version(self, w: WorkloadSpec) -> str:
        obj = self.obj(w)
        return version_of(w, obj["spec"]["template"]) if obj else w.version

    def settled(self, w: WorkloadSpec) -> bool:
        """Whether the workload's last rollout finished (the `kubectl rollout status` test)."""
        obj = self.obj(w)
        if obj is None:
            return False
        spec, status = obj["spec"], obj.get("status") or {}
        if as_int(status.get("observedGeneration")) < obj["metadata"].get("generation", 1):
            return False
        if w.kind == "Deployment":
            want = as_int(spec.get("replicas"), 1)
            return (
                as_int(status.get("updatedReplicas")) == want
                and as_int(status.get("replicas")) == want
                and as_int(status.get("availableReplicas")) >= want
            )
        if w.kind == "StatefulSet":
            want = as_int(spec.get("replicas"), 1)
            return (
                status.get("currentRevision") == status.get("updateRevision")
                and as_int(status.get("readyReplicas")) == want
                and as_int(status.get("updatedReplicas")) == want
            )
        desired = as_int(status.get("desiredNumberScheduled"))
        return (
            as_int(status.get("updatedNumberScheduled")) == desired
            and as_int(status.get("numberAvailable")) == desired
        )

    def previous_template(self, w: WorkloadSpec) -> JsonDict | None:
        """What `kubectl rollout undo --to-revision` would restore: the most recent earlier
        revision that was healthy and differs from the current template."""
        obj = self.obj(w)
        if obj is None:
            return None
        uid = obj["metadata"]["uid"]
        templates: list[JsonDict] = []
        if w.kind == "Deployment":
            rss = sorted(self.store.owned("replicasets", uid), key=revision_of, reverse=True)
            for rs in rss[1:]:
                template: JsonDict = clone(rs["spec"]["template"])
                template["metadata"].get("labels", {}).pop(POD_TEMPLATE_HASH, None)
                templates.append(template)
        else:
            revisions = revisions_of_uid(self.store, uid)
            templates = [template_of(r) for r in reversed(revisions[:-1])]
        current = obj["spec"]["template"]
        for template in templates:
            notes = (template.get("metadata") or {}).get("annotations") or {}
            if BEHAVIOR_ANNOTATION not in notes and template != current:
                return template
        return None

    def broken(self, app: AppSpec) -> list[WorkloadSpec]:
        """Workloads currently running a deliberately bad template."""
        out = []
        for w in app.workloads:
            obj = self.obj(w)
            notes = ((obj or {}).get("spec", {}).get("template", {}).get("metadata") or {}).get(
                "annotations"
            ) or {}
            if BEHAVIOR_ANNOTATION in notes:
                out.append(w)
        return out
