"""The DORA model (design §3): object events in, deployments, failures and keys out.

Pure and deterministic: every event carries its time, and nothing here reads a clock or does
I/O, so a live run and a replay of the same events build the same ledger. ``DoraModel`` is a
thin facade over parts that each own their state (see ``docs/design.md``): the inventory of
namespaces, KeptnApps and revisions; identity; the workload registry; the rollout state
machine; history; resume from the state file; health; app grouping; failures and restores;
CI changes; alerts; the ledger. ``apply`` returns the facts it derived.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from exporter.events.envelope import ObjectEvent, SideKind
from exporter.events.external import (
    Alert,
    Change,
    InvalidInput,
    ServiceDeployment,
    parse_alerts,
    parse_change,
)
from exporter.events.objects import (
    ControllerRevision,
    KeptnApp,
    Namespace,
    Pod,
    ReplicaSet,
    Workload,
)
from exporter.model import rollout_status
from exporter.model.assembly import ModelConfig, assemble
from exporter.model.facts import Fact
from exporter.model.failures import Signal, SignalKind
from exporter.model.ledger import AppLedger
from exporter.model.records import AppDeployment, AppKey, FailureReason, WorkloadDeployment
from exporter.model.resume import PersistedFailure
from exporter.model.timers import DegradationDue, GroupingEnds, RolloutTimeout
from exporter.model.workloads import TrackedWorkload

__all__ = ["DoraModel", "ModelConfig"]


class DoraModel:
    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig()
        parts = assemble(
            self.config,
            find_apps=self.find_apps,
            open_failure=self._open_failure,
            clear_failure=self._clear_failure,
        )
        self.stats = parts.stats
        self.facts = parts.facts
        self.timers = parts.timers
        self.ledger = parts.ledger
        self.registry = parts.registry
        self.inventory = parts.inventory
        self.failures = parts.failures
        self.changes = parts.changes
        self.alerts = parts.alerts
        self.grouping = parts.grouping
        self.rollouts = parts.rollouts
        self.health = parts.health
        self.resume = parts.resume
        self.tracking = parts.tracking
        self.external = parts.external

    # ------------------------------------------------------------------ input

    def apply(self, event: ObjectEvent) -> Sequence[Fact]:
        """One watch event; returns the facts it revealed (and the timers that fell due)."""
        if self.timers.observation_start is None:
            self.timers.observation_start = event.time
        self._advance(event.time)
        obj = event.obj
        deleted = event.type == "DELETED"
        if isinstance(obj, Workload):
            if obj.kind in rollout_status.WORKLOAD_KINDS:
                self.tracking.on_workload(obj, event, deleted)
        elif isinstance(obj, Pod):
            self.health.on_pod(obj, event.time, deleted)
        elif isinstance(obj, ReplicaSet | ControllerRevision):
            self.inventory.on_revision(obj, deleted, self.registry.__contains__)
        elif isinstance(obj, Namespace):
            self.inventory.on_namespace(obj, deleted)
        elif isinstance(obj, KeptnApp):
            self.inventory.on_keptn_app(obj, deleted)
        return self.facts.drain()

    def advance(self, now: float) -> Sequence[Fact]:
        """Move model time forward and fire what was due: rollout timeouts, degradation."""
        self._advance(now)
        return self.facts.drain()

    def _advance(self, now: float) -> None:
        if self.timers.advance(now):
            self._fire_timers()
        if self.grouping.dirty:
            self.grouping.settle()

    def _fire_timers(self) -> None:
        while (item := self.timers.pop_due()) is not None:
            due, timer = item
            if isinstance(timer, RolloutTimeout):
                self.rollouts.timed_out(timer.deployment, due)
            elif isinstance(timer, DegradationDue):
                self.health.degradation_due(timer.uid, timer.since, due)
            elif isinstance(timer, GroupingEnds):
                self.grouping.grouping_ended(timer.deployment)

    def settle(self) -> None:
        """Regroup apps whose history changed (history arrives per workload, out of order)."""
        self.grouping.settle()

    def apply_external(self, kind: SideKind | str, body: object, at: float) -> int:
        """A CHANGE or ALERT (event-log line or HTTP body); InvalidInput says what is wrong."""
        try:
            if kind == SideKind.CHANGE:
                return self.apply_change(parse_change(body, at), at)
            if kind == SideKind.ALERT:
                alerts = parse_alerts(body, self.config.alert_app_labels)
                return sum(1 for alert in alerts if self.apply_alert(alert, at))
        except InvalidInput as exc:
            self.stats.invalid[exc.reason] += 1
            raise
        raise InvalidInput("unknown_input", f"unknown input kind {kind!r}")

    def apply_change(self, change: Change, at: float) -> int:
        """Register commit metadata from CI; returns how many deployments it matched now."""
        self._advance(at)
        matched = self.changes.register(change, at)
        self.facts.drain()
        return matched

    def apply_service_deployment(self, report: ServiceDeployment) -> AppDeployment | None:
        """A deployment outside the cluster (CDEvents): an app deployment of its environment."""
        self._advance(report.at)
        group = self.external.deployed(report).group
        self.facts.drain()
        return group

    def apply_alert(self, alert: Alert, at: float) -> bool:
        """An Alertmanager alert; False when it matches no app (counted as invalid input)."""
        self._advance(at)
        matched = self.alerts.apply(alert, at)
        self.facts.drain()
        return matched

    def task_failed(
        self, app: AppKey, kind: str, name: str, at: float, post_deployment: bool = True
    ) -> bool:
        """Entry point for the checks: a failed task or evaluation (post-deployment counts)."""
        if not post_deployment:
            return False
        if kind == "evaluation":
            reason, signal = FailureReason.EVALUATION_FAILED, Signal(SignalKind.EVALUATION, name)
        else:
            reason, signal = FailureReason.TASK_FAILED, Signal(SignalKind.TASK, name)
        marked = self._open_failure(app, reason, signal, at)
        self.facts.drain()
        return marked

    def _open_failure(self, app: AppKey, reason: str, signal: Signal, at: float) -> bool:
        self._advance(at)
        target = self.ledger.latest_deployment(app, at)
        if target is None:
            return False
        return self.failures.mark(target, reason, at, signal)

    def _clear_failure(self, app: AppKey, signal: Signal, at: float) -> None:
        self._advance(at)
        self.failures.clear(app, signal)
        self.failures.restore_if_healthy(app, at)

    # ------------------------------------------------------------------ restarts

    def restore(
        self,
        groups: list[AppDeployment],
        failures: Iterable[PersistedFailure],
        changes: Iterable[tuple[float, Change]],
        alerts: dict[str, AppKey],
    ) -> None:
        """Load a previous process's ledger (from the state file) before the first event."""
        self.resume.load(groups, failures, changes, alerts)

    def reconcile(self, now: float) -> None:
        """After the first sync of a restart: close signals that ended while we were away."""
        self.resume.reconcile(now)
        self.facts.drain()

    # ------------------------------------------------------------------ reading

    @property
    def apps(self) -> dict[AppKey, AppLedger]:
        return self.ledger.apps

    @property
    def workloads(self) -> dict[str, TrackedWorkload]:
        return self.registry.by_uid

    @property
    def now(self) -> float:
        return self.timers.now

    @property
    def revision(self) -> int:
        return self.ledger.revision

    @property
    def pending_changes(self) -> deque[tuple[float, Change]]:
        return self.changes.pending

    @property
    def firing_alerts(self) -> dict[str, AppKey]:
        return self.alerts.firing

    def environment(self, namespace: str) -> str:
        return self.inventory.environment(namespace)

    def keptn_app(self, namespace: str, name: str) -> KeptnApp | None:
        return self.inventory.keptn_app(namespace, name)

    def deployments_of(self, workload_uid: str) -> Sequence[WorkloadDeployment]:
        """In flight, deployed and last finished rollouts of a workload, as far as known."""
        tracked = self.registry.get(workload_uid)
        return () if tracked is None else tracked.deployments()

    def latest_deployment(self, app: AppKey, at: float) -> AppDeployment | None:
        """The change a signal at ``at`` is attributed to: the last one started before it."""
        return self.ledger.latest_deployment(app, at)

    def find_apps(self, namespace: str, name: str) -> list[AppKey]:
        """Apps in ``namespace`` called ``name``, or owning a workload called ``name``."""
        found = [k for k in self.ledger.apps if k.namespace == namespace and k.app == name]
        return found or self.registry.apps_named(namespace, name)

    def untraced(self, limit: int = 1000) -> list[AppDeployment]:
        """Finished live app deployments with trace facts not sent yet, oldest first."""
        return self.ledger.untraced(limit)

    def mark_traced(self, group: AppDeployment, facts: Iterable[str] = ()) -> None:
        """These facts of ``group``'s trace were handed to the exporter; never resend them."""
        self.ledger.mark_traced(group, facts)
