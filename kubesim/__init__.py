"""Embedded simulated Kubernetes cluster: the demo's cluster, the benchmarks' data source and
the fault-injecting fake API server of the client tests.

It speaks the kube-apiserver wire protocol closely enough that the exporter uses the very
same HTTP code against it as against a real cluster. Typical use::

    sim = SimCluster(world=False)           # an empty cluster with controllers
    url = await sim.start()                 # http://127.0.0.1:PORT
    sim.store.create("deployments", {...})  # objects exactly as the API serves them
    sim.controllers.step(now)               # let the controllers react at `now`
    sim.faults.throttle(2, retry_after=1)   # the next two requests get 429
    await sim.stop()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from kubesim.controllers import Controllers
from kubesim.faults import Faults
from kubesim.resources import Registry
from kubesim.server import SimServer
from kubesim.store import Store
from kubesim.world import Action, World

__all__ = [
    "Action",
    "Controllers",
    "Faults",
    "Registry",
    "SimCluster",
    "SimServer",
    "Store",
    "World",
]


class SimCluster:
    """Store + API server + controllers (+ the demo world), wired to one clock.

    Defaults are the demo's: a populated world with pods and a live stream of changes.
    Tests usually want `SimCluster(world=False)` and drive time themselves.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        world: bool = True,
        live: bool = True,
        with_pods: bool = True,
        history_days: float = 30.0,
        live_interval_s: float = 5.0,
        bookmark_interval_s: float = 3.0,
        history_limit: int = 5000,
        watch_queue_limit: int = 10_000,
        token: str | None = None,
        run_controllers: bool = True,
        controller_interval_s: float = 0.5,
        pod_ready_s: float = 2.0,
        nodes: int = 3,
        host: str = "127.0.0.1",
        port: int = 0,
        default_watch_timeout_s: float | None = None,
        watch_list: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.registry = Registry()
        self.store = Store(
            self.registry,
            seed=seed,
            history_limit=history_limit,
            watch_queue_limit=watch_queue_limit,
            clock=clock,
        )
        self.server = SimServer(
            self.store,
            host=host,
            port=port,
            token=token,
            bookmark_interval_s=bookmark_interval_s,
            default_watch_timeout_s=default_watch_timeout_s,
            watch_list=watch_list,
        )
        self.controllers = Controllers(
            self.store,
            with_pods=with_pods,
            pod_ready_s=pod_ready_s,
            nodes=nodes,
            seed=seed,
            clock=clock,
        )
        self.world = World(
            self.store,
            self.controllers,
            seed=seed,
            history_days=history_days,
            live_interval_s=live_interval_s,
            clock=clock,
        )
        self.populate_world = world
        self.live = live and world
        self.run_controllers = run_controllers
        self.controller_interval_s = controller_interval_s
        self.url = ""

    @property
    def faults(self) -> Faults:
        return self.server.faults

    async def start(self) -> str:
        """Builds the world (if enabled), starts serving, and returns the base URL."""
        if self.populate_world and self.world.populated_at is None:
            self.world.populate(self.clock())
        self.url = await self.server.start()
        if self.run_controllers:
            self.controllers.start(self.controller_interval_s)
        if self.live:
            self.world.start()
        return self.url

    async def stop(self) -> None:
        await self.world.stop()
        await self.controllers.stop()
        await self.server.stop()

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
