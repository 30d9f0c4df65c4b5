"""Simulated kube-controller-manager: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job
controllers and garbage collection, driven by a work queue and timers.

Like the real controllers they react to store events (each change enqueues the object and
its owner) and re-check on their own when time matters (a pod becoming ready, a progress
deadline). Time is always passed in: `step(now)` processes everything due at `now` and
returns when the next thing will happen, so tests can jump straight from one interesting
instant to the next, and the demo simply calls it from a real-time loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections.abc import Callable

from kubesim import errors
from kubesim.controllers import podsync
from kubesim.controllers.common import KIND_TO_RESOURCE, Context, ControllerOptions, PodBook
from kubesim.controllers.daemonset import reconcile_daemonset
from kubesim.controllers.deployment import reconcile_deployment
from kubesim.controllers.job import reconcile_job
from kubesim.controllers.replicaset import reconcile_replicaset
from kubesim.controllers.statefulset import reconcile_statefulset
from kubesim.events import WatchEvent
from kubesim.store import Store
from kubesim.util import JsonDict, meta

__all__ = ["ControllerOptions", "Controllers"]

Key = tuple[str, str | None, str]  # (resource or "gc", namespace, name or owner uid)
Reconciler = Callable[[Context, JsonDict], None]

RECONCILERS: dict[str, Reconciler] = {
    "deployments": reconcile_deployment,
    "replicasets": reconcile_replicaset,
    "statefulsets": reconcile_statefulset,
    "daemonsets": reconcile_daemonset,
    "jobs": reconcile_job,
}
_OWNED = ("replicasets", "controllerrevisions", "pods")


class ConvergenceError(RuntimeError):
    """The controllers kept changing objects without settling: a simulator bug."""


class Controllers:
    def __init__(
        self,
        store: Store,
        *,
        with_pods: bool = False,
        pod_ready_s: float = 2.0,
        crash_after_s: float = 30.0,
        nodes: int = 3,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        max_work_per_step: int = 200_000,
    ) -> None:
        self.store = store
        self.options = ControllerOptions(with_pods, pod_ready_s, crash_after_s, nodes, seed)
        self.pods = PodBook()
        self.clock = clock
        self.max_work_per_step = max_work_per_step
        self.now: float | None = None
        self.reconciles = 0
        self._rng = random.Random(seed)
        self._queue: dict[Key, None] = {}
        self._timers: list[tuple[float, int, Key]] = []
        self._timer_at: dict[Key, float] = {}
        self._seq = 0
        self._cache: dict[object, object] = {}
        self._task: asyncio.Task[None] | None = None
        store.add_listener(self._on_event)
        for resource in RECONCILERS:
            for obj in store.items(resource):
                self._enqueue((resource, meta(obj).get("namespace"), meta(obj)["name"]))

    # -- event intake --------------------------------------------------------------------------
    def _enqueue(self, key: Key) -> None:
        self._queue[key] = None

    def _on_event(self, resource: str, event: WatchEvent) -> None:
        obj = event.entry.obj
        metadata = obj["metadata"]
        namespace = metadata.get("namespace")
        if resource in RECONCILERS:
            self._enqueue((resource, namespace, metadata["name"]))
        for ref in metadata.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("controller") is True:
                owner_resource = KIND_TO_RESOURCE.get(str(ref.get("kind")))
                if owner_resource is not None:
                    self._enqueue((owner_resource, namespace, str(ref.get("name"))))
        if event.type == "DELETED" and resource in RECONCILERS:
            self._enqueue(("gc", namespace, metadata["uid"]))

    def wake(self, at: float, resource: str, namespace: str | None, name: str) -> None:
        """Reconcile this object again at `at` (immediately if that is not in the future)."""
        key = (resource, namespace, name)
        if self.now is not None and at <= self.now:
            self._enqueue(key)
            return
        if self._timer_at.get(key, float("inf")) <= at:
            return
        self._timer_at[key] = at
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, key))

    # -- stepping ------------------------------------------------------------------------------
    def next_wakeup(self) -> float | None:
        while self._timers:
            at, _, key = self._timers[0]
            if self._timer_at.get(key) == at:
                return at
            heapq.heappop(self._timers)
        return None

    def step(self, now: float | None = None) -> float | None:
        """Processes everything due at `now`; returns the time of the next scheduled check."""
        now = self.clock() if now is None else now
        if self.now is not None:
            now = max(now, self.now)
        self.now = now
        while self._timers and self._timers[0][0] <= now:
            at, _, key = heapq.heappop(self._timers)
            if self._timer_at.get(key) == at:
                del self._timer_at[key]
                self._enqueue(key)
        ctx = Context(self.store, self.options, self.pods, self._rng, now, self.wake, self._cache)
        work = 0
        while self._queue:
            key = next(iter(self._queue))
            del self._queue[key]
            work += 1
            if work > self.max_work_per_step:
                raise ConvergenceError(f"controllers still busy after {work} reconciles at {key}")
            self._process(ctx, key)
        self.reconciles += work
        return self.next_wakeup()

    def advance(self, until: float, *, start: float | None = None) -> float:
        """Steps through every scheduled instant up to `until` (inclusive)."""
        if start is None:
            start = self.now if self.now is not None else until
        at = self.step(start)
        while at is not None and at <= until:
            at = self.step(at)
        self.step(until)
        return until

    def _process(self, ctx: Context, key: Key) -> None:
        resource, namespace, name = key
        if resource == "gc":
            self._collect(name)
            return
        obj = self.store.peek(resource, name, namespace)
        if obj is not None:
            RECONCILERS[resource](ctx, obj)

    def _collect(self, owner_uid: str) -> None:
        """Background cascading deletion of what a deleted object controlled."""
        for resource in _OWNED:
            for obj in self.store.owned(resource, owner_uid):
                with contextlib.suppress(errors.ApiError):
                    self.store.delete(
                        resource, obj["metadata"]["name"], obj["metadata"]["namespace"]
                    )
        for rec in self.pods.forget(owner_uid).values():
            ctx = Context(
                self.store, self.options, self.pods, self._rng, self.now or 0.0, self.wake
            )
            podsync.remove(ctx, rec)

    # -- real time -----------------------------------------------------------------------------
    async def run(self, interval_s: float = 0.5) -> None:
        """Steps with the clock forever: at the next scheduled instant or every interval."""
        while True:
            nxt = self.step()
            delay = interval_s if nxt is None else min(interval_s, max(0.0, nxt - self.clock()))
            await asyncio.sleep(max(delay, 0.01))

    def start(self, interval_s: float = 0.5) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(interval_s))
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def close(self) -> None:
        """Stops listening to the store (a closed controller manager ignores changes)."""
        self.store.remove_listener(self._on_event)
