"""Commit metadata from CI (``POST /api/v1/changes``, CHANGE lines): lead time for
deployments whose pod template carries no commit time (design §2).

A change is kept for ``RETENTION_S`` after it arrived, because CI often registers it before
the rollout starts; it is matched by image digest, version or commit sha, never guessed.
"""

from __future__ import annotations

from collections import deque

from exporter.events.external import Change
from exporter.model.ledger import Ledger
from exporter.model.records import Outcome, WorkloadDeployment
from exporter.model.stats import ObservedStats
from exporter.model.timers import Timers

RETENTION_S = 30 * 86400.0
MAX_PENDING = 10_000
MATCH_LOOKBACK = 50  # recent live app deployments per app a new change is matched against


class Changes:
    def __init__(self, *, ledger: Ledger, timers: Timers, stats: ObservedStats) -> None:
        self.ledger = ledger
        self.timers = timers
        self.stats = stats
        self.pending: deque[tuple[float, Change]] = deque(maxlen=MAX_PENDING)

    def register(self, change: Change, at: float) -> int:
        """Keep ``change`` and apply it to the deployments it matches now; how many."""
        apps = self.ledger.apps
        if change.app is not None and not any(
            k.app == change.app and change.namespace in (None, k.namespace) for k in apps
        ):
            self.stats.invalid["unknown_app"] += 1  # kept: the app may deploy later
        self.pending.append((at, change))
        matched = 0
        for key, ledger in apps.items():
            if change.namespace is not None and key.namespace != change.namespace:
                continue
            for group in ledger.live_groups[-MATCH_LOOKBACK:]:
                for wd in group.active_workloads:
                    if self._apply(wd, change):
                        matched += 1
        return matched

    def match_pending(self, wd: WorkloadDeployment) -> None:
        """A new deployment, or one whose pods revealed an image digest: any change for it?"""
        horizon = self.timers.now - RETENTION_S
        while self.pending and self.pending[0][0] < horizon:
            self.pending.popleft()
        for _, change in reversed(self.pending):
            if self._apply(wd, change):
                return

    def _apply(self, wd: WorkloadDeployment, change: Change) -> bool:
        if wd.rollback or wd.redeployed or wd.commit_time is not None or wd.history:
            return False
        if change.namespace is not None and change.namespace != wd.key.namespace:
            return False
        if change.app is not None and change.app not in (wd.app.app, wd.workload):
            return False
        if not (
            (change.image_digest is not None and change.image_digest in wd.image_digests)
            or (change.version is not None and change.version == wd.version)
            or (wd.commit_sha is not None and wd.commit_sha.lower() == change.commit_sha)
        ):
            return False
        wd.commit_time = change.commit_time
        wd.commit_sha = wd.commit_sha or change.commit_sha
        if wd.group is not None and wd.group.outcome is Outcome.SUCCEEDED:
            self.stats.lead_time_known(wd.group)
        self.ledger.touch(wd.app)
        return True
