"""The exporter process: the pipeline fed from the cluster, plus what runs beside it.

Start-up: load the state file (if any), list the cluster into the model, reconcile what
ended while nobody watched, save; then watch. Beside the watches, one supervised clock task
moves model time forward every second (rollout timeouts and windows need it), sends new
trace facts, writes the state file and logs skipped input at most once a minute. This is
the only place that reads the wall clock for the model: live events are stamped with their
receive time by the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.app.console import CommandError
from exporter.app.guard import Supervisor
from exporter.app.pipeline import Pipeline, settle_memory
from exporter.evaluations.checks import KeptnChecks
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Informer
from exporter.kube.scope import WatchScope, build_informers
from exporter.model.engine import DoraModel
from exporter.outputs.traces import TraceEmitter
from exporter.state.store import StateError, StateStore

log = logging.getLogger("daylight")


@dataclass(slots=True)
class InvalidInputLog:
    """One line a minute at most, saying which bad input was skipped and how often."""

    every_s: float = 60.0
    _logged: dict[str, int] = field(default_factory=dict)
    _logged_at: float = 0.0

    def maybe_log(self, counts: dict[str, int], now: float) -> None:
        if now - self._logged_at < self.every_s:
            return
        new = {k: v - self._logged.get(k, 0) for k, v in counts.items()}
        new = {k: v for k, v in new.items() if v > 0}
        if new:
            summary = ", ".join(f"{k}={v}" for k, v in sorted(new.items()))
            log.warning(
                "invalid input skipped in the last minute: %s (daylight_invalid_input_total)",
                summary,
            )
        self._logged = dict(counts)
        self._logged_at = now


@dataclass(slots=True)
class LiveRuntime:
    access: ClusterAccess
    model: DoraModel
    scope: WatchScope = field(default_factory=WatchScope)
    clock: Callable[[], float] = time.time
    state: StateStore | None = None
    traces: TraceEmitter | None = None
    checks: KeptnChecks | None = None
    save_interval_s: float = 1.0
    supervisor: Supervisor = field(default_factory=Supervisor)
    informers: list[Informer] = field(default_factory=list)
    started: bool = False
    pipeline: Pipeline = field(init=False)
    invalid_log: InvalidInputLog = field(default_factory=InvalidInputLog)
    _client: ApiClient | None = None
    _save_failing_since: float | None = None
    _save_logged_at: float = 0.0

    def __post_init__(self) -> None:
        subscribers = [self.checks] if self.checks is not None else []
        self.pipeline = Pipeline(self.model, subscribers=subscribers, clock=self.clock)

    def build_informers(self) -> list[Informer]:
        self._client = ApiClient(self.access)
        self.informers = build_informers(self._client, self.scope, clock=self.clock)
        return self.informers

    async def start(self) -> None:
        """Sync history, then watch. Returns once every informer has its first snapshot."""
        if not self.informers:
            self.build_informers()
        started = time.monotonic()
        if self.state is not None:
            try:
                self.state.restore_into(self.model, self.clock())
            except StateError as exc:  # damage found while loading: refuse, in one line
                raise CommandError(" ".join(str(exc).split())) from None
        now = self.clock()
        total = await self.pipeline.sync(self.informers)
        if self.state is not None:
            self.model.reconcile(now)
            self._save(now, everything=True)
        settle_memory()  # again: the state file's load and save left garbage
        log.info(
            "synced %d objects from %s in %.2fs: %d apps, %d workloads",
            total,
            self.access.description,
            time.monotonic() - started,
            len(self.model.apps),
            len(self.model.workloads),
        )
        self.pipeline.watch(self.informers, self.supervisor)
        self.supervisor.start("model clock", self._tick_forever)
        if self.checks is not None:
            self.supervisor.start("checks clock", self.checks.tick_forever)
        self.started = True

    async def _tick_forever(self) -> None:
        """Time passes even without events: rollout timeouts and windows need it."""
        while True:
            await asyncio.sleep(self.save_interval_s)
            self.tick(self.clock())

    def tick(self, now: float) -> None:
        self.model.advance(now)
        self.emit_traces()
        self.invalid_log.maybe_log(dict(self.model.stats.invalid), now)
        self._save(now)

    def _save(self, now: float, *, everything: bool = False) -> None:
        """A failing save (a full disk) must not stop the exporter: the next one retries
        everything. Logged when it starts failing, once a minute while it does, and when it
        works again."""
        if self.state is None:
            return
        try:
            self.state.save(self.model, now, everything=everything)
        except StateError as exc:
            if self._save_failing_since is None or now - self._save_logged_at >= 60.0:
                log.error("%s (retried every %.0fs; daylight_state_save_failures_total)",
                          exc, self.save_interval_s)  # fmt: skip  # one call
                self._save_logged_at = now
            if self._save_failing_since is None:
                self._save_failing_since = now
            return
        if self._save_failing_since is not None:
            log.warning("state file %s saved again, after failing for %.0fs", self.state.path,
                        now - self._save_failing_since)  # fmt: skip  # one call
            self._save_failing_since = None

    def emit_traces(self) -> None:
        """Hand new trace facts to the emitter's thread; marked so they are never resent."""
        if self.traces is None:
            return
        now = self.clock()
        for group in self.model.untraced():
            if self.checks is not None and not self.checks.trace_ready(group, now):
                continue  # wait for its task and evaluation spans
            self.model.mark_traced(group, self.traces.emit(group, group.traced_facts))

    def ready(self) -> tuple[bool, list[str]]:
        waiting = [
            i.name for i in self.informers if not i.stats.synced and i.stats.disabled is None
        ]
        waiting += self.supervisor.ready()
        if not self.started:
            waiting = waiting or ["initial sync"]
        return (not waiting, waiting)

    async def stop(self) -> None:
        await self.supervisor.stop()
        if self.checks is not None:
            await self.checks.stop()
        if self.traces is not None:
            self.emit_traces()
            await asyncio.to_thread(self.traces.close, 5.0)
        if self.state is not None and self.started:
            self._save(self.clock())
        if self._client is not None:
            await self._client.close()
