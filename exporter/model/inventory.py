"""What the cluster holds besides workloads: namespaces (environments), KeptnApps, and the
revision records (ReplicaSets, ControllerRevisions) history and pods are read against.

Revision records are slim: the fingerprint and creation time always, the identity-relevant
part of the template only until the owner's history has been rebuilt. A cluster keeps ~10
revisions per workload, each with a full pod template; keeping them whole would dominate
memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from exporter.events.keys import DEPLOYMENT_REVISION, DEPLOYMENT_REVISION_HISTORY, ENVIRONMENT_LABEL
from exporter.events.names import valid_name
from exporter.events.objects import (
    ControllerRevision,
    KeptnApp,
    ManagedFields,
    Namespace,
    PodTemplate,
    ReplicaSet,
)
from exporter.events.timeutil import parse_rfc3339
from exporter.model.fingerprint import (
    controller_revision_template,
    restart_marker,
    template_fingerprint,
)
from exporter.model.stats import ObservedStats

MAX_FINGERPRINTS = 50_000
_IDENTITY_PREFIXES = ("keptn.sh/", "app.kubernetes.io/", "daylight.dev/", "org.opencontainers.")
_template_decoder = msgspec.json.Decoder(PodTemplate)


@dataclass(slots=True, eq=False)
class Revision:
    """What history needs of a ReplicaSet or ControllerRevision, without its raw template."""

    name: str
    created: float | None
    numbers: tuple[int, ...]
    fingerprint: str
    template: PodTemplate | None  # only until the owner's history has been rebuilt
    written: float | None = None
    """Last write to the ReplicaSet itself (not its status): for a replaced one, its scale-down."""


class Inventory:
    def __init__(self, *, default_environment: str, stats: ObservedStats) -> None:
        self.default_environment = default_environment
        self.stats = stats
        self.environments: dict[str, str] = {}
        self.keptn_apps_by_namespace: dict[str, dict[str, KeptnApp]] = {}
        self.revisions: dict[str, dict[str, Revision]] = {}  # owner uid -> uid -> record
        self._rs_owner: dict[str, str] = {}  # ReplicaSet uid -> owner uid
        self._fingerprints: dict[str, str] = {}  # restart marker -> fingerprint

    # ------------------------------------------------------------------ namespaces

    def on_namespace(self, ns: Namespace, deleted: bool) -> None:
        name = ns.metadata.name
        if deleted:
            self.environments.pop(name, None)
            return
        env = ns.metadata.labels.get(ENVIRONMENT_LABEL)
        if env is not None and not valid_name(env):
            self.stats.invalid["environment_label"] += 1
            env = None
        if env is None:
            self.environments.pop(name, None)
        else:
            self.environments[name] = env

    def environment(self, namespace: str) -> str:
        return self.environments.get(namespace, self.default_environment)

    # ------------------------------------------------------------------ KeptnApps

    def on_keptn_app(self, app: KeptnApp, deleted: bool) -> None:
        apps = self.keptn_apps_by_namespace.setdefault(app.metadata.namespace, {})
        if deleted:
            apps.pop(app.metadata.name, None)
        else:
            apps[app.metadata.name] = app

    def keptn_app(self, namespace: str, name: str) -> KeptnApp | None:
        return self.keptn_apps_by_namespace.get(namespace, {}).get(name)

    def keptn_app_listing(self, namespace: str, workload: str) -> KeptnApp | None:
        """The KeptnApp (first by name) that lists ``workload``; looked up for every revision."""
        apps = self.keptn_apps_by_namespace.get(namespace)
        if not apps:
            return None
        for name in sorted(apps):
            if any(w.name == workload for w in apps[name].spec.workloads):
                return apps[name]
        return None

    # ------------------------------------------------------------------ revisions

    def on_revision(
        self,
        obj: ReplicaSet | ControllerRevision,
        deleted: bool,
        history_built: Callable[[str], bool],
    ) -> None:
        owner = next((o for o in obj.metadata.owner_references if o.controller), None)
        if owner is None:
            return
        uid = obj.metadata.uid
        bucket = self.revisions.setdefault(owner.uid, {})
        if deleted:
            bucket.pop(uid, None)
            if not bucket:
                self.revisions.pop(owner.uid, None)
            self._rs_owner.pop(uid, None)
            return
        existing = bucket.get(uid)
        if isinstance(obj, ReplicaSet):
            numbers = tuple(revision_numbers(obj.metadata.annotations))
            written = last_written(obj.metadata.managed_fields)
            if existing is not None:  # a reused ReplicaSet only changes its revision numbers
                existing.numbers = numbers
                existing.written = written
                return
            raw = bytes(obj.spec.template)
            self._rs_owner[uid] = owner.uid
        else:
            numbers = (obj.revision,) if obj.revision > 0 else ()
            if existing is not None:
                existing.numbers = numbers
                return
            raw = controller_revision_template(bytes(obj.data))
        template = None if history_built(owner.uid) else slim_template(raw)
        bucket[uid] = Revision(
            obj.metadata.name,
            parse_rfc3339(obj.metadata.creation_timestamp),
            numbers,
            template_fingerprint(raw),
            template,
            last_written(obj.metadata.managed_fields) if isinstance(obj, ReplicaSet) else None,
        )

    def records_of(self, owner_uid: str) -> list[Revision]:
        return list(self.revisions.get(owner_uid, {}).values())

    def forget_templates(self, owner_uid: str) -> None:
        """History is built: keep only what pods and revisions need."""
        for record in self.revisions.get(owner_uid, {}).values():
            record.template = None

    def replica_set(self, uid: str) -> tuple[str | None, Revision | None]:
        """The owner uid and the record of a ReplicaSet, as far as known."""
        owner = self._rs_owner.get(uid)
        return owner, self.revisions.get(owner or "", {}).get(uid)

    def controller_revision(self, owner_uid: str, fingerprint: str) -> str | None:
        """The number of the newest ControllerRevision holding this template, if known."""
        best = 0
        for record in self.revisions.get(owner_uid, {}).values():
            if record.fingerprint == fingerprint and record.numbers:
                best = max(best, *record.numbers)
        return str(best) if best else None

    # ------------------------------------------------------------------ fingerprints

    def fingerprint(self, raw: bytes) -> tuple[str, str]:
        """(restart marker, fingerprint) of a raw pod template; fingerprints are cached."""
        marker = restart_marker(raw)
        fp = self._fingerprints.get(marker)
        if fp is None:
            if len(self._fingerprints) > MAX_FINGERPRINTS:
                self._fingerprints.clear()
            fp = self._fingerprints[marker] = template_fingerprint(raw)
        return marker, fp


def revision_numbers(annotations: dict[str, str]) -> list[int]:
    values = [annotations.get(DEPLOYMENT_REVISION, "")]
    values += annotations.get(DEPLOYMENT_REVISION_HISTORY, "").split(",")
    out = []
    for value in values:
        value = value.strip()
        if value.isdigit() and len(value) < 12:
            out.append(int(value))
    return sorted(set(out))


def slim_template(raw: bytes) -> PodTemplate:
    """Only the identity-relevant labels and annotations of a template: history is large."""
    try:
        template = _template_decoder.decode(raw)
    except msgspec.DecodeError:
        return PodTemplate()
    meta = template.metadata
    meta.labels = {k: v for k, v in meta.labels.items() if k.startswith(_IDENTITY_PREFIXES)}
    meta.annotations = {
        k: v
        for k, v in meta.annotations.items()
        if k.startswith(_IDENTITY_PREFIXES) or k == "traceparent"
    }
    return template


def last_written(entries: list[ManagedFields]) -> float | None:
    """The latest write by any manager to the object itself; status writes are left out
    (the ReplicaSet controller keeps counting pods long after the rollout moved on)."""
    times = [parse_rfc3339(e.time) for e in entries if not e.subresource and e.time]
    known = [t for t in times if t is not None]
    return max(known) if known else None
