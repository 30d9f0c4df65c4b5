"""What happened to each check, for metrics and for the deployment trace's phase spans.

A :class:`CheckRecord` is one task (a Job) or one evaluation of one deployment. Records are
kept per app deployment (by its stable identity), bounded, and turned into trace
:class:`~exporter.outputs.traces.Phase` objects on demand. :class:`CheckStats` holds the plain
counters the ``daylight_*`` self-metrics read at scrape time.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.model.records import AppDeployment, WorkloadKey
from exporter.outputs.traces import (
    POST_DEPLOYMENT_EVALUATIONS,
    POST_DEPLOYMENT_TASKS,
    PRE_DEPLOYMENT_EVALUATIONS,
    PRE_DEPLOYMENT_TASKS,
    AttrDict,
    Phase,
    PhaseStatus,
)

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
MAX_GROUPS = 5_000
MAX_PER_GROUP = 64

PHASE_NAMES = {
    ("task", "pre"): PRE_DEPLOYMENT_TASKS,
    ("task", "post"): POST_DEPLOYMENT_TASKS,
    ("evaluation", "pre"): PRE_DEPLOYMENT_EVALUATIONS,
    ("evaluation", "post"): POST_DEPLOYMENT_EVALUATIONS,
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
    outcome: str = RUNNING
    reason: str = ""
    message: str = ""
    job: str = ""
    values: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, WorkloadKey | None]:
        return (self.kind, self.phase, self.name, self.workload)

    def phase_span(self) -> Phase:
        attributes: AttrDict = {
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
        status: PhaseStatus = "unset"
        if self.outcome in (FAILED, SUCCEEDED):
            status = "error" if self.outcome == FAILED else "ok"
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
        """Phase spans of ``group`` (a :data:`~exporter.outputs.traces.PhaseSource`)."""
        return [r.phase_span() for r in self.records(group)]

    def pending(self, group: AppDeployment) -> bool:
        """Whether a check of ``group`` is still running (its span would be open)."""
        return any(r.outcome == RUNNING for r in self._groups.get(group.identity, {}).values())

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


class CheckCollector(Collector):
    """``daylight_tasks_total{phase,outcome}``, ``daylight_evaluations_total{phase,outcome}``
    and the reasons and queries behind them."""

    def __init__(self, stats: CheckStats, *, evaluations: bool = True) -> None:
        self.stats = stats
        self.with_evaluations = evaluations

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        s = self.stats
        tasks = CounterMetricFamily(
            "daylight_tasks",
            "Pre/post-deployment task Jobs that finished while watched, by phase and outcome.",
            labels=["phase", "outcome"],
        )
        unknown = any(phase == "unknown" for phase, _ in s.tasks)  # Keptn Jobs of odd names
        for phase in ("pre", "post", "unknown") if unknown else ("pre", "post"):
            for outcome in (SUCCEEDED, FAILED):
                tasks.add_metric([phase, outcome], s.tasks[(phase, outcome)])
        yield tasks
        yield _by_reason(
            "daylight_task_failures",
            "Failed tasks by reason (task Jobs and invalid tasks).",
            s.task_failures,
        )
        if not self.with_evaluations:
            return
        evaluations = CounterMetricFamily(
            "daylight_evaluations",
            "Pre/post-deployment evaluations that finished, by phase and outcome.",
            labels=["phase", "outcome"],
        )
        for phase in ("pre", "post"):
            for outcome in (SUCCEEDED, FAILED):
                evaluations.add_metric([phase, outcome], s.evaluations[(phase, outcome)])
        yield evaluations
        yield _by_reason(
            "daylight_evaluation_failures", "Failed evaluations by reason.", s.evaluation_failures
        )
        queries = CounterMetricFamily(
            "daylight_evaluation_queries",
            "Queries sent to Prometheus/Thanos for evaluations, by result.",
            labels=["result"],
        )
        for result in ("ok", "no_data", "error"):
            queries.add_metric([result], s.queries[result])
        yield queries
        yield GaugeMetricFamily(
            "daylight_evaluations_running", "Evaluations in progress.", value=s.evaluations_running
        )
        yield CounterMetricFamily(
            "daylight_evaluations_dropped",
            "Evaluations not started because too many were running.",
            value=s.evaluations_dropped,
        )


def _by_reason(name: str, documentation: str, counts: Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=["reason"])
    for reason, count in sorted(counts.items()):
        family.add_metric([reason], count)
    return family
