"""The exporter's side of pre/post-deployment checks, in one object to wire in.

``KeptnChecks`` is fed every event after the model applied it (start-up list included) and
does three read-only things:

- reads task Job outcomes (:mod:`exporter.checks.tasks`): a failed post-deployment task is
  a failed change, reason ``task_failed``;
- runs evaluations (:mod:`exporter.evaluations.engine`) when a deployment starts (pre) and
  completes (post): a failed post-deployment evaluation is a failed change, reason
  ``evaluation_failed``;
- keeps what happened for the ``daylight_tasks_total`` / ``daylight_evaluations_total``
  self-metrics and the deployment trace's phase spans.

Wiring (``exporter.app`` does it)::

    checks = KeptnChecks(model, allowed_namespaces=..., evaluation=EvaluationConfig(...))
    pipeline.subscribers.append(checks)             # every event, with the model's facts
    supervisor.start("checks clock", checks.tick_forever); ...; await checks.stop()
    selfmetrics.Checks(checks.stats)                # daylight_tasks_total and friends
    TraceEmitter(phases=checks.trace_phases)        # task and evaluation spans
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from exporter.checks.keptn import NamespaceGate
from exporter.checks.lifecycle import LifecycleTracker, Transition
from exporter.checks.phases import Phase, rollout_phases
from exporter.checks.records import CheckLedger, CheckStats
from exporter.checks.tasks import TaskResults
from exporter.evaluations.engine import EvaluationConfig, EvaluationRunner
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.objects import Job, KeptnObject, Namespace
from exporter.model.engine import DoraModel
from exporter.model.facts import Fact
from exporter.model.records import AppDeployment

log = logging.getLogger("daylight.checks")


class KeptnChecks:
    def __init__(
        self,
        model: DoraModel,
        *,
        allowed_namespaces: Sequence[str] = (),
        evaluation: EvaluationConfig | None = None,
        evaluations: bool = True,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
    ) -> None:
        self.model = model
        self.clock = clock
        self.tick_s = tick_s
        self.gate = NamespaceGate(allowed_namespaces)
        self.ledger = CheckLedger()
        self.stats = CheckStats()
        self.tracker = LifecycleTracker(model)
        self.tasks = TaskResults(model, self.ledger, self.stats)
        self.evaluations_enabled = evaluations
        self.runner = EvaluationRunner(
            model, self.gate, self.ledger, self.stats, evaluation, clock=clock
        )

    def on_event(self, event: ObjectEvent, facts: Sequence[Fact]) -> None:
        """A pipeline subscriber: every event after the model applied it, start-up included."""
        obj = event.obj
        deleted = event.type == EventType.DELETED
        self._start(self.tracker.on_event(event, facts))
        if isinstance(obj, Job):
            self.tasks.on_job(obj, event.type, event.time, event.initial)
        elif isinstance(obj, Namespace):
            self.gate.observe(obj.metadata, deleted)
        elif isinstance(obj, KeptnObject):
            self.runner.observe(obj, deleted)

    def _start(self, transitions: list[Transition]) -> None:
        if not self.evaluations_enabled:
            return
        for transition in transitions:
            try:
                self.runner.on_transition(transition)
            except RuntimeError:  # no running loop: replay/report feed the model offline
                return

    def tick(self, now: float) -> None:
        self._start(self.tracker.tick(now))

    async def tick_forever(self) -> None:
        """The checks' clock (pending pre phases); run it as a supervised task."""
        while True:
            await asyncio.sleep(self.tick_s)
            self.tick(self.clock())

    async def stop(self) -> None:
        await self.runner.stop()

    def phases(self, group: AppDeployment) -> list[Phase]:
        """The check phase spans of ``group`` (tasks and evaluations, finished or not)."""
        return self.ledger.phases(group)

    def trace_ready(
        self, group: AppDeployment, now: float, settle_s: float = 10.0, max_wait_s: float = 900.0
    ) -> bool:
        """Whether ``group``'s trace can go out with its check spans complete: no check is
        running and ``settle_s`` passed since it finished (post-deployment Jobs are created
        a moment after the rollout completes), or ``max_wait_s`` passed regardless."""
        finished = group.finished_at if group.finished_at is not None else group.started_at
        waited = now - finished
        if waited >= max_wait_s:
            return True
        return waited >= settle_s and not self.ledger.pending(group)

    def trace_phases(self, group: AppDeployment) -> list[Phase]:
        """A complete ``PhaseSource`` for ``TraceEmitter``: rollout spans plus check spans."""
        return rollout_phases(group) + self.ledger.phases(group)
