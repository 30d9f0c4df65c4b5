"""Failed changes and their restore (design §3).

A failure is a set of open *signals* per app (a failed rollout of a workload, a rollback in
progress, degradation, a crash loop, a firing alert, a failed post-deployment task). The
change that caused it is the app deployment the signal is attributed to. The app is restored
when no signal is open and no deployment of it is still rolling out; the deployment whose
completion brought that about is *rework*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from exporter.model.facts import FactLog, FailureOpened, FailureRestored
from exporter.model.ledger import Ledger
from exporter.model.records import AppDeployment, AppKey, Outcome, WorkloadKey
from exporter.model.stats import ObservedStats

RESTORE_LOOKBACK = 8  # recent live app deployments consulted for progress and rework


class SignalKind(StrEnum):
    ROLLOUT = "rollout"  # a workload's rollout failed
    ROLLBACK = "rollback"  # a workload is being rolled back
    DEGRADED = "degraded"
    CRASHLOOP = "crashloop"
    ALERT = "alert"
    TASK = "task"
    EVALUATION = "evaluation"

    @property
    def cleared_by_next_deployment(self) -> bool:
        """A failed check is closed by the next successful deployment, not a health change."""
        return self in (SignalKind.TASK, SignalKind.EVALUATION)

    @property
    def about_workload(self) -> bool:
        return self in (
            SignalKind.ROLLOUT,
            SignalKind.ROLLBACK,
            SignalKind.DEGRADED,
            SignalKind.CRASHLOOP,
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """One open reason an app is not healthy: a workload's (by kind and name), an alert's
    (by fingerprint) or a check's (by name). Written ``kind:ref`` in the state file."""

    kind: SignalKind
    ref: str

    @classmethod
    def of_workload(cls, kind: SignalKind, key: WorkloadKey) -> Signal:
        return cls(kind, f"{key.kind}/{key.name}")

    @classmethod
    def parse(cls, text: str) -> Signal | None:
        kind, sep, ref = text.partition(":")
        try:
            return cls(SignalKind(kind), ref) if sep else None
        except ValueError:
            return None

    def workload(self) -> tuple[str, str] | None:
        """(kind, name) of the workload a workload signal is about."""
        if not self.kind.about_workload:
            return None
        kind, _, name = self.ref.partition("/")
        return kind, name

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}"


@dataclass(slots=True, eq=False)
class OpenFailure:
    app: AppKey
    opened_at: float
    signals: set[Signal] = field(default_factory=set)
    deployments: list[AppDeployment] = field(default_factory=list)


class FailureTracker:
    def __init__(
        self, *, failure_window_s: float, stats: ObservedStats, ledger: Ledger, facts: FactLog
    ) -> None:
        self.failure_window_s = failure_window_s
        self.stats = stats
        self.ledger = ledger
        self.facts = facts
        self.open: dict[AppKey, OpenFailure] = {}

    def mark(
        self, deployment: AppDeployment, reason: str, at: float, signal: Signal | None
    ) -> bool:
        """Record ``reason`` against ``deployment`` and open ``signal``; False if too late."""
        finished = deployment.finished_at or deployment.started_at
        if deployment.outcome is not Outcome.PROGRESSING and at - finished > self.failure_window_s:
            return False
        if reason not in deployment.failure_reasons:
            first = not deployment.failure_reasons
            deployment.failure_reasons.append(reason)
            if first:
                deployment.failed_change_at = at
                if not deployment.history:
                    self.stats.app(deployment.app).change_failures[reason] += 1
            self.facts.add(FailureOpened(deployment, reason, at))
        if signal is not None:  # a live signal, also on a revision found at start-up
            failure = self.open.get(deployment.app)
            if failure is None:
                failure = self.open[deployment.app] = OpenFailure(deployment.app, at)
            failure.signals.add(signal)
            if deployment not in failure.deployments:
                failure.deployments.append(deployment)
        self.ledger.touch(deployment.app)
        return True

    def clear(self, app: AppKey, signal: Signal) -> None:
        failure = self.open.get(app)
        if failure is not None and signal in failure.signals:
            failure.signals.discard(signal)
            self.ledger.touch(app)

    def deployment_succeeded(self, group: AppDeployment) -> None:
        """A successful app deployment clears what only a new deployment can clear."""
        failure = self.open.get(group.app)
        if failure is None or group in failure.deployments:
            return
        gone = {s for s in failure.signals if s.kind.cleared_by_next_deployment}
        if gone:
            failure.signals -= gone
            self.ledger.touch(group.app)
        for w in group.active_workloads:
            self.clear(group.app, Signal.of_workload(SignalKind.ROLLOUT, w.key))
            self.clear(group.app, Signal.of_workload(SignalKind.ROLLBACK, w.key))

    def restore_if_healthy(self, app: AppKey, at: float) -> None:
        """Close the app's failure if no signal is open and nothing is rolling out."""
        failure = self.open.get(app)
        if failure is None:
            return
        recent = self.ledger.of(app).live_groups[-RESTORE_LOOKBACK:]
        if failure.signals or any(g.outcome is Outcome.PROGRESSING for g in recent):
            return
        by = next(
            (
                g
                for g in reversed(recent)
                if g.outcome is Outcome.SUCCEEDED
                and g.started_at >= failure.opened_at
                and g not in failure.deployments
            ),
            None,
        )
        del self.open[app]
        restored = []
        for deployment in failure.deployments:
            if deployment.restored_at is None:
                deployment.restored_at = at
                restored.append(deployment)
                seconds = deployment.restore_seconds
                if seconds is not None and not deployment.history:
                    self.stats.app(app).restore.observe(seconds)
        if by is not None and by not in failure.deployments and not by.rework:
            by.rework = True
            if not by.history:
                self.stats.app(app).rework += 1
        self.ledger.touch(app)
        self.facts.add(FailureRestored(app, tuple(restored), at))

    def is_open(self, app: AppKey) -> bool:
        return app in self.open
