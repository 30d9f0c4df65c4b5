"""Supervised long-running tasks: a crash is logged, counted and restarted with backoff.

Every task that must run for the life of the process (a watch, the model clock, the
evaluation ticker, the launcher's workers) is started through :class:`Supervisor`. If one
raises, the traceback is logged once per crash, ``daylight_task_crashes_total{task}`` counts
it, ``/readyz`` fails while the task is down, and the task is started again after a backoff
that grows with consecutive crashes (and resets once it ran for a while). A task that
returns is restarted too: none of them is meant to end.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from exporter.outputs.selfmetrics import SourceCollector, counter, gauge

log = logging.getLogger("daylight.tasks")

TaskFactory = Callable[[], Awaitable[None]]


class Supervisor:
    def __init__(
        self,
        *,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        healthy_after_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.healthy_after_s = healthy_after_s
        self.monotonic = monotonic
        self.crashes: Counter[str] = Counter()
        self.down: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, factory: TaskFactory) -> None:
        if name in self._tasks:
            raise ValueError(f"task {name!r} is already supervised")
        self._tasks[name] = asyncio.create_task(self._guard(name, factory), name=name)

    @property
    def names(self) -> Iterable[str]:
        return self._tasks.keys()

    async def _guard(self, name: str, factory: TaskFactory) -> None:
        streak = 0
        while True:
            started = self.monotonic()
            crash: BaseException | None = None
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                crash = exc
            self.crashes[name] += 1
            self.down.add(name)
            if self.monotonic() - started >= self.healthy_after_s:
                streak = 0
            delay = random.uniform(self.base_s, min(self.cap_s, self.base_s * 2**streak))
            streak = min(streak + 1, 16)
            if crash is not None:
                log.error("task %r crashed; restarting in %.1fs", name, delay, exc_info=crash)
            else:
                log.error("task %r ended; restarting in %.1fs", name, delay)
            await asyncio.sleep(delay)
            self.down.discard(name)
            log.info("task %r restarted", name)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self.down.clear()

    def ready(self) -> list[str]:
        """Tasks currently down (crashed, waiting to restart)."""
        return sorted(self.down)


class SupervisorCollector(SourceCollector):
    FAMILIES = (
        counter(
            "daylight_task_crashes",
            "Supervised tasks that crashed (or ended) and were restarted, by task.",
            "task",
        ),
        gauge("daylight_task_up", "1 while the supervised task runs, 0 while it restarts.", "task"),
    )

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def fill(self, families: Mapping[str, CounterMetricFamily | GaugeMetricFamily]) -> None:
        for name in sorted(self.supervisor.names):
            families["daylight_task_crashes"].add_metric([name], self.supervisor.crashes[name])
            families["daylight_task_up"].add_metric(
                [name], 0 if name in self.supervisor.down else 1
            )
