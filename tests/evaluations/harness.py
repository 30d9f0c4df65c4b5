"""The exporter's pipeline + model + KeptnChecks, wired the way `daylight run` wires them.

Used by the sim and real-cluster tests to see task and evaluation outcomes land in the DORA
model exactly as they would in the exporter process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.app.guard import Supervisor
from exporter.app.pipeline import Pipeline
from exporter.evaluations.checks import KeptnChecks
from exporter.evaluations.engine import EvaluationConfig
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Informer
from exporter.kube.scope import WatchScope, build_informers
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
    supervisor: Supervisor = field(default_factory=Supervisor)

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
        self.pipeline = Pipeline(self.model, subscribers=[self.checks], clock=self.clock)
        scope = WatchScope(namespaces=self.namespaces, watch_timeout_s=30)
        self.informers = build_informers(self.client, scope)
        await self.pipeline.sync(self.informers)
        self.pipeline.watch(self.informers, self.supervisor)
        self.supervisor.start("checks clock", self.checks.tick_forever)

    async def stop(self) -> None:
        await self.supervisor.stop()
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
