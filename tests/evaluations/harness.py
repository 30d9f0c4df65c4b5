"""The exporter's informers + model + KeptnChecks, wired the way `daylight run` should be.

Used by the sim and real-cluster tests to see task and evaluation outcomes land in the DORA
model exactly as they would in the exporter process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.evaluations.checks import KeptnChecks
from exporter.evaluations.engine import EvaluationConfig
from exporter.events.envelope import ObjectEvent
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Disabled, Informer
from exporter.kube.resources import WATCHED
from exporter.model.engine import DoraModel, ModelConfig
from exporter.model.records import AppDeployment, AppKey


@dataclass
class Exporter:
    access: ClusterAccess
    allowed_namespaces: tuple[str, ...] = ()
    evaluation: EvaluationConfig | None = None
    namespaces: tuple[str, ...] = ()
    clock: Callable[[], float] = time.time
    model: DoraModel = field(default_factory=lambda: DoraModel(ModelConfig()))
    informers: list[Informer] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.checks = KeptnChecks(
            self.model,
            allowed_namespaces=self.allowed_namespaces,
            evaluation=self.evaluation,
            clock=self.clock,
            tick_s=0.1,
        )
        self.client = ApiClient(self.access)

    async def start(self) -> None:
        for resource in WATCHED:
            scopes: tuple[str | None, ...] = (None,)
            if self.namespaces and resource.namespaced:
                scopes = self.namespaces
            for ns in scopes:
                self.informers.append(
                    Informer(self.client, resource, namespace=ns, watch_timeout_s=30)
                )
        now = self.clock()
        for informer in self.informers:
            try:
                items = await informer.initial_list()
            except Disabled:
                items = []
            for obj in items:
                self._feed(ObjectEvent(now, "ADDED", obj, initial=True))
        self.model.settle()
        for informer in self.informers:
            informer.sink = self._sink
            self.tasks.append(asyncio.create_task(informer.run()))
        await self.checks.start()

    def _feed(self, event: ObjectEvent) -> None:
        self.model.apply(event)
        self.checks.on_event(event)

    def _sink(self, event_type: str, obj: Any, initial: bool) -> None:
        self._feed(ObjectEvent(self.clock(), event_type, obj, initial))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.checks.stop()
        await self.client.close()

    def deployments(self, namespace: str, app: str) -> list[AppDeployment]:
        for key, ledger in self.model.apps.items():
            if key.namespace == namespace and key.app == app:
                return ledger.deployments
        return []

    def app_key(self, namespace: str, app: str) -> AppKey:
        return AppKey(self.model.environment(namespace), namespace, app)


async def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
