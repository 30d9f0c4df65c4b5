"""Health after a deployment (design §3): degradation and crash loops, and the image digests
pods reveal (a CI change may match a deployment by digest).

A workload that lost capacity for longer than ``--degraded-after`` outside a rollout makes
its current deployment a failed change (``degraded``); a pod of the deployed revision in
CrashLoopBackOff or restarting 3+ times makes it one at once (``crashloop``). Both signals
close when the condition clears, which may restore the app.
"""

from __future__ import annotations

from exporter.events.objects import Pod, Workload
from exporter.events.timeutil import parse_rfc3339
from exporter.model import rollout_status
from exporter.model.changes import Changes
from exporter.model.failures import FailureTracker, Signal, SignalKind
from exporter.model.inventory import Inventory
from exporter.model.records import FailureReason, WorkloadDeployment
from exporter.model.timers import DegradationDue, Timers
from exporter.model.workloads import Registry, TrackedWorkload

CRASH_RESTARTS = 3
MAX_DIGESTS = 8
MAX_CRASHING = 10_000  # bounded: a runaway set of crashing pods is not information


class Health:
    def __init__(
        self,
        *,
        degraded_after_s: float,
        inventory: Inventory,
        registry: Registry,
        failures: FailureTracker,
        changes: Changes,
        timers: Timers,
    ) -> None:
        self.degraded_after_s = degraded_after_s
        self.inventory = inventory
        self.registry = registry
        self.failures = failures
        self.changes = changes
        self.timers = timers

    def check(self, tracked: TrackedWorkload, workload: Workload, now: float) -> None:
        """Degraded: capacity lost for longer than --degraded-after outside a rollout."""
        if not rollout_status.capacity_lost(workload, tracked.full_capacity):
            if rollout_status.full(workload):  # a scale completed: its capacity counts now
                tracked.full_capacity = rollout_status.scheduled(workload)
            if tracked.unavailable_since is not None:
                tracked.unavailable_since = None
                app = tracked.info_app
                if app is not None:
                    signal = Signal.of_workload(SignalKind.DEGRADED, tracked.key)
                    self.failures.clear(app, signal)
                    self.failures.restore_if_healthy(app, now)
            return
        if tracked.unavailable_since is None:
            # the condition knows when it turned, even if we were not watching then; below
            # the desired count (a scale-up waiting) it turned for that, not for this loss
            floor = rollout_status.capacity_floor(workload, tracked.full_capacity)
            dated = floor >= rollout_status.scheduled(workload)
            condition = rollout_status.unavailable_since(workload) if dated else None
            since = min(parse_rfc3339(condition) or now, now)
            tracked.unavailable_since = since
            self.timers.schedule(since + self.degraded_after_s, DegradationDue(tracked.uid, since))

    def degradation_due(self, uid: str, since: float, due: float) -> None:
        tracked = self.registry.get(uid)
        if tracked is None or tracked.unavailable_since != since or tracked.active is not None:
            return
        current = tracked.current
        if current is None or current.group is None:
            return
        signal = Signal.of_workload(SignalKind.DEGRADED, tracked.key)
        self.failures.mark(current.group, FailureReason.DEGRADED, due, signal)

    def on_pod(self, pod: Pod, now: float, deleted: bool) -> None:
        """Crash loops and image digests of the pods of a tracked revision."""
        owner = next((o for o in pod.metadata.owner_references if o.controller), None)
        if owner is None:
            return
        if owner.kind == "ReplicaSet":
            workload_uid, record = self.inventory.replica_set(owner.uid)
            fingerprint = record.fingerprint if record is not None else None
        else:
            workload_uid, fingerprint = owner.uid, None
        tracked = self.registry.by_uid.get(workload_uid) if workload_uid else None
        if tracked is None:
            return
        wd = _deployment_of(tracked, fingerprint)
        crashing = not deleted and wd is not None and _crashing(pod)
        if wd is not None and not deleted and len(wd.image_digests) < MAX_DIGESTS:
            for cs in pod.status.container_statuses:
                digest = _digest(cs.image_id)
                if digest and digest not in wd.image_digests:
                    wd.image_digests.add(digest)
                    repo = _repo_digest(cs.image_id)
                    if repo is not None:
                        wd.repo_digests.add(repo)
                    self.changes.match_pending(wd)
        if crashing != (pod.metadata.uid in tracked.crashing):
            self._crash_loop(tracked, wd, pod.metadata.uid, crashing, now)

    def _crash_loop(
        self,
        tracked: TrackedWorkload,
        wd: WorkloadDeployment | None,
        pod_uid: str,
        crashing: bool,
        now: float,
    ) -> None:
        if crashing and pod_uid not in tracked.crashing:
            tracked.crashing.add(pod_uid)
            if len(tracked.crashing) == 1 and wd is not None and wd.group is not None:
                signal = Signal.of_workload(SignalKind.CRASHLOOP, tracked.key)
                self.failures.mark(wd.group, FailureReason.CRASHLOOP, now, signal)
        elif not crashing and pod_uid in tracked.crashing:
            tracked.crashing.discard(pod_uid)
            if not tracked.crashing and tracked.info_app is not None:
                signal = Signal.of_workload(SignalKind.CRASHLOOP, tracked.key)
                self.failures.clear(tracked.info_app, signal)
                self.failures.restore_if_healthy(tracked.info_app, now)
        if tracked.crashing and len(tracked.crashing) > MAX_CRASHING:
            tracked.crashing.clear()


def _deployment_of(tracked: TrackedWorkload, fingerprint: str | None) -> WorkloadDeployment | None:
    """The deployment a pod of this revision (fingerprint) belongs to, if tracked."""
    wd = tracked.active or tracked.current
    if wd is None or (fingerprint is not None and fingerprint != wd.fingerprint):
        if tracked.current is not None and tracked.current.fingerprint == fingerprint:
            return tracked.current
        return None
    return wd


def _crashing(pod: Pod) -> bool:
    return any(
        cs.restart_count >= CRASH_RESTARTS
        or (cs.state.waiting is not None and cs.state.waiting.reason == "CrashLoopBackOff")
        for cs in pod.status.container_statuses
    )


def _repo_digest(image_id: str) -> str | None:
    """``repo@sha256:...`` of a container status' imageID (``docker-pullable://`` and other
    scheme prefixes dropped); None for a bare image id."""
    reference = image_id.split("://", 1)[-1]
    repo, at, digest = reference.partition("@")
    if not at or not repo or not digest.startswith("sha256:") or len(reference) > 512:
        return None
    return f"{repo}@{digest[:71]}"


def _digest(image_id: str) -> str | None:
    at = image_id.find("sha256:")
    return image_id[at : at + 71] if at >= 0 and len(image_id) >= at + 71 else None
