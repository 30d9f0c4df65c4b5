"""The ledger: per app, every app deployment Daylight knows of, history and live.

Each app keeps a ``revision`` number that changes whenever anything about it changes; the
outputs use it to know which pre-rendered metric lines are stale (``touch``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from exporter.model.records import AppDeployment, AppKey, WorkloadDeployment, WorkloadKey


@dataclass(slots=True, eq=False)
class AppLedger:
    key: AppKey
    history_workloads: list[WorkloadDeployment] = field(default_factory=list)
    history_groups: list[AppDeployment] = field(default_factory=list)
    live_groups: list[AppDeployment] = field(default_factory=list)
    history_dirty: bool = False
    revision: int = 0
    current: dict[WorkloadKey, tuple[str, str]] = field(default_factory=dict)
    """Deployed (workload name, version) per live workload: the info series."""
    complete_since: float | None = None
    """History is complete from this time on; None: as far back as it matters (design §3)."""

    def history_incomplete_before(self, when: float) -> None:
        """One of the app's workloads has no history before ``when`` (pruned revisions)."""
        self.complete_since = max(self.complete_since or when, when)

    @property
    def deployments(self) -> list[AppDeployment]:
        """Finished or in-progress app deployments in start order (superseded ones left out)."""
        merged = [g for g in self.history_groups + self.live_groups if g.active_workloads]
        merged.sort(key=lambda g: g.started_at)
        return merged


class Ledger:
    __slots__ = ("apps", "revision")

    def __init__(self) -> None:
        self.apps: dict[AppKey, AppLedger] = {}
        self.revision = 0

    def of(self, key: AppKey) -> AppLedger:
        ledger = self.apps.get(key)
        if ledger is None:
            ledger = self.apps[key] = AppLedger(key)
        return ledger

    def touch(self, key: AppKey) -> None:
        self.revision += 1
        self.of(key).revision = self.revision

    def show_current(self, key: AppKey, workload: WorkloadKey, name: str, version: str) -> None:
        """The workload's info series now belongs to ``key``, with this name and version;
        re-inserted, so ``current`` is in deployment order (the last wins a shared name)."""
        current = self.of(key).current
        current.pop(workload, None)
        current[workload] = (name, version)
        self.touch(key)

    def hide_current(self, key: AppKey, workload: WorkloadKey) -> None:
        self.of(key).current.pop(workload, None)
        self.touch(key)

    def latest_deployment(self, app: AppKey, at: float) -> AppDeployment | None:
        """The change a signal at ``at`` is attributed to: the last one started before it."""
        ledger = self.apps.get(app)
        if ledger is None:
            return None
        for group in reversed(ledger.live_groups):
            if group.started_at <= at and group.active_workloads:
                return group
        for group in reversed(ledger.history_groups):
            if group.started_at <= at:
                return group
        return None

    def untraced(self, limit: int = 1000) -> list[AppDeployment]:
        """Finished live app deployments with trace facts not sent yet, oldest first."""
        out: list[AppDeployment] = []
        for ledger in self.apps.values():
            for group in ledger.live_groups[-20:]:
                if (
                    group.closed
                    and not group.history  # saved history reloaded: it was never watched
                    and not group.trace_facts <= group.traced_facts
                ):
                    out.append(group)
        out.sort(key=lambda g: g.finished_at or g.started_at)
        return out[:limit]

    def mark_traced(self, group: AppDeployment, facts: Iterable[str] = ()) -> None:
        """These facts of ``group``'s trace were handed to the exporter; never resend them."""
        group.traced_facts = group.traced_facts | (frozenset(facts) or group.trace_facts)
        self.touch(group.app)
