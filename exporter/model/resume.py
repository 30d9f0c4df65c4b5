"""Picking up after a restart from the state file (``--state-file``, design §3 "History").

The state file holds what the cluster cannot tell a new process: exact finish times,
failures, restores, lead times. At start-up it is loaded before the first event; then, per
workload listed, the revisions rebuilt from the cluster are merged with what the file already
has (never counted twice), and revisions made while no exporter was running are played as if
watched, so the failures they end, the rollbacks they are and the restores they bring count.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.events.external import Change
from exporter.events.objects import Workload
from exporter.events.timeutil import parse_rfc3339
from exporter.model import rollout_status
from exporter.model.alerts import Alerts
from exporter.model.changes import Changes
from exporter.model.failures import FailureTracker, OpenFailure, Signal, SignalKind
from exporter.model.identity import Identity
from exporter.model.ledger import Ledger
from exporter.model.records import (
    AppDeployment,
    AppKey,
    Outcome,
    RolloutFailure,
    WorkloadDeployment,
    WorkloadKey,
)
from exporter.model.rollouts import Rollouts
from exporter.model.timers import GroupingEnds, RolloutTimeout, Timers
from exporter.model.workloads import Registry, TrackedWorkload

SAME_START_S = 120.0  # a rebuilt revision this close to a saved one without numbers is it

PersistedFailure = tuple[AppKey, float, list[str], list[str]]
"""(app, opened at, signals as written, ids of the app deployments it is about)."""


class Resume:
    def __init__(
        self,
        *,
        grouping_window_s: float,
        rollout_timeout_s: float,
        ledger: Ledger,
        registry: Registry,
        rollouts: Rollouts,
        failures: FailureTracker,
        changes: Changes,
        alerts: Alerts,
        timers: Timers,
    ) -> None:
        self.grouping_window_s = grouping_window_s
        self.rollout_timeout_s = rollout_timeout_s
        self.ledger = ledger
        self.registry = registry
        self.rollouts = rollouts
        self.failures = failures
        self.changes = changes
        self.alerts = alerts
        self.timers = timers
        self._persisted: dict[WorkloadKey, list[WorkloadDeployment]] = {}

    def load(
        self,
        groups: Iterable[AppDeployment],
        failures: Iterable[PersistedFailure],
        changes: Iterable[tuple[float, Change]],
        alerts: dict[str, AppKey],
    ) -> None:
        """A previous process's ledger, before the first event."""
        by_id: dict[str, AppDeployment] = {}
        for group in sorted(groups, key=lambda g: g.started_at):
            self.ledger.of(group.app).live_groups.append(group)
            by_id[group.identity] = group
            for wd in group.workloads:
                self._persisted.setdefault(wd.key, []).append(wd)
            if group.outcome is Outcome.SUCCEEDED and not group.closed:
                self.timers.schedule(group.started_at + self.grouping_window_s, GroupingEnds(group))
            self.ledger.touch(group.app)
        for app, opened_at, signals, ids in failures:
            members = [by_id[i] for i in ids if i in by_id]
            if members:
                parsed = {s for s in map(Signal.parse, signals) if s is not None}
                self.failures.open[app] = OpenFailure(app, opened_at, parsed, members)
        for at, change in changes:
            self.changes.restore(at, change)
        self.alerts.firing.update(alerts)

    def known(self, key: WorkloadKey) -> list[WorkloadDeployment]:
        """What the state file has of this workload (before merge() takes it)."""
        return self._persisted.get(key, [])

    def merge(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        history: list[WorkloadDeployment],
        fp: str,
    ) -> tuple[list[WorkloadDeployment], list[WorkloadDeployment]]:
        """(history the state file does not have, revisions made while nobody watched)."""
        persisted = self._persisted.pop(tracked.key, [])
        if not persisted:
            return history, []
        # the state file already holds these revisions, with exact times and outcomes
        history = [h for h in history if not any(_same_rollout(p, h) for p in persisted)]
        history = [h for h in history if not _restart_of_known(h, persisted)]
        in_flight = [p for p in persisted if p.outcome is Outcome.PROGRESSING]
        if history and any(p.fingerprint == history[-1].fingerprint for p in in_flight):
            history.pop()  # the rollout that was in flight when the last process stopped
        newer = _newer_than(history, persisted)
        history = [h for h in history if h not in newer]
        self._resume_workload(tracked, workload, persisted, fp, bool(newer))
        return history, newer

    def _resume_workload(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        persisted: list[WorkloadDeployment],
        fp: str,
        catching_up: bool,
    ) -> None:
        """Pick up where the previous process stopped, for one workload."""
        persisted.sort(key=lambda w: w.started_at)
        for wd in persisted:
            if wd.outcome is Outcome.SUCCEEDED:
                tracked.deployed.add(wd.fingerprint)
                tracked.ship(wd)
        finished = [w for w in persisted if w.outcome.finished]
        if finished:
            tracked.last_finished = finished[-1]
        done = [w for w in finished if w.outcome is Outcome.SUCCEEDED]
        if done:
            tracked.current = done[-1]  # what runs while a newer rollout is in flight
            self.rollouts.set_current(tracked, done[-1])
        for wd in persisted:
            if wd.outcome is not Outcome.PROGRESSING:
                continue
            if (wd.fingerprint == fp or catching_up) and tracked.active is None:
                # evaluate() finishes it if it completed meanwhile; a revision made while we
                # were away supersedes or fails it (a rollback) in catch_up()
                tracked.active = wd
                if not rollout_status.has_own_deadline(workload):
                    self.timers.schedule(wd.started_at + self.rollout_timeout_s, RolloutTimeout(wd))
            else:
                self.rollouts.supersede(wd)  # replaced while we were not watching

    def catch_up(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        newer: list[WorkloadDeployment],
        fp: str,
        complete: bool,
        now: float,
    ) -> None:
        """Play the revisions made while no exporter ran, each until the next began."""
        for index, entry in enumerate(newer):
            last = index == len(newer) - 1
            identity = Identity(
                workload=entry.workload,
                app=entry.app.app,
                version=entry.version,
                app_from_label=True,
                commit_time=None,
                commit_sha=entry.commit_sha,
                traceparent=None,
                invalid=(),
                images=entry.images,
            )
            # a reused ReplicaSet's start is only a lower bound: never before what it replaced
            before = tracked.active or tracked.last_finished
            start = (
                entry.started_at
                if before is None
                else max(entry.started_at, before.finished_at or before.started_at)
            )
            rollback = entry.fingerprint in tracked.deployed
            wd = self.rollouts.start(
                tracked, workload, identity, entry.fingerprint, start, rollback, entry.revision
            )
            wd.redeployed = wd.redeployed or entry.redeployed
            if not wd.redeployed:  # a commit shipped before keeps no commit time
                wd.commit_time = None if wd.rollback else entry.commit_time
                wd.commit_source = entry.commit_source if wd.commit_time is not None else None
            if last and entry.fingerprint == fp and not complete:
                return  # still rolling out: watched from here on
            end = newer[index + 1].started_at if not last else now
            if last:
                hint = parse_rfc3339(rollout_status.condition_time(workload))
                if hint is not None and wd.started_at <= hint <= now:
                    end = hint
            at = max(end, wd.started_at)
            if last and rollout_status.progress_deadline_exceeded(workload):
                self.rollouts.failed(tracked, wd, at, RolloutFailure.PROGRESS_DEADLINE)
            else:
                self.rollouts.succeeded(tracked, wd, at)

    def reconcile(self, now: float) -> None:
        """After the first sync of a restart: close signals that ended while we were away."""
        for app, failure in list(self.failures.open.items()):
            for signal in list(failure.signals):
                ref = signal.workload()
                if ref is None:
                    continue
                tracked = self.registry.by_key(*ref)
                if tracked is None or _signal_ended(signal, tracked):
                    failure.signals.discard(signal)  # the workload is gone, or recovered
            self.failures.restore_if_healthy(app, now)


def _signal_ended(signal: Signal, tracked: TrackedWorkload) -> bool:
    if signal.kind is SignalKind.CRASHLOOP:
        return not tracked.crashing
    if signal.kind is SignalKind.DEGRADED:
        return tracked.last is not None and not rollout_status.capacity_lost(
            tracked.last, tracked.full_capacity
        )
    return False


def _newer_than(
    history: list[WorkloadDeployment], persisted: list[WorkloadDeployment]
) -> list[WorkloadDeployment]:
    """Rebuilt revisions after everything the state file knows of this workload."""
    known = [int(p.revision) for p in persisted if p.revision.isdigit()]
    if known:
        top = max(known)
        return [h for h in history if h.revision.isdigit() and int(h.revision) > top]
    latest = max(p.started_at for p in persisted)
    return [h for h in history if h.started_at > latest + SAME_START_S]


def _restart_of_known(rebuilt: WorkloadDeployment, persisted: list[WorkloadDeployment]) -> bool:
    """Whether a rebuilt revision only restarts the saved one right before it: the rebuild
    tells restarts by the revision before, which the cluster may have pruned meanwhile."""
    if not rebuilt.revision.isdigit():
        return False
    previous = str(int(rebuilt.revision) - 1)
    return any(p.revision == previous and p.fingerprint == rebuilt.fingerprint for p in persisted)


def _same_rollout(persisted: WorkloadDeployment, rebuilt: WorkloadDeployment) -> bool:
    """Whether a revision rebuilt from cluster history is one the state file already has."""
    return (
        persisted.key == rebuilt.key
        and persisted.fingerprint == rebuilt.fingerprint
        and (
            persisted.revision == rebuilt.revision
            if persisted.revision and rebuilt.revision
            else abs(persisted.started_at - rebuilt.started_at) <= SAME_START_S
        )
    )
