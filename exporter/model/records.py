"""Ledger records: what happened, with the times that revealed it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.events.external import SOURCE_ANNOTATION, Change

FACT_DEPLOYMENT = "deployment"
FACT_RESTORE = "restore"
FACT_FAILURE_PREFIX = "failure:"


class FailureReason(StrEnum):
    """Why an app deployment is a failed change (design §3); one deployment may have several."""

    ROLLOUT_FAILED = "rollout_failed"
    ROLLBACK = "rollback"
    DEGRADED = "degraded"
    CRASHLOOP = "crashloop"
    INCIDENT = "incident"
    TASK_FAILED = "task_failed"
    EVALUATION_FAILED = "evaluation_failed"


class RolloutFailure(StrEnum):
    """Why one workload's rollout failed (the workload-level ``failure_reason``)."""

    PROGRESS_DEADLINE = "progress_deadline"
    ROLLOUT_TIMEOUT = "rollout_timeout"
    ROLLBACK = "rollback"  # a rollback started while it was still rolling out
    # replaced while its app deployment was already a failed change (e.g. crash-looping):
    # replacing it does not erase the failure
    REPLACED_AFTER_FAILURE = "replaced_after_failure"


class LeadTimeUnknown(StrEnum):
    """Why a successful app deployment has no lead time (``dora_lead_time_unknown``)."""

    NO_CI_DATA = "no_ci_data"  # no annotation, and no CI change ever named or matched it
    NO_COMMIT_TIME = "no_commit_time"  # CI matched it but sent no commit time (yet)
    NO_MATCH = "no_match"  # CI changes name its app, but none matched its image or sha


class Outcome(StrEnum):
    PROGRESSING = "progressing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"

    @property
    def finished(self) -> bool:
        return self in (Outcome.SUCCEEDED, Outcome.FAILED)


@dataclass(frozen=True, slots=True, order=True)
class AppKey:
    environment: str
    namespace: str
    app: str


@dataclass(frozen=True, slots=True, order=True)
class WorkloadKey:
    namespace: str
    kind: str
    name: str


@dataclass(slots=True, eq=False)
class WorkloadDeployment:
    """One rollout of one workload to a new pod template fingerprint."""

    key: WorkloadKey
    workload: str
    app: AppKey
    version: str
    fingerprint: str
    revision: str
    started_at: float
    rollback: bool
    history: bool = False
    finished_at: float | None = None
    outcome: Outcome = Outcome.PROGRESSING
    failure_reason: str | None = None
    commit_time: float | None = None
    commit_sha: str | None = None
    traceparent: str | None = None
    keptn_app: tuple[str, int] | None = None  # (KeptnApp spec.version, spec.revision)
    redeployed: bool = False  # its commit reached production before: no lead time
    replaced_at: float | None = None
    """History only: the last write to its ReplicaSet, which for a replaced revision is when
    it was scaled away; dates the recovery of a rollback the history keeps. None when its
    start is only a lower bound (a reused ReplicaSet): no duration can be taken from it."""
    image_digests: set[str] = field(default_factory=set)
    repo_digests: set[str] = field(default_factory=set)  # repo@sha256:..., as the runtime says
    images: tuple[str, ...] = ()  # the pod template's container images
    commit_source: str | None = None  # where commit_time came from (SOURCES)
    change: Change | None = None  # the CI change that matched it (with a time or not)
    ci_named: bool = False  # a CI change named its app or workload but did not match
    group: AppDeployment | None = field(default=None, repr=False)

    @property
    def commit(self) -> str | None:
        """What identifies the commit it ships: the sha, else the commit time."""
        if self.commit_sha:
            return self.commit_sha.lower()
        return None if self.commit_time is None else f"time:{self.commit_time!r}"


@dataclass(slots=True, eq=False)
class AppDeployment:
    """The DORA unit: the workload deployments of one app that went out together."""

    app: AppKey
    started_at: float
    history: bool = False
    keptn_app: tuple[str, int] | None = None
    workloads: list[WorkloadDeployment] = field(default_factory=list)
    outcome: Outcome = Outcome.PROGRESSING
    finished_at: float | None = None
    failure_reasons: list[str] = field(default_factory=list)
    failed_change_at: float | None = None
    restored_at: float | None = None
    rework: bool = False
    lead_time_observed: bool = False
    closed: bool = False  # no more workloads may join (grouping window over, or failed)
    counted: bool = False  # in dora_app_deployments_total already (at its first completion)
    traced_facts: frozenset[str] = frozenset()
    id: str = ""

    @property
    def trace_facts(self) -> frozenset[str]:
        """What a trace of this deployment can say now; sent facts are never sent again."""
        if not self.outcome.finished or not self.active_workloads:
            return frozenset()
        facts = {FACT_DEPLOYMENT, *(FACT_FAILURE_PREFIX + r for r in self.failure_reasons)}
        if self.restored_at is not None and self.failure_reasons:
            facts.add(FACT_RESTORE)
        return frozenset(facts)

    @property
    def restore_seconds(self) -> float | None:
        """DORA's failed deployment recovery time (design §3): restored - finished for a
        deployment that completed and failed later; restored - started for one that never
        completed (it failed on its deadline, or a rollback replaced it): it hurt from its
        start."""
        if self.restored_at is None or not self.failure_reasons:
            return None
        if self.outcome is Outcome.FAILED or self.finished_at is None:
            return max(0.0, self.restored_at - self.started_at)
        return max(0.0, self.restored_at - self.finished_at)

    @property
    def active_workloads(self) -> list[WorkloadDeployment]:
        return [w for w in self.workloads if w.outcome is not Outcome.SUPERSEDED]

    @property
    def version(self) -> str:
        if self.keptn_app is not None and self.keptn_app[0]:
            return self.keptn_app[0]
        members = self.active_workloads or self.workloads
        if len(members) == 1:
            return members[0].version
        joined = ",".join(sorted(f"{w.workload}={w.version}" for w in members))
        return hashlib.sha256(joined.encode()).hexdigest()[:10]

    @property
    def rollback(self) -> bool:
        members = self.active_workloads
        return bool(members) and all(w.rollback for w in members)

    @property
    def redeployed(self) -> bool:
        """Every change in it redeploys a commit that reached production before (a rebuild,
        a stale commit-time annotation): like a rollback, it has no lead time (design §3)."""
        members = self.active_workloads
        return (
            bool(members)
            and all(w.rollback or w.redeployed for w in members)
            and not all(w.rollback for w in members)
        )

    @property
    def failed_change(self) -> bool:
        return bool(self.failure_reasons)

    @property
    def identity(self) -> str:
        """Stable across restarts: assigned once, kept in the state file."""
        return self.id or self.assign_identity()

    def assign_identity(self) -> str:
        """Derive the id from the first member (call while it is known) unless assigned."""
        if not self.id:
            first = min(self.workloads, key=lambda w: (w.started_at, w.key), default=None)
            seed = f"{self.app.environment}/{self.app.namespace}/{self.app.app}"
            if first is not None:
                seed += f"/{first.key.kind}/{first.key.name}/{first.fingerprint}"
                seed += f"/{first.revision}" if self.history else f"/{int(first.started_at)}"
            self.id = hashlib.sha256(seed.encode()).hexdigest()[:32]
        return self.id

    @property
    def commit_time(self) -> float | None:
        """The latest commit among the changed workloads; rollbacks carry none."""
        if self.rollback:
            return None
        times = [w.commit_time for w in self.active_workloads if w.commit_time is not None]
        return max(times) if times else None

    @property
    def lead_time_source(self) -> str | None:
        """Where the commit time of the latest commit came from (``annotation``, ``api``,
        ``otlp``, ``cdevents``); None without a commit time."""
        if self.rollback:
            return None
        best: WorkloadDeployment | None = None
        for w in self.active_workloads:
            if w.commit_time is not None and (
                best is None or w.commit_time > (best.commit_time or 0)
            ):
                best = w
        if best is None:
            return None
        return best.commit_source or SOURCE_ANNOTATION

    @property
    def lead_time_unknown(self) -> LeadTimeUnknown | None:
        """Why a successful deployment that should have a lead time has none (design §3)."""
        if self.outcome is not Outcome.SUCCEEDED or self.rollback or self.redeployed:
            return None
        members = [w for w in self.active_workloads if not (w.rollback or w.redeployed)]
        if not members or self.commit_time is not None:
            return None
        if any(w.change is not None for w in members):
            return LeadTimeUnknown.NO_COMMIT_TIME
        if any(w.ci_named for w in members):
            return LeadTimeUnknown.NO_MATCH
        return LeadTimeUnknown.NO_CI_DATA

    @property
    def lead_time_seconds(self) -> float | None:
        commit = self.commit_time
        if commit is None or self.outcome is not Outcome.SUCCEEDED or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - commit)
