"""Wires the parts together: informers -> model -> outputs, in one asyncio loop.

This is the only place that reads the wall clock for the model: live events are stamped with
their receive time here, so the model itself stays pure and replayable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.evaluations.checks import KeptnChecks
from exporter.events.envelope import EventType, ObjectEvent
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Disabled, Informer, InformerStats
from exporter.kube.resources import (
    CONTROLLER_REVISIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    WATCHED,
    Resource,
)
from exporter.model.engine import DoraModel, ModelConfig
from exporter.outputs.traces import TraceEmitter
from exporter.state.store import StateStore

log = logging.getLogger("daylight")

# The label selector narrows what belongs to apps; namespaces and Keptn objects stay whole.
SELECTABLE = {DEPLOYMENTS, STATEFULSETS, DAEMONSETS, REPLICASETS, CONTROLLER_REVISIONS, PODS}


@dataclass(slots=True)
class WatchOptions:
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: frozenset[str] = frozenset()
    label_selector: str | None = None
    resources: tuple[Resource, ...] = WATCHED
    watch_timeout_s: int = 300
    page_size: int = 500


@dataclass(slots=True)
class LiveRuntime:
    access: ClusterAccess
    model: DoraModel
    options: WatchOptions = field(default_factory=WatchOptions)
    clock: Callable[[], float] = time.time
    informers: list[Informer] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    started: bool = False
    state: StateStore | None = None
    traces: TraceEmitter | None = None
    checks: KeptnChecks | None = None
    save_interval_s: float = 1.0
    _client: ApiClient | None = None
    _invalid_logged: dict[str, int] = field(default_factory=dict)
    _invalid_logged_at: float = 0.0

    def build_informers(self, item_type: Any = None) -> list[Informer]:
        self._client = ApiClient(self.access)
        informers = []
        for resource in self.options.resources:
            scopes: tuple[str | None, ...] = (None,)
            if self.options.namespaces and resource.namespaced:
                scopes = tuple(self.options.namespaces)
            for namespace in scopes:
                informers.append(
                    Informer(
                        self._client,
                        resource,
                        namespace=namespace,
                        label_selector=(
                            self.options.label_selector if resource in SELECTABLE else None
                        ),
                        item_type=item_type,
                        page_size=self.options.page_size,
                        watch_timeout_s=self.options.watch_timeout_s,
                        excluded_namespaces=self.options.exclude_namespaces,
                        clock=self.clock,
                    )
                )
        self.informers = informers
        return informers

    async def _list_one(
        self, informer: Informer, consume: Callable[[list[Any]], None] | None = None
    ) -> list[Any]:
        """A missing or forbidden resource yields nothing (and a warning), not a failure."""
        try:
            return await informer.initial_list(consume)
        except Disabled:
            if informer.resource is NAMESPACES and self.options.namespaces:
                log.info("namespaces not listable with namespace-scoped access: "
                         "environments fall back to --default-environment")  # fmt: skip
            return []

    async def initial_lists(self) -> list[list[Any]]:
        """List everything concurrently (record, report): objects kept whole."""
        return list(await asyncio.gather(*(self._list_one(i) for i in self.informers)))

    async def start(self) -> None:
        """Sync history, then watch. Returns once every informer has its first snapshot."""
        if not self.informers:
            self.build_informers()
        started = time.monotonic()
        if self.state is not None:
            self.state.restore_into(self.model, self.clock())
        now = self.clock()

        def feed(items: list[Any]) -> None:
            for obj in items:
                self._apply(ObjectEvent(now, EventType.ADDED, obj, initial=True))

        # One resource after the other, in WATCHED order (history needs ReplicaSets before
        # their workloads), each page fed as it arrives: memory stays at one page.
        snapshots = []
        for informer in self.informers:
            snapshots.append(await self._list_one(informer, feed))
        self.model.settle()
        if self.state is not None:
            self.model.reconcile(now)
            self.state.save(self.model, now, everything=True)
        total = sum(len(items) for items in snapshots)
        log.info(
            "synced %d objects from %s in %.2fs: %d apps, %d workloads",
            total,
            self.access.description,
            time.monotonic() - started,
            len(self.model.apps),
            len(self.model.workloads),
        )
        for informer in self.informers:
            informer.sink = self._sink
            self.tasks.append(asyncio.create_task(informer.run(), name=f"watch {informer.name}"))
        self.tasks.append(asyncio.create_task(self._tick(), name="model clock"))
        if self.checks is not None:
            await self.checks.start()
        self.started = True

    def _apply(self, event: ObjectEvent) -> None:
        self.model.apply(event)
        if self.checks is not None:  # tasks and evaluations read what the model made of it
            self.checks.on_event(event)

    def _sink(self, event_type: str, obj: Any, initial: bool) -> None:
        self._apply(ObjectEvent(self.clock(), EventType(event_type), obj, initial))

    async def _tick(self) -> None:
        """Time passes even without events: rollout timeouts and windows need it."""
        while True:
            await asyncio.sleep(self.save_interval_s)
            now = self.clock()
            self.model.advance(now)
            self.emit_traces()
            self.log_invalid_input(now)
            if self.state is not None:
                try:
                    self.state.save(self.model, now)
                except Exception:  # a full disk must not stop the exporter
                    log.exception("state file %s: save failed", self.state.path)

    def log_invalid_input(self, now: float, every_s: float = 60.0) -> None:
        """One line a minute at most, saying which bad input the model skipped and how often."""
        if now - self._invalid_logged_at < every_s:
            return
        current = dict(self.model.stats.invalid)
        new = {k: v - self._invalid_logged.get(k, 0) for k, v in current.items()}
        new = {k: v for k, v in new.items() if v > 0}
        if new:
            summary = ", ".join(f"{k}={v}" for k, v in sorted(new.items()))
            log.warning("invalid input skipped in the last minute: %s "
                        "(daylight_invalid_input_total)", summary)  # fmt: skip
        self._invalid_logged = current
        self._invalid_logged_at = now

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
        if not self.started:
            waiting = waiting or ["initial sync"]
        return (not waiting, waiting)

    def informer_stats(self) -> list[tuple[str, InformerStats]]:
        return [(i.name, i.stats) for i in self.informers]

    async def stop(self) -> None:
        if self.checks is not None:
            await self.checks.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        if self.traces is not None:
            self.emit_traces()
            await asyncio.to_thread(self.traces.close, 5.0)
        if self.state is not None and self.started:
            self.state.save(self.model, self.clock())
        if self._client is not None:
            await self._client.close()


def model_config(args: Any) -> ModelConfig:
    return ModelConfig(
        default_environment=args.default_environment,
        app_grouping_window_s=args.app_grouping_window,
        rollout_timeout_s=args.rollout_timeout,
        failure_window_s=args.failure_window,
        degraded_after_s=args.degraded_after,
        alert_app_labels=tuple(args.alert_app_labels),
    )
