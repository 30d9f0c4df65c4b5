"""App deployments: which workload deployments went out together (design §3).

Live: a KeptnApp version groups its workloads; otherwise the workload deployments of one app
starting within ``--app-grouping-window`` of the first form one app deployment, however fast
each finished (so the grouping does not depend on rollout speed). History (rebuilt at
start-up, per workload and out of order) is regrouped whenever it changes, at ``settle``.
"""

from __future__ import annotations

from exporter.model.facts import AppDeploymentFinished, FactLog
from exporter.model.failures import FailureTracker, Signal, SignalKind
from exporter.model.ledger import AppLedger, Ledger
from exporter.model.records import (
    AppDeployment,
    AppKey,
    FailureReason,
    Outcome,
    RolloutFailure,
    WorkloadDeployment,
)
from exporter.model.stats import ObservedStats
from exporter.model.timers import GroupingEnds, Timers

JOIN_LOOKBACK = 4  # recent live app deployments a starting workload may join


class Grouping:
    def __init__(
        self,
        *,
        window_s: float,
        ledger: Ledger,
        failures: FailureTracker,
        timers: Timers,
        stats: ObservedStats,
        facts: FactLog,
    ) -> None:
        self.window_s = window_s
        self.ledger = ledger
        self.failures = failures
        self.timers = timers
        self.stats = stats
        self.facts = facts
        self.dirty: set[AppKey] = set()  # apps whose history changed since the last settle

    # ------------------------------------------------------------------ live

    def join(self, wd: WorkloadDeployment) -> None:
        """Attach a starting workload deployment to its app deployment (a new one if none)."""
        ledger = self.ledger.of(wd.app)
        if ledger.history_dirty:
            self._regroup_history(ledger)
        group = self._joinable(ledger, wd)
        if group is None:
            group = AppDeployment(app=wd.app, started_at=wd.started_at)
            group.keptn_app = wd.keptn_app
            ledger.live_groups.append(group)
        if group.outcome is Outcome.SUCCEEDED:  # finished early, still inside its window
            group.outcome, group.finished_at = Outcome.PROGRESSING, None
        group.workloads.append(wd)
        wd.group = group
        group.assign_identity()  # while the first member is known: stable across restarts
        self.ledger.touch(wd.app)

    def _joinable(self, ledger: AppLedger, wd: WorkloadDeployment) -> AppDeployment | None:
        for candidate in reversed(ledger.live_groups[-JOIN_LOOKBACK:]):
            if candidate.closed or candidate.outcome not in (
                Outcome.PROGRESSING,
                Outcome.SUCCEEDED,
            ):
                continue
            if any(w.key == wd.key for w in candidate.active_workloads):
                continue
            if wd.keptn_app is not None:
                if candidate.keptn_app == wd.keptn_app:
                    return candidate
            elif (
                candidate.keptn_app is None
                and wd.started_at - candidate.started_at <= self.window_s
            ):
                return candidate
        return None

    def update(self, group: AppDeployment) -> None:
        """A member finished or was superseded: does the app deployment finish now?"""
        members = group.active_workloads
        if group.outcome is not Outcome.PROGRESSING:
            self.ledger.touch(group.app)
            return
        if not members:
            group.outcome = Outcome.SUPERSEDED
        elif any(w.outcome is Outcome.FAILED for w in members):
            self._failed(group, [w for w in members if w.outcome is Outcome.FAILED])
        elif all(w.outcome is Outcome.SUCCEEDED for w in members):
            group.outcome = Outcome.SUCCEEDED
            group.finished_at = max(w.finished_at or w.started_at for w in members)
            self._close_when_due(group)
            self.failures.deployment_succeeded(group)
            self.failures.restore_if_healthy(group.app, group.finished_at)
        self.ledger.touch(group.app)

    def _failed(self, group: AppDeployment, failed: list[WorkloadDeployment]) -> None:
        group.outcome = Outcome.FAILED
        group.finished_at = min(w.finished_at or w.started_at for w in failed)
        group.closed = True
        self._counted(group)
        for w in failed:
            if w.failure_reason == RolloutFailure.REPLACED_AFTER_FAILURE:
                continue  # its reasons are recorded already
            if w.failure_reason == RolloutFailure.ROLLBACK:
                reason, kind = FailureReason.ROLLBACK, SignalKind.ROLLBACK
            else:
                reason, kind = FailureReason.ROLLOUT_FAILED, SignalKind.ROLLOUT
            self.failures.mark(group, reason, group.finished_at, Signal.of_workload(kind, w.key))

    def _close_when_due(self, group: AppDeployment) -> None:
        """A workload starting within the grouping window still joins this app deployment,
        however fast the first ones finished. Counted now (once); its trace waits."""
        self._counted(group)
        closes_at = group.started_at + self.window_s
        if group.keptn_app is not None or self.timers.now >= closes_at:
            group.closed = True
        else:
            self.timers.schedule(closes_at, GroupingEnds(group))

    def grouping_ended(self, group: AppDeployment) -> None:
        if group.outcome is Outcome.SUCCEEDED and not group.closed:
            group.closed = True
            self.ledger.touch(group.app)

    def _counted(self, group: AppDeployment) -> None:
        if self.stats.app_finished(group):
            self.facts.add(AppDeploymentFinished(group))

    # ------------------------------------------------------------------ history

    def add_history(self, history: list[WorkloadDeployment]) -> None:
        """Rebuilt revisions of one workload: regrouped with the app's others at settle."""
        if not history:
            return
        first = self.ledger.of(history[0].app)
        for wd in history:
            ledger = self.ledger.of(wd.app)
            ledger.history_workloads.append(wd)
            ledger.history_dirty = True
            self.dirty.add(wd.app)
        self.ledger.touch(first.key)

    def settle(self) -> None:
        """Regroup apps whose history changed (history arrives per workload, out of order)."""
        while self.dirty:
            key = self.dirty.pop()
            ledger = self.ledger.apps.get(key)
            if ledger is not None and ledger.history_dirty:
                self._regroup_history(ledger)

    def _regroup_history(self, ledger: AppLedger) -> None:
        ledger.history_dirty = False
        ledger.history_groups = []
        for wd in sorted(ledger.history_workloads, key=lambda w: (w.started_at, w.key)):
            group = ledger.history_groups[-1] if ledger.history_groups else None
            if (
                group is None
                or wd.started_at - group.started_at > self.window_s
                or any(w.key == wd.key for w in group.workloads)
            ):
                group = AppDeployment(app=ledger.key, started_at=wd.started_at, history=True)
                group.outcome = Outcome.SUCCEEDED
                group.closed = True
                ledger.history_groups.append(group)
            group.workloads.append(wd)
            wd.group = group
            finished = wd.finished_at or wd.started_at
            group.finished_at = max(group.finished_at or finished, finished)
        for index, group in enumerate(ledger.history_groups):
            if index and any(w.rollback for w in group.workloads):
                self._history_rollback(ledger.history_groups[index - 1], group)
        self.ledger.touch(ledger.key)

    def _history_rollback(self, victim: AppDeployment, rollback: AppDeployment) -> None:
        """A rollback in history fails the change it rolled back from (within the window).
        The rollback's own start is a lower bound (a reused ReplicaSet keeps its creation
        time), so it is dated by when the rolled-back workloads' ReplicaSets were scaled
        away, the end of the rollback; when the cluster does not say, the failure stays
        without a restore time (never a zero one)."""
        if FailureReason.ROLLBACK in victim.failure_reasons:
            return
        finished = victim.finished_at or victim.started_at
        undone = {w.key for w in rollback.workloads if w.rollback}
        replaced = [w.replaced_at for w in victim.workloads if w.key in undone]
        known = [t for t in replaced if t is not None and t >= finished]
        restored = max(known) if known and len(known) == len(replaced) else None
        if (restored or rollback.started_at) - finished > self.failures.failure_window_s:
            return
        victim.failure_reasons.append(FailureReason.ROLLBACK)
        victim.failed_change_at = rollback.started_at
        if victim.restored_at is None and restored is not None:
            victim.restored_at = restored
            rollback.rework = True
