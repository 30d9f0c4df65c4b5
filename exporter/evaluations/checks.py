"""The exporter's side of pre/post-deployment checks, in one object to wire in.

``KeptnChecks`` is fed every event after the model applied it (start-up list included) and
does three read-only things:

- reads task Job outcomes (:mod:`exporter.evaluations.tasks`): a failed post-deployment task
  is a failed change, reason ``task_failed``;
- runs evaluations (:mod:`exporter.evaluations.engine`) when a deployment starts (pre) and
  completes (post): a failed post-deployment evaluation is a failed change, reason
  ``evaluation_failed``;
- keeps what happened for the ``daylight_tasks_total`` / ``daylight_evaluations_total``
  self-metrics and the deployment trace's phase spans.

Wiring (see the module's ``phases`` and ``collector``)::

    checks = KeptnChecks(model, allowed_namespaces=..., evaluation=EvaluationConfig(...))
    # after every model.apply(event):      checks.on_event(event)
    # start/stop with the runtime:         await checks.start(); await checks.stop()
    # self-metrics registry:               registry.register(checks.collector())
    # trace phases:                        TraceEmitter(phases=checks.trace_phases)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from exporter.checks.keptn import NamespaceGate
from exporter.evaluations.engine import EvaluationConfig, EvaluationRunner
from exporter.evaluations.lifecycle import LifecycleTracker, Transition
from exporter.evaluations.records import CheckCollector, CheckLedger, CheckStats
from exporter.evaluations.tasks import TaskResults
from exporter.events.envelope import ObjectEvent
from exporter.events.objects import Job, KeptnObject, Namespace, Workload
from exporter.events.timeutil import parse_duration
from exporter.model.engine import DoraModel
from exporter.model.records import AppDeployment
from exporter.outputs.traces import Phase, rollout_phases

log = logging.getLogger("daylight.checks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``daylight run`` for checks (each also DAYLIGHT_<FLAG> through the CLI)."""
    g = parser.add_argument_group("pre/post-deployment checks (Keptn tasks and evaluations)")
    g.add_argument(
        "--allowed-namespaces",
        type=lambda text: tuple(p.strip() for p in text.split(",") if p.strip()),
        default=(),
        metavar="NS[,NS]",
        help="run evaluations in these namespaces, and in namespaces annotated "
        "keptn.sh/lifecycle-toolkit=enabled (default: annotated namespaces only)",
    )
    g.add_argument(
        "--evaluations",
        choices=("on", "off"),
        default="on",
        help="run KeptnEvaluationDefinitions when deployments start and complete "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--prometheus-url",
        default="",
        metavar="URL",
        help="Prometheus (or Thanos) for inline evaluation queries without a "
        "KeptnMetricsProvider (default: none)",
    )
    g.add_argument(
        "--evaluation-timeout",
        type=_seconds,
        default=10.0,
        metavar="DURATION",
        help="timeout of one evaluation query (default: 10s)",
    )


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def from_args(cls, model: DoraModel, args: argparse.Namespace) -> KeptnChecks:
        """Built from the flags of :func:`add_arguments` (absent ones take their defaults)."""
        return cls(
            model,
            allowed_namespaces=tuple(getattr(args, "allowed_namespaces", ()) or ()),
            evaluation=EvaluationConfig(
                default_server=getattr(args, "prometheus_url", "") or "",
                query_timeout_s=float(getattr(args, "evaluation_timeout", 10.0) or 10.0),
            ),
            evaluations=getattr(args, "evaluations", "on") != "off",
        )

    def on_event(self, event: ObjectEvent) -> None:
        """Call after ``model.apply(event)`` for every event, start-up list included."""
        obj = event.obj
        deleted = event.type == "DELETED"
        if isinstance(obj, Workload):
            transitions = self.tracker.on_workload(
                obj.metadata.uid, event.time, initial=event.initial
            )
            self._start(transitions)
        elif isinstance(obj, Job):
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

    async def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="checks clock")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.tick(self.clock())
            except Exception:  # never let the clock die
                log.exception("checks tick failed")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.runner.stop()

    def collector(self) -> CheckCollector:
        return CheckCollector(self.stats, evaluations=self.evaluations_enabled)

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
