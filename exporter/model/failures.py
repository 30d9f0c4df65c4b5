"""Failed changes and their restore (DESIGN §3).

A failure is a set of open *signals* per app (a failed rollout of a workload, a rollback in
progress, degradation, a crash loop, a firing alert, a failed post-deployment task). The
change that caused it is the app deployment the signal is attributed to. The app is restored
when no signal is open and no deployment of it is still rolling out; the deployment whose
completion brought that about is *rework*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.model.records import AppDeployment, AppKey, Outcome
from exporter.model.stats import ObservedStats

# Signals closed by the next successful app deployment rather than by a health change.
DEPLOYMENT_CLEARED = ("task:", "evaluation:")


@dataclass(slots=True, eq=False)
class OpenFailure:
    app: AppKey
    opened_at: float
    signals: set[str] = field(default_factory=set)
    deployments: list[AppDeployment] = field(default_factory=list)


class FailureTracker:
    def __init__(
        self,
        failure_window_s: float,
        stats: ObservedStats,
        touch: Callable[[AppKey], None],
    ) -> None:
        self.failure_window_s = failure_window_s
        self.stats = stats
        self.touch = touch
        self.open: dict[AppKey, OpenFailure] = {}

    def mark(self, deployment: AppDeployment, reason: str, at: float, signal: str | None) -> bool:
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
        if signal is not None and not deployment.history:
            failure = self.open.get(deployment.app)
            if failure is None:
                failure = self.open[deployment.app] = OpenFailure(deployment.app, at)
            failure.signals.add(signal)
            if deployment not in failure.deployments:
                failure.deployments.append(deployment)
        self.touch(deployment.app)
        return True

    def clear(self, app: AppKey, signal: str) -> None:
        failure = self.open.get(app)
        if failure is not None and signal in failure.signals:
            failure.signals.discard(signal)
            self.touch(app)

    def clear_prefix(self, app: AppKey, prefix: str) -> None:
        failure = self.open.get(app)
        if failure is None:
            return
        gone = {s for s in failure.signals if s.startswith(prefix)}
        if gone:
            failure.signals -= gone
            self.touch(app)

    def deployment_succeeded(self, group: AppDeployment) -> None:
        """A successful app deployment clears what only a new deployment can clear."""
        failure = self.open.get(group.app)
        if failure is None or group in failure.deployments:
            return
        for prefix in DEPLOYMENT_CLEARED:
            self.clear_prefix(group.app, prefix)
        for w in group.active_workloads:
            self.clear(group.app, f"rollout:{w.key.kind}/{w.key.name}")
            self.clear(group.app, f"rollback:{w.key.kind}/{w.key.name}")

    def try_restore(
        self, app: AppKey, at: float, progressing: bool, by: AppDeployment | None
    ) -> list[AppDeployment]:
        """Close the failure if nothing is open; returns the deployments it restored."""
        failure = self.open.get(app)
        if failure is None or failure.signals or progressing:
            return []
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
        self.touch(app)
        return restored

    def is_open(self, app: AppKey) -> bool:
        return app in self.open
