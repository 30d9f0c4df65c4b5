"""How the model's parts are wired together: each gets the collaborators it may touch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exporter.events.external import DEFAULT_APP_LABELS
from exporter.model.alerts import Alerts
from exporter.model.changes import Changes
from exporter.model.external import ExternalDeployments
from exporter.model.facts import FactLog
from exporter.model.failures import FailureTracker, Signal
from exporter.model.grouping import Grouping
from exporter.model.health import Health
from exporter.model.identity import IdentityResolver
from exporter.model.inventory import Inventory
from exporter.model.ledger import Ledger
from exporter.model.records import AppKey
from exporter.model.resume import Resume
from exporter.model.rollouts import Rollouts
from exporter.model.stats import ObservedStats
from exporter.model.timers import Timers
from exporter.model.tracking import WorkloadTracking
from exporter.model.workloads import Registry


@dataclass(slots=True)
class ModelConfig:
    default_environment: str = "production"
    app_grouping_window_s: float = 30.0
    rollout_timeout_s: float = 900.0
    failure_window_s: float = 86400.0
    degraded_after_s: float = 60.0
    alert_app_labels: tuple[str, ...] = DEFAULT_APP_LABELS


@dataclass(frozen=True, slots=True)
class Parts:
    stats: ObservedStats
    facts: FactLog
    timers: Timers
    ledger: Ledger
    registry: Registry
    inventory: Inventory
    failures: FailureTracker
    changes: Changes
    alerts: Alerts
    grouping: Grouping
    rollouts: Rollouts
    health: Health
    resume: Resume
    tracking: WorkloadTracking
    external: ExternalDeployments


def assemble(
    config: ModelConfig,
    *,
    find_apps: Callable[[str, str], list[AppKey]],
    open_failure: Callable[[AppKey, str, Signal, float], bool],
    clear_failure: Callable[[AppKey, Signal, float], None],
) -> Parts:
    """The parts, wired; the three callbacks are the facade's (they advance model time)."""
    stats = ObservedStats()
    facts = FactLog()
    timers = Timers()
    ledger = Ledger()
    registry = Registry()
    inventory = Inventory(default_environment=config.default_environment, stats=stats)
    identities = IdentityResolver(inventory=inventory, stats=stats)
    failures = FailureTracker(
        failure_window_s=config.failure_window_s, stats=stats, ledger=ledger, facts=facts
    )
    changes = Changes(ledger=ledger, timers=timers, stats=stats)
    alerts = Alerts(
        stats=stats, find_apps=find_apps, open_failure=open_failure, clear_failure=clear_failure
    )
    grouping = Grouping(
        window_s=config.app_grouping_window_s,
        ledger=ledger,
        failures=failures,
        timers=timers,
        stats=stats,
        facts=facts,
    )
    rollouts = Rollouts(
        rollout_timeout_s=config.rollout_timeout_s,
        inventory=inventory,
        identities=identities,
        registry=registry,
        ledger=ledger,
        grouping=grouping,
        failures=failures,
        changes=changes,
        timers=timers,
        stats=stats,
        facts=facts,
    )
    health = Health(
        degraded_after_s=config.degraded_after_s,
        inventory=inventory,
        registry=registry,
        failures=failures,
        changes=changes,
        timers=timers,
    )
    resume = Resume(
        grouping_window_s=config.app_grouping_window_s,
        rollout_timeout_s=config.rollout_timeout_s,
        ledger=ledger,
        registry=registry,
        rollouts=rollouts,
        failures=failures,
        changes=changes,
        alerts=alerts,
        timers=timers,
    )
    tracking = WorkloadTracking(
        inventory=inventory,
        identities=identities,
        registry=registry,
        ledger=ledger,
        grouping=grouping,
        rollouts=rollouts,
        health=health,
        resume=resume,
        timers=timers,
        facts=facts,
    )
    external = ExternalDeployments(
        ledger=ledger, grouping=grouping, failures=failures, changes=changes, stats=stats
    )
    return Parts(
        stats,
        facts,
        timers,
        ledger,
        registry,
        inventory,
        failures,
        changes,
        alerts,
        grouping,
        rollouts,
        health,
        resume,
        tracking,
        external,
    )  # fmt: skip - one part per line would double the length without saying more
