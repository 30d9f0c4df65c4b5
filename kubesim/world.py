"""The demo world: 30 days of deployment history, then a live stream of changes.

Everything is deterministic for a (seed, now) pair: the same seed gives the same apps, the
same history (objects, names, uids, timestamps) and the same sequence of live actions. The
history is not written directly: it is *played* through the simulated controllers on a
simulated clock, so every ReplicaSet, ControllerRevision, revision annotation and rollback
trace in it is exactly what the controllers would have left behind.

`World` is a thin facade over parts that each own their state, sharing one seeded random
stream so that every draw happens in the same order: `WorldView` (what the cluster says
about the apps), `FollowUps` (fixes due later), `LiveActions` (the changes themselves) and
`History` (building the world and playing its past).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from kubesim.controllers import Controllers
from kubesim.store import Store
from kubesim.util import JsonDict
from kubesim.world_actions import Action, LiveActions, Pace
from kubesim.world_catalog import APPS, AppSpec, WorkloadSpec
from kubesim.world_followups import FollowUps
from kubesim.world_history import History
from kubesim.world_view import WorldView

__all__ = ["Action", "Pace", "World"]


class World:
    def __init__(
        self,
        store: Store,
        controllers: Controllers,
        *,
        seed: int = 0,
        history_days: float = 30.0,
        live_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        apps: tuple[AppSpec, ...] = APPS,
    ) -> None:
        self.store = store
        self.controllers = controllers
        self.seed = seed
        self.live_interval_s = live_interval_s
        self.clock = clock
        rng = random.Random(f"daylight-world-{seed}")
        self.view = WorldView(store=store, apps=apps)
        self.followups = FollowUps(controllers=controllers, view=self.view)
        self.live_actions = LiveActions(
            store=store, controllers=controllers, view=self.view, followups=self.followups, rng=rng
        )
        self.history = History(
            store=store,
            controllers=controllers,
            view=self.view,
            actions=self.live_actions,
            rng=rng,
            days=history_days,
        )
        self._task: asyncio.Task[None] | None = None

    # -- state of the parts --------------------------------------------------------------------
    @property
    def apps(self) -> tuple[AppSpec, ...]:
        return self.view.apps

    @property
    def history_days(self) -> float:
        return self.history.days

    @property
    def actions(self) -> list[Action]:
        """Every change performed so far, history included, in order."""
        return self.live_actions.actions

    @property
    def populated_at(self) -> float | None:
        return self.history.populated_at

    # -- lookups -------------------------------------------------------------------------------
    def app(self, namespace: str, name: str) -> AppSpec:
        return self.view.app(namespace, name)

    def current_version(self, w: WorkloadSpec) -> str:
        return self.view.current_version(w)

    def settled(self, w: WorkloadSpec) -> bool:
        """Whether the workload's last rollout finished (the `kubectl rollout status` test)."""
        return self.view.settled(w)

    def previous_template(self, w: WorkloadSpec) -> JsonDict | None:
        """What `kubectl rollout undo --to-revision` would restore (see `WorldView`)."""
        return self.view.previous_template(w)

    def broken(self, app: AppSpec) -> list[WorkloadSpec]:
        """Workloads currently running a deliberately bad template."""
        return self.view.broken(app)

    def busy(self, app: AppSpec) -> bool:
        """A fix is due, or a rollout has not finished: no new change for this app yet."""
        return self.live_actions.busy(app)

    # -- building and acting -------------------------------------------------------------------
    def populate(self, now: float | None = None) -> None:
        """Creates the world and plays `history_days` of changes, ending settled at `now`."""
        self.history.populate(self.clock() if now is None else now)

    def tick(self, now: float | None = None) -> Action | None:
        """One live step: a due fix first, otherwise a random change to an idle app."""
        return self.live_actions.tick(self.clock() if now is None else now)

    def act(self, now: float, *, kind: str = "new_version", app: AppSpec | None = None) -> Action:
        """Performs one change at `now` and lets the controllers react to it."""
        return self.live_actions.act(now, kind=kind, app=app)

    # -- live ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Every `live_interval_s`, one change (real time), until cancelled."""
        while True:
            await asyncio.sleep(self.live_interval_s)
            self.tick(self.clock())

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
