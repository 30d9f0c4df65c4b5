"""The phases of a deployment, as spans of its trace: pre-deployment tasks and evaluations,
the rollout, post-deployment tasks and evaluations (Keptn's order).

A :class:`Phase` is what the checks know about one phase; the trace emitter turns phases
into spans. ``workload`` places a phase under that workload's span (``None``: under the
app's root span, as Keptn's app-level tasks); ``key`` tells apart phases of the same name
under the same parent (a task's name): (parent, name, key) must be unique, it makes the id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.model.records import AppDeployment, Outcome, WorkloadKey

Attribute = str | bool | int | float | Sequence[str] | Sequence[int] | Sequence[float]


class PhaseName(StrEnum):
    PRE_DEPLOYMENT_TASKS = "pre_deployment_tasks"
    PRE_DEPLOYMENT_EVALUATIONS = "pre_deployment_evaluations"
    ROLLOUT = "rollout"
    POST_DEPLOYMENT_TASKS = "post_deployment_tasks"
    POST_DEPLOYMENT_EVALUATIONS = "post_deployment_evaluations"


class PhaseStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    UNSET = "unset"


@dataclass(frozen=True, slots=True)
class Phase:
    name: PhaseName
    start: float
    end: float
    status: PhaseStatus = PhaseStatus.UNSET
    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    workload: WorkloadKey | None = None
    key: str = ""
    description: str = ""


PhaseSource = Callable[[AppDeployment], Iterable[Phase]]


def rollout_phases(group: AppDeployment) -> list[Phase]:
    """The phases every deployment has: one ``rollout`` per workload deployment."""
    phases = []
    for w in group.active_workloads:
        failed = w.outcome is Outcome.FAILED
        attributes: dict[str, Attribute] = (
            {"daylight.workload.revision": w.revision} if w.revision else {}
        )
        phases.append(
            Phase(
                PhaseName.ROLLOUT,
                w.started_at,
                w.finished_at if w.finished_at is not None else w.started_at,
                PhaseStatus.ERROR if failed else PhaseStatus.UNSET,
                attributes,
                workload=w.key,
                description=(w.failure_reason or "rollout_failed") if failed else "",
            )
        )
    return phases
