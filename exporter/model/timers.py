"""Model time: what becomes due without an event (rollout timeouts, degradation, grouping).

The model never reads a clock; events bring the time, and ``Timers.due`` hands out whatever
fell due up to it, in due order (ties in scheduling order), so a replay fires the same
timers at the same moments as the live run did.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from exporter.model.records import AppDeployment, WorkloadDeployment


@dataclass(frozen=True, slots=True)
class RolloutTimeout:
    """``--rollout-timeout`` for kinds without a controller-enforced progress deadline."""

    deployment: WorkloadDeployment


@dataclass(frozen=True, slots=True)
class DegradationDue:
    """The workload has been unavailable since ``since`` for ``--degraded-after``."""

    uid: str
    since: float


@dataclass(frozen=True, slots=True)
class GroupingEnds:
    """The app grouping window of this deployment is over: no more workloads join it."""

    deployment: AppDeployment


Timer = RolloutTimeout | DegradationDue | GroupingEnds


class Timers:
    """Model time (``now``, from the latest event) and what is scheduled against it."""

    __slots__ = ("_heap", "_seq", "now", "observation_start")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self.now = 0.0
        self.observation_start: float | None = None

    def schedule(self, at: float, timer: Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, timer))

    def advance(self, now: float) -> bool:
        """Move time forward (never back: out-of-order delivery); True if a timer is due."""
        if now > self.now:
            self.now = now
        return bool(self._heap) and self._heap[0][0] <= self.now

    def pop_due(self) -> tuple[float, Timer] | None:
        """The next timer due by now, in due order; timers scheduled meanwhile count too."""
        heap = self._heap
        if heap and heap[0][0] <= self.now:
            at, _, timer = heapq.heappop(heap)
            return at, timer
        return None

    def __len__(self) -> int:
        return len(self._heap)
