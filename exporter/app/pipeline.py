"""The one way events reach the model: list → apply(initial) → settle → watch.

Every command that feeds a model uses it — ``run``, ``demo``, ``report``, ``replay``, the
launcher and the test harnesses — so the start-up order (environments and KeptnApps before
workloads, ReplicaSets before their Deployments, each page fed as it arrives), the stamping
of live events with their receive time, and the hand-over of facts to subscribers are
written once. Subscribers (the checks, the launcher's lifecycle tracker) get every event
with the facts the model derived from it, after the model applied it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from exporter.app.guard import Supervisor
from exporter.events.envelope import EventType, ObjectEvent, SideInput
from exporter.events.external import InvalidInput
from exporter.kube import eventlog
from exporter.kube.informer import Disabled, Informer
from exporter.kube.resources import NAMESPACES
from exporter.model.engine import DoraModel
from exporter.model.facts import Fact

log = logging.getLogger("daylight")


def settle_memory() -> None:
    """After the start-up sync most objects live as long as the process: move them out of
    the garbage collector's sight (gc.freeze), so a full collection later scans only what
    changed since — at 20k apps one scans ~900k objects and stalls the loop for ~1 s."""
    gc.collect()
    gc.freeze()


class Subscriber(Protocol):
    def on_event(self, event: ObjectEvent, facts: Sequence[Fact]) -> None:
        """Called after the model applied ``event``; ``facts`` are what it derived."""


class Pipeline:
    def __init__(
        self,
        model: DoraModel,
        *,
        subscribers: Sequence[Subscriber] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model
        self.subscribers = list(subscribers)
        self.clock = clock
        self.synced = False

    def apply(self, event: ObjectEvent) -> Sequence[Fact]:
        facts = self.model.apply(event)
        for subscriber in self.subscribers:
            subscriber.on_event(event, facts)
        return facts

    def sink(self, event_type: EventType, obj: Any, initial: bool) -> None:
        """An informer's live event, stamped with its receive time (the model's only clock)."""
        event = ObjectEvent(self.clock(), event_type, obj, initial)
        facts = self.model.apply(event)
        for subscriber in self.subscribers:
            subscriber.on_event(event, facts)

    # ------------------------------------------------------------------ live

    async def sync(self, informers: Sequence[Informer]) -> int:
        """The start-up list: one resource after the other, each page fed as it arrives, so
        memory stays at one page; every object is history (``initial``). Returns objects."""
        now = self.clock()
        total = 0

        def feed(event_type: EventType, obj: Any) -> None:
            self.apply(ObjectEvent(now, event_type, obj, initial=True))

        for informer in informers:
            try:
                total += len(await informer.initial_list(feed))
            except Disabled:  # logged and counted by the informer; retried by its watch
                if informer.resource is NAMESPACES:
                    log.info(
                        "namespaces not listable: every namespace is in the default environment"
                    )
                continue
        self.model.settle()
        self.synced = True
        settle_memory()
        return total

    def watch(self, informers: Sequence[Informer], supervisor: Supervisor) -> None:
        """Watch every informer in a supervised task, feeding live events from now on."""
        for informer in informers:
            informer.sink = self.sink
            supervisor.start(f"watch {informer.name}", informer.run)

    # ------------------------------------------------------------------ logs

    def replay(self, path: Path) -> ReplayResult:
        """Feed an event log (design §5) as live events; bad lines are logged and skipped."""
        result = ReplayResult()
        for item in eventlog.read(path):
            if isinstance(item, ObjectEvent):
                self.apply(item)
                result.objects += 1
            else:
                result.side += 1
                self.side_input(item, source=str(path))
            result.last = item.time if result.last is None else max(result.last, item.time)
        if result.last is not None:
            self.model.advance(result.last)
        self.model.settle()
        return result

    def side_input(self, item: SideInput, *, source: str) -> None:
        try:
            self.model.apply_external(item.kind, item.body, item.time)
        except InvalidInput as exc:  # counted by the model
            log.warning("%s: skipped %s line at %s: %s", source, item.kind, item.time, exc)


class ReplayResult:
    __slots__ = ("last", "objects", "side")

    def __init__(self) -> None:
        self.last: float | None = None
        self.objects = 0
        self.side = 0
