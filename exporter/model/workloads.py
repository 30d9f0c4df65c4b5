"""The workloads Daylight tracks (Deployments, StatefulSets, DaemonSets), by uid.

Per workload: which fingerprints it has deployed (a return to one is a rollback), the rollout
in flight (``active``), the deployed one (``current``, what runs while a newer rollout is in
flight), the last one that finished either way, and its health (unavailable since when,
which pods crash-loop).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from exporter.events.objects import Workload
from exporter.model.identity import Identity
from exporter.model.records import AppKey, WorkloadDeployment, WorkloadKey

MAX_SHIPPED = 1_000  # bounded: enough to recognise every commit of the kept history


@dataclass(slots=True, eq=False)
class TrackedWorkload:
    uid: str
    key: WorkloadKey
    marker: str = ""
    fingerprint: str = ""
    identity: Identity | None = None
    deployed: set[str] = field(default_factory=set)
    current: WorkloadDeployment | None = None
    active: WorkloadDeployment | None = None
    last_finished: WorkloadDeployment | None = None
    last: Workload | None = None
    info_app: AppKey | None = None
    unavailable_since: float | None = None
    crashing: set[str] = field(default_factory=set)
    stale_revision: str | None = None
    shipped: set[str] = field(default_factory=set)  # commits this workload has deployed
    # pods it last had in full: when the current deployment completed, or after a scale since
    full_capacity: int | None = None
    resume_pending: bool = False  # a paused Deployment's template was edited

    def ship(self, wd: WorkloadDeployment) -> None:
        commit = wd.commit
        if commit is not None and len(self.shipped) < MAX_SHIPPED:
            self.shipped.add(commit)

    def deployments(self) -> tuple[WorkloadDeployment, ...]:
        """In flight, deployed and last finished, as far as known (for task outcomes)."""
        return tuple(w for w in (self.active, self.current, self.last_finished) if w)


class Registry:
    __slots__ = ("by_uid",)

    def __init__(self) -> None:
        self.by_uid: dict[str, TrackedWorkload] = {}

    def get(self, uid: str) -> TrackedWorkload | None:
        return self.by_uid.get(uid)

    def add(self, tracked: TrackedWorkload) -> None:
        self.by_uid[tracked.uid] = tracked

    def remove(self, uid: str) -> None:
        del self.by_uid[uid]

    def __contains__(self, uid: object) -> bool:
        return uid in self.by_uid

    def __len__(self) -> int:
        return len(self.by_uid)

    def __iter__(self) -> Iterator[TrackedWorkload]:
        return iter(self.by_uid.values())

    def by_key(self, kind: str, name: str) -> TrackedWorkload | None:
        """The first tracked workload of this kind and name (signals name no namespace)."""
        for tracked in self.by_uid.values():
            if tracked.key.kind == kind and tracked.key.name == name:
                return tracked
        return None

    def rolling_out(self, wd: WorkloadDeployment) -> TrackedWorkload | None:
        """The workload whose rollout in flight is ``wd``."""
        for tracked in self.by_uid.values():
            if tracked.active is wd:
                return tracked
        return None

    def apps_named(self, namespace: str, name: str) -> list[AppKey]:
        """Apps owning a workload of this object or workload name in ``namespace``."""
        return sorted(
            {
                t.info_app
                for t in self.by_uid.values()
                if t.info_app is not None
                and t.key.namespace == namespace
                and (t.key.name == name or (t.current is not None and t.current.workload == name))
            }
        )
