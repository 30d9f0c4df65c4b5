"""Deployments reported from outside the cluster (CDEvents ``service.deployed``, ``upgraded``,
``rolledback``): targets that are not Kubernetes workloads — a function, a VM fleet, a managed
service. Each is a workload deployment of kind ``Service`` (namespace empty) that starts and
finishes when it is reported, grouped into app deployments of its environment like any other
(design §3): lead time from a CI change that matches its artifact, a rollback fails the
deployment it undid and restores the app once it is reported done.
"""

from __future__ import annotations

from exporter.events.external import ServiceDeployment
from exporter.model.changes import Changes
from exporter.model.failures import FailureTracker, Signal, SignalKind
from exporter.model.grouping import Grouping
from exporter.model.ledger import Ledger
from exporter.model.records import (
    AppKey,
    FailureReason,
    Outcome,
    WorkloadDeployment,
    WorkloadKey,
)
from exporter.model.stats import ObservedStats

SERVICE_KIND = "Service"
MAX_SERVICES = 10_000


class ExternalDeployments:
    def __init__(
        self,
        *,
        ledger: Ledger,
        grouping: Grouping,
        failures: FailureTracker,
        changes: Changes,
        stats: ObservedStats,
    ) -> None:
        self.ledger = ledger
        self.grouping = grouping
        self.failures = failures
        self.changes = changes
        self.stats = stats
        self.last: dict[WorkloadKey, WorkloadDeployment] = {}

    def deployed(self, report: ServiceDeployment) -> WorkloadDeployment:
        app = AppKey(report.environment, "", report.service)
        key = WorkloadKey("", SERVICE_KIND, report.service)
        previous = self.last.get(key)
        rollback = report.rollback
        wd = WorkloadDeployment(
            key=key,
            workload=report.service,
            app=app,
            version=report.version,
            fingerprint=f"{report.service}@{report.version}",
            revision="",
            started_at=report.at,
            rollback=rollback,
            commit_sha=report.commit_sha,
            images=(report.artifact,) if report.artifact else (),
        )
        if report.image_digest is not None:
            wd.image_digests.add(report.image_digest)
        if rollback and previous is not None and previous.group is not None:
            signal = Signal.of_workload(SignalKind.ROLLBACK, key)
            self.failures.mark(previous.group, FailureReason.ROLLBACK, report.at, signal)
        self.grouping.join(wd)
        self.changes.match_pending(wd)
        wd.outcome, wd.finished_at = Outcome.SUCCEEDED, report.at
        self.stats.workload_finished(wd, Outcome.SUCCEEDED, report.at)
        if wd.group is not None:
            self.grouping.update(wd.group)
        self.last[key] = wd
        if len(self.last) > MAX_SERVICES:
            self.last.pop(next(iter(self.last)))
        self.ledger.show_current(app, key, wd.workload, wd.version)
        return wd
