"""Follow-ups the demo world owes itself: a broken rollout is fixed some time after it broke.

They are kept in time order (ties in the order they were scheduled) and run, each at its
own time, before anything else happens at or after that time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from kubesim.controllers import Controllers
from kubesim.world_catalog import AppSpec
from kubesim.world_view import WorldView

# Performs one change: (time, action kind, app).
Perform = Callable[[float, str, AppSpec], object]


class FollowUps:
    def __init__(self, *, controllers: Controllers, view: WorldView) -> None:
        self.controllers = controllers
        self.view = view
        self._heap: list[tuple[float, int, str, str]] = []  # (time, seq, kind, app key)
        self._seq = 0

    def schedule(self, at: float, kind: str, app: AppSpec) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, app.key))

    def pending(self, app: AppSpec) -> bool:
        return any(key == app.key for _, _, _, key in self._heap)

    def run(self, now: float, perform: Perform) -> bool:
        """Performs every follow-up due by `now`, each at its own time; whether any ran."""
        ran = False
        while self._heap and self._heap[0][0] <= now:
            at, _, kind, key = heapq.heappop(self._heap)
            namespace, name = key.split("/", 1)
            self.controllers.advance(at)
            perform(at, kind, self.view.app(namespace, name))
            ran = True
        return ran
