"""What happened to each check, for metrics and for the deployment trace's phase spans.

A :class:`CheckRecord` is one task (a Job) or one evaluation of one deployment. Records are
kept per app deployment (by its stable identity), bounded, and turned into
:class:`~exporter.checks.phases.Phase` objects on demand. :class:`CheckStats` holds the plain
counters the ``daylight_*`` self-metrics read at scrape time.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.checks.phases import Attribute, Phase, PhaseName, PhaseStatus
from exporter.model.records import AppDeployment, WorkloadKey


class CheckOutcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


MAX_GROUPS = 5_000
MAX_PER_GROUP = 64

PHASE_NAMES = {
    ("task", "pre"): PhaseName.PRE_DEPLOYMENT_TASKS,
    ("task", "post"): PhaseName.POST_DEPLOYMENT_TASKS,
    ("evaluation", "pre"): PhaseName.PRE_DEPLOYMENT_EVALUATIONS,
    ("evaluation", "post"): PhaseName.POST_DEPLOYMENT_EVALUATIONS,
}


@dataclass(slots=True, eq=False)
class CheckRecord:
    kind: str  # "task" | "evaluation"
    phase: str  # "pre" | "post"
    name: str  # the task or evaluation definition
    object_type: str  # "Workload" | "App"
    workload: WorkloadKey | None
    started_at: float
    finished_at: float | None = None
    outcome: CheckOutcome = CheckOutcome.RUNNING
    reason: str = ""
    message: str = ""
    job: str = ""
    values: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, WorkloadKey | None]:
        return (self.kind, self.phase, self.name, self.workload)

    def phase_span(self) -> Phase:
        attributes: dict[str, Attribute] = {
            f"keptn.deployment.{self.kind}.name": self.name,
            f"keptn.deployment.{self.kind}.type": self.phase,
            "daylight.check.outcome": self.outcome,
        }
        if self.job:
            attributes["k8s.job.name"] = self.job
        if self.reason:
            attributes["error.type"] = self.reason
        for objective, value in sorted(self.values.items())[:16]:
            attributes[f"daylight.evaluation.value.{objective}"] = value
        status = PhaseStatus.UNSET
        if self.outcome in (CheckOutcome.FAILED, CheckOutcome.SUCCEEDED):
            status = PhaseStatus.ERROR if self.outcome == CheckOutcome.FAILED else PhaseStatus.OK
        end = self.finished_at if self.finished_at is not None else self.started_at
        return Phase(
            PHASE_NAMES[(self.kind, self.phase)],
            self.started_at,
            max(end, self.started_at),
            status,
            attributes,
            workload=self.workload,
            key=f"{self.kind}:{self.name}",
            description=(f"{self.reason}: {self.message}"[:200] if self.reason else ""),
        )


class CheckLedger:
    """Records by app deployment identity; the oldest deployments are forgotten first."""

    def __init__(self, max_groups: int = MAX_GROUPS) -> None:
        self.max_groups = max_groups
        self._groups: OrderedDict[str, dict[tuple[object, ...], CheckRecord]] = OrderedDict()

    def put(self, group: AppDeployment | None, record: CheckRecord) -> CheckRecord:
        """Store (or return the already stored) record of this check for ``group``."""
        if group is None:
            return record
        bucket = self._groups.get(group.identity)
        if bucket is None:
            bucket = self._groups[group.identity] = {}
            while len(self._groups) > self.max_groups:
                self._groups.popitem(last=False)
        existing = bucket.get(record.key)
        if existing is not None:
            return existing
        if len(bucket) < MAX_PER_GROUP:
            bucket[record.key] = record
        return record

    def records(self, group: AppDeployment) -> list[CheckRecord]:
        bucket = self._groups.get(group.identity, {})
        return sorted(bucket.values(), key=lambda r: (r.started_at, r.key[:3]))

    def phases(self, group: AppDeployment) -> list[Phase]:
        """Phase spans of ``group`` (a :data:`~exporter.checks.phases.PhaseSource`)."""
        return [r.phase_span() for r in self.records(group)]

    def pending(self, group: AppDeployment) -> bool:
        """Whether a check of ``group`` is still running (its span would be open)."""
        bucket = self._groups.get(group.identity, {})
        return any(r.outcome is CheckOutcome.RUNNING for r in bucket.values())

    def __len__(self) -> int:
        return sum(len(b) for b in self._groups.values())


@dataclass(slots=True)
class CheckStats:
    tasks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (phase, outcome)
    task_failures: Counter[str] = field(default_factory=Counter)  # reason
    evaluations: Counter[tuple[str, str]] = field(default_factory=Counter)
    evaluation_failures: Counter[str] = field(default_factory=Counter)
    queries: Counter[str] = field(default_factory=Counter)  # ok | no_data | error
    evaluations_running: int = 0
    evaluations_dropped: int = 0
    failed_changes: Counter[str] = field(default_factory=Counter)  # task | evaluation
