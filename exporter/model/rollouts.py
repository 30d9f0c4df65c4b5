"""The rollout state machine of one workload (design §3): a template change to a new
fingerprint starts a workload deployment; it completes like ``kubectl rollout status``,
fails on its progress deadline or ``--rollout-timeout``, or is superseded by the next change.
"""

from __future__ import annotations

from exporter.events.external import SOURCE_ANNOTATION
from exporter.events.keys import DEPLOYMENT_REVISION
from exporter.events.objects import Workload
from exporter.events.timeutil import parse_rfc3339
from exporter.model import rollout_status
from exporter.model.changes import Changes
from exporter.model.facts import (
    FactLog,
    RolloutFinished,
    RolloutRevised,
    RolloutStarted,
    RolloutSuperseded,
)
from exporter.model.failures import FailureTracker, Signal, SignalKind
from exporter.model.grouping import Grouping
from exporter.model.identity import Identity, IdentityResolver
from exporter.model.inventory import Inventory
from exporter.model.ledger import Ledger
from exporter.model.records import (
    FailureReason,
    Outcome,
    RolloutFailure,
    WorkloadDeployment,
)
from exporter.model.stats import ObservedStats
from exporter.model.timers import RolloutTimeout, Timers
from exporter.model.workloads import Registry, TrackedWorkload


class Rollouts:
    def __init__(
        self,
        *,
        rollout_timeout_s: float,
        inventory: Inventory,
        identities: IdentityResolver,
        registry: Registry,
        ledger: Ledger,
        grouping: Grouping,
        failures: FailureTracker,
        changes: Changes,
        timers: Timers,
        stats: ObservedStats,
        facts: FactLog,
    ) -> None:
        self.rollout_timeout_s = rollout_timeout_s
        self.inventory = inventory
        self.identities = identities
        self.registry = registry
        self.ledger = ledger
        self.grouping = grouping
        self.failures = failures
        self.changes = changes
        self.timers = timers
        self.stats = stats
        self.facts = facts

    def template_edited(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        now: float,
        raw: bytes,
        marker: str,
        fp: str,
    ) -> None:
        tracked.marker = marker
        target = tracked.active.fingerprint if tracked.active else tracked.fingerprint
        if fp == target:
            if not tracked.resume_pending:
                self.stats.restarts += 1  # e.g. kubectl rollout restart: not a deployment
            return
        if workload.kind == rollout_status.DEPLOYMENT and workload.spec.paused:
            # edits of a paused Deployment roll out when it is resumed, as one change
            tracked.resume_pending = True
            return
        self._change(tracked, workload, now, raw, fp)

    def resumed(
        self, tracked: TrackedWorkload, workload: Workload, now: float, raw: bytes, fp: str
    ) -> None:
        """A paused Deployment resumed: its deployment starts now (design §3), with the
        template in force now, unless the edits made while paused were undone."""
        tracked.resume_pending = False
        target = tracked.active.fingerprint if tracked.active else tracked.fingerprint
        if fp != target:
            self._change(tracked, workload, now, raw, fp)

    def _change(
        self, tracked: TrackedWorkload, workload: Workload, now: float, raw: bytes, fp: str
    ) -> None:
        tracked.resume_pending = False
        tracked.fingerprint = fp
        identity = tracked.identity = self.identities.of_raw(workload, raw, fp)
        rollback = fp in tracked.deployed
        tracked.stale_revision = workload.metadata.annotations.get(DEPLOYMENT_REVISION)
        self.start(tracked, workload, identity, fp, now, rollback)

    def start(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        identity: Identity,
        fp: str,
        start: float,
        rollback: bool,
        revision: str = "",
    ) -> WorkloadDeployment:
        previous = tracked.active
        namespace = workload.metadata.namespace
        keptn = self.inventory.keptn_app_listing(namespace, identity.workload)
        wd = WorkloadDeployment(
            key=tracked.key,
            workload=identity.workload,
            app=self.identities.app_key(namespace, identity),
            version=identity.version,
            fingerprint=fp,
            revision=revision,
            started_at=start,
            rollback=rollback,
            commit_time=None if rollback else self.identities.commit_time(identity),
            commit_sha=identity.commit_sha,
            traceparent=identity.traceparent,
            images=identity.images,
            keptn_app=(
                (keptn.spec.version, keptn.spec.revision)
                if keptn is not None and keptn.metadata.name == identity.app
                else None
            ),
        )
        if wd.commit_time is not None:
            wd.commit_source = SOURCE_ANNOTATION
        if not rollback and wd.commit is not None and wd.commit in tracked.shipped:
            wd.commit_time, wd.redeployed = None, True
            self.stats.redeployed += 1
        if previous is not None and previous.outcome is Outcome.PROGRESSING:
            if rollback:
                self.finish(previous, Outcome.FAILED, start, RolloutFailure.ROLLBACK)
            elif previous.group is not None and previous.group.failure_reasons:
                self.finish(previous, Outcome.FAILED, start, RolloutFailure.REPLACED_AFTER_FAILURE)
            else:
                self.supersede(previous)
        elif rollback and tracked.last_finished is not None:
            victim = tracked.last_finished.group
            if victim is not None:
                signal = Signal.of_workload(SignalKind.ROLLBACK, tracked.key)
                self.failures.mark(victim, FailureReason.ROLLBACK, start, signal)
        tracked.active = wd
        tracked.unavailable_since = None
        self.grouping.join(wd)
        self.changes.match_pending(wd)
        if not rollout_status.has_own_deadline(workload):
            self.timers.schedule(start + self.rollout_timeout_s, RolloutTimeout(wd))
        self.facts.add(RolloutStarted(wd))
        return wd

    def evaluate(
        self, tracked: TrackedWorkload, workload: Workload, now: float, initial: bool = False
    ) -> None:
        """Has the rollout in flight completed or failed, and what is its revision?"""
        wd = tracked.active
        if wd is None:
            return
        if workload.kind == rollout_status.DEPLOYMENT:
            # until the controller adopts the new template the annotation is the old revision
            revision = workload.metadata.annotations.get(DEPLOYMENT_REVISION)
            if revision == tracked.stale_revision:
                revision = None
        else:
            revision = self.inventory.controller_revision(tracked.uid, wd.fingerprint)
        if revision and revision != wd.revision:
            wd.revision = revision
            self.facts.add(RolloutRevised(wd))
        if initial:
            # listed after a restart: it may have ended while we were away; the controller's
            # condition says when (later events are live and stamped on arrival)
            hint = parse_rfc3339(rollout_status.condition_time(workload))
            if hint is not None and wd.started_at <= hint <= now:
                now = hint
        if rollout_status.rollout_complete(workload):
            self.succeeded(tracked, wd, max(now, wd.started_at))
        elif rollout_status.progress_deadline_exceeded(workload):
            self.failed(tracked, wd, max(now, wd.started_at), RolloutFailure.PROGRESS_DEADLINE)

    def succeeded(self, tracked: TrackedWorkload, wd: WorkloadDeployment, at: float) -> None:
        self.finish(wd, Outcome.SUCCEEDED, at, None)
        tracked.deployed.add(wd.fingerprint)
        tracked.ship(wd)
        if tracked.last is not None:
            tracked.full_capacity = rollout_status.scheduled(tracked.last)
        tracked.current = tracked.last_finished = wd
        tracked.active = None
        self.set_current(tracked, wd)

    def failed(
        self, tracked: TrackedWorkload, wd: WorkloadDeployment, at: float, reason: RolloutFailure
    ) -> None:
        self.finish(wd, Outcome.FAILED, at, reason)
        tracked.last_finished = wd
        tracked.active = None

    def finish(
        self, wd: WorkloadDeployment, outcome: Outcome, at: float, reason: RolloutFailure | None
    ) -> None:
        wd.outcome = outcome
        wd.finished_at = at
        wd.failure_reason = reason
        self.stats.workload_finished(wd, outcome, at)
        if wd.group is not None:
            self.grouping.update(wd.group)
        self.ledger.touch(wd.app)
        self.facts.add(RolloutFinished(wd))

    def supersede(self, wd: WorkloadDeployment) -> None:
        wd.outcome = Outcome.SUPERSEDED
        wd.finished_at = None
        if wd.group is not None:
            self.grouping.update(wd.group)
        self.facts.add(RolloutSuperseded(wd))

    def timed_out(self, wd: WorkloadDeployment, due: float) -> None:
        if wd.outcome is not Outcome.PROGRESSING:
            return
        tracked = self.registry.rolling_out(wd)
        self.finish(wd, Outcome.FAILED, due, RolloutFailure.ROLLOUT_TIMEOUT)
        if tracked is not None and tracked.active is wd:
            tracked.active = None
            tracked.last_finished = wd

    def set_current(self, tracked: TrackedWorkload, wd: WorkloadDeployment | None) -> None:
        """Move the workload's info series to the app it now belongs to."""
        previous = tracked.info_app
        if previous is not None and (wd is None or previous != wd.app):
            self.ledger.hide_current(previous, tracked.key)
        tracked.info_app = None if wd is None else wd.app
        if wd is not None:
            self.ledger.show_current(wd.app, tracked.key, wd.workload, wd.version)
