"""Pre- and post-deployment evaluations: KeptnEvaluationDefinition objectives checked against
Prometheus (or Thanos), read-only, in the exporter.

An objective names a KeptnMetric (whose KeptnMetricsProvider gives the server) or carries an
inline ``query`` (``source: prometheus``; the server is the provider named by ``provider`` or
after the source, else ``--prometheus-url``). All objectives must meet their
``evaluationTarget``; until they do, the evaluation is repeated every ``retryInterval``, at
most ``retries`` more times (Keptn's defaults: 10 and 5s). A failed post-deployment evaluation
makes the deployment a failed change, reason ``evaluation_failed``.

Every evaluation is one asyncio task; queries go through :class:`PrometheusClient` (aiohttp,
timeouts), so the event loop never waits on a slow server. How many run at once is capped;
beyond the cap an evaluation is dropped and counted, never queued without bound. Bad input
(unknown definition or metric, invalid target, unsupported provider, a query that errors or
returns nothing) ends as a failed evaluation with a reason, a log line and a counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from exporter.checks import keptn
from exporter.checks.keptn import NamespaceGate
from exporter.checks.lifecycle import Transition
from exporter.checks.records import CheckLedger, CheckOutcome, CheckRecord, CheckStats
from exporter.evaluations.catalog import Catalog, EvaluationFailure
from exporter.evaluations.prometheus import PrometheusClient
from exporter.evaluations.targets import InvalidTarget, parse_target
from exporter.events.objects import (
    EvaluationDefinitionSpec,
    InvalidSpec,
    KeptnObject,
    Objective,
    decode_spec,
)
from exporter.events.timeutil import parse_go_duration
from exporter.model.engine import DoraModel

log = logging.getLogger("daylight.evaluations")
MAX_RETRIES = 1000
MAX_RETRY_INTERVAL_S = 3600.0
MAX_OBJECTIVES = 32

# Objective outcomes, in the order a final failure reason is chosen from them.
PASSED = "passed"
MISSED = "objective_failed"
NO_DATA = "no_data"
QUERY_ERROR = "query_error"


@dataclass(slots=True)
class EvaluationConfig:
    default_server: str = ""  # --prometheus-url: inline queries without a provider
    query_timeout_s: float = 10.0
    definition_grace_s: float = 30.0  # how long a missing definition may take to appear
    max_running: int = 200


@dataclass(frozen=True, slots=True)
class ObjectiveResult:
    label: str
    status: str  # PASSED, MISSED, NO_DATA, QUERY_ERROR, or a configuration reason
    value: float | None = None
    message: str = ""
    retry: bool = True  # configuration errors that cannot heal by waiting: False


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: CheckOutcome  # SUCCEEDED or FAILED
    reason: str = ""
    message: str = ""
    values: dict[str, float] = field(default_factory=dict)
    attempts: int = 0


class EvaluationRunner:
    def __init__(
        self,
        model: DoraModel,
        gate: NamespaceGate,
        ledger: CheckLedger,
        stats: CheckStats,
        config: EvaluationConfig | None = None,
        *,
        client: PrometheusClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.model = model
        self.gate = gate
        self.ledger = ledger
        self.stats = stats
        self.config = config or EvaluationConfig()
        self.client = client or PrometheusClient(self.config.query_timeout_s)
        self.clock = clock
        self.sleep = sleep
        self.catalog = Catalog(gate=gate, default_server=self.config.default_server)
        self.tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ input

    def observe(self, obj: KeptnObject, deleted: bool) -> None:
        self.catalog.observe(obj, deleted)

    def on_transition(self, transition: Transition) -> None:
        """Start the evaluations of a phase (never blocks: each runs as its own task)."""
        target = transition.target
        names = target.checks.evaluations(transition.phase)
        if not names:
            return
        loop = asyncio.get_running_loop()  # RuntimeError offline (replay): nothing to run
        if not self.gate.allowed(target.namespace):
            log.debug(
                "evaluations of %s/%s skipped: namespace not enabled",
                target.namespace,
                target.owner_name,
            )
            return
        for name in names:
            if len(self.tasks) >= self.config.max_running:
                self.stats.evaluations_dropped += 1
                log.warning(
                    "evaluation %s of %s/%s dropped: %d evaluations already running",
                    name,
                    target.namespace,
                    target.owner_name,
                    len(self.tasks),
                )
                continue
            record = self.ledger.put(
                target.group,
                CheckRecord(
                    "evaluation",
                    transition.phase,
                    name,
                    target.object_type,
                    target.workload_key,
                    self.clock(),
                ),
            )
            task = loop.create_task(
                self._evaluate(transition, name, record), name=f"evaluation {name}"
            )
            self.tasks.add(task)
            self.stats.evaluations_running = len(self.tasks)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.stats.evaluations_running = len(self.tasks)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        await self.client.close()

    # -------------------------------------------------------------- evaluation

    async def _evaluate(self, transition: Transition, name: str, record: CheckRecord) -> None:
        target = transition.target
        try:
            verdict = await self.evaluate(target.namespace, name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must cost one evaluation, not the exporter
            log.exception(
                "evaluation %s of %s/%s crashed", name, target.namespace, target.owner_name
            )
            verdict = Verdict(CheckOutcome.FAILED, "internal_error", f"{type(exc).__name__}: {exc}")
        now = self.clock()
        record.outcome, record.finished_at = verdict.outcome, now
        record.reason, record.message, record.values = (
            verdict.reason,
            verdict.message,
            dict(verdict.values),
        )
        phase = transition.phase
        self.stats.evaluations[(phase, verdict.outcome)] += 1
        if verdict.outcome == CheckOutcome.SUCCEEDED:
            log.info(
                "evaluation %s (%s) of %s/%s passed after %d attempt(s): %s",
                name,
                phase,
                target.namespace,
                target.owner_name,
                verdict.attempts,
                _values(verdict.values),
            )
            return
        self.stats.evaluation_failures[verdict.reason] += 1
        log.warning(
            "evaluation %s (%s) of %s/%s failed (%s): %s",
            name,
            phase,
            target.namespace,
            target.owner_name,
            verdict.reason,
            verdict.message,
        )
        if phase != "post":
            return
        at = now
        group = target.group
        if group is not None and self.model.latest_deployment(target.app, now) is not group:
            # a newer deployment started meanwhile: the verdict belongs to the one evaluated
            at = max(transition.at, group.started_at)
        if self.model.task_failed(target.app, "evaluation", name, at, post_deployment=True):
            self.stats.failed_changes["evaluation"] += 1

    async def evaluate(self, namespace: str, name: str) -> Verdict:
        """Run one KeptnEvaluationDefinition to its verdict (retries included)."""
        try:
            spec = await self._definition(namespace, name)
            retries, interval = _schedule(spec)
            objectives = spec.objectives
            if not objectives:
                raise EvaluationFailure(
                    "invalid_definition", f"{namespace}/{name} has no objectives"
                )
            if len(objectives) > MAX_OBJECTIVES:
                raise EvaluationFailure(
                    "invalid_definition", f"more than {MAX_OBJECTIVES} objectives"
                )
        except EvaluationFailure as failure:
            return Verdict(CheckOutcome.FAILED, failure.reason, failure.message)
        results: list[ObjectiveResult] = []
        attempt = 0
        for attempt in range(1, retries + 2):
            results = list(
                await asyncio.gather(
                    *(self._objective(namespace, spec, o, i) for i, o in enumerate(objectives))
                )
            )
            values = {r.label: r.value for r in results if r.value is not None}
            if all(r.status == PASSED for r in results):
                return Verdict(CheckOutcome.SUCCEEDED, values=values, attempts=attempt)
            if any(not r.retry for r in results) or attempt > retries:
                break
            await self.sleep(interval)
        return _failure(results, attempt)

    async def _definition(self, namespace: str, name: str) -> EvaluationDefinitionSpec:
        if not keptn.valid_object_name(name):
            raise EvaluationFailure("invalid_definition", f"not a valid object name: {name!r}")
        deadline = self.clock() + self.config.definition_grace_s
        while (obj := self.catalog.definitions.get((namespace, name))) is None:
            if self.clock() >= deadline:
                raise EvaluationFailure(
                    "unknown_definition", f"no KeptnEvaluationDefinition {namespace}/{name}"
                )
            await self.sleep(min(1.0, max(0.01, deadline - self.clock())))
        try:
            return decode_spec(obj.spec, EvaluationDefinitionSpec)
        except InvalidSpec as exc:
            raise EvaluationFailure("invalid_definition", f"{namespace}/{name}: {exc}") from None

    async def _objective(
        self, namespace: str, spec: EvaluationDefinitionSpec, objective: Objective, index: int
    ) -> ObjectiveResult:
        ref = objective.keptn_metric_ref
        label = objective.name or (ref.name if ref is not None else "") or f"objective-{index}"
        label = label[:63]
        try:
            target = parse_target(objective.evaluation_target)
            query, server, insecure, window = self.catalog.query_of(namespace, spec, objective)
        except InvalidTarget as exc:
            return ObjectiveResult(label, "invalid_target", message=str(exc), retry=False)
        except EvaluationFailure as failure:
            retry = failure.reason in ("unknown_metric", "unknown_provider")
            return ObjectiveResult(label, failure.reason, message=failure.message, retry=retry)
        if window is None:
            result = await self.client.instant(server, query, insecure=insecure)
        else:
            interval, step, how = window
            end = self.clock()
            result = await self.client.range(
                server,
                query,
                start=end - interval,
                end=end,
                step_s=step,
                aggregation=how,
                insecure=insecure,
            )
        self.stats.queries[result.status] += 1
        if result.status == "no_data":
            return ObjectiveResult(label, NO_DATA, message=f"{label}: {result.message}")
        if result.status != "ok" or result.value is None:
            return ObjectiveResult(label, QUERY_ERROR, message=f"{label}: {result.message}")
        value = result.value
        if target.check(value):
            return ObjectiveResult(label, PASSED, value)
        return ObjectiveResult(
            label, MISSED, value, f"{label}: {value:g} does not meet {target.text}"
        )


def _schedule(spec: EvaluationDefinitionSpec) -> tuple[int, float]:
    if not 0 <= spec.retries <= MAX_RETRIES:
        raise EvaluationFailure("invalid_definition", f"retries must be within 0..{MAX_RETRIES}")
    try:
        interval = parse_go_duration(spec.retry_interval)
    except ValueError as exc:
        raise EvaluationFailure("invalid_definition", f"retryInterval: {exc}") from None
    if interval > MAX_RETRY_INTERVAL_S:
        raise EvaluationFailure("invalid_definition", "retryInterval must be at most 1h")
    return spec.retries, interval


def _failure(results: list[ObjectiveResult], attempts: int) -> Verdict:
    values = {r.label: r.value for r in results if r.value is not None}
    failing = [r for r in results if r.status != PASSED]
    order = [MISSED, NO_DATA, QUERY_ERROR]
    failing.sort(key=lambda r: order.index(r.status) if r.status in order else -1)
    first = failing[0] if failing else ObjectiveResult("", "internal_error", message="no result")
    message = "; ".join(r.message for r in failing if r.message)[:500]
    return Verdict(CheckOutcome.FAILED, first.status, message, values, attempts)


def _values(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(values.items())) or "-"
