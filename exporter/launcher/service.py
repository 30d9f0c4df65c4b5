"""The task job launcher: Keptn task definitions → Kubernetes Jobs, beside the rollout.

It watches what the exporter watches to know deployments (Namespaces, KeptnApps,
ReplicaSets, ControllerRevisions, Deployments, StatefulSets, DaemonSets), plus its own Jobs
and the KeptnTaskDefinitions, and feeds them to a :class:`DoraModel`, so "a new version
starts deploying" and "the deployment completed" mean exactly what the exporter means. When
one happens it creates the Jobs of the pre- or post-deployment tasks the workload (or its
KeptnApp) asks for.

Non-blocking by design: there is no admission webhook and no scheduling gate. Pre-deployment
tasks start when the rollout starts and run beside it; nothing waits for them. Their outcome
is reported (metrics, trace, Events), and a failed *post*-deployment task makes the deployment
a failed change in the exporter, which reads the Job outcomes through its own Job watch.

Idempotent without state (see :mod:`exporter.launcher.jobs`; finished Jobs are kept at
least ``--catch-up-window``). After a restart, rollouts that started or completed within
that window are (re)considered; everything older is history.

Safe by default: it acts only in namespaces listed in ``--allowed-namespaces`` or annotated
``keptn.sh/lifecycle-toolkit: enabled``; it renders only what the task definition asks for;
it never reads a Secret. Bad input (unknown definition, invalid runtime, missing ConfigMap
or Secret, absurd timeout) becomes a log line, a Warning Event on the workload (when RBAC
allows Events), a counter, and a failed task: a suspended Job recording the reason, which
the exporter reads like any other task outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.registry import Collector

from exporter.app.guard import Supervisor, SupervisorCollector
from exporter.app.pipeline import Pipeline
from exporter.checks.keptn import NamespaceGate
from exporter.checks.lifecycle import LifecycleTracker, Transition
from exporter.checks.records import CheckLedger, CheckStats
from exporter.checks.tasks import TaskResults
from exporter.events import keys
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.objects import Job, KeptnObject, Namespace
from exporter.kube import resources
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Informer
from exporter.kube.scope import WatchScope, build_informers
from exporter.launcher.jobs import JobLauncher, Launch, LauncherConfig, LauncherStats
from exporter.launcher.metrics import LauncherCollector
from exporter.launcher.writer import KubeWriter
from exporter.model.engine import DoraModel, ModelConfig
from exporter.model.facts import Fact
from exporter.outputs import selfmetrics

log = logging.getLogger("daylight.launcher")

WATCHED: tuple[resources.Resource, ...] = (
    resources.NAMESPACES,
    resources.KEPTN_APPS,
    resources.REPLICASETS,
    resources.CONTROLLER_REVISIONS,
    resources.DEPLOYMENTS,
    resources.STATEFULSETS,
    resources.DAEMONSETS,
    resources.JOBS,
    resources.KEPTN_TASK_DEFINITIONS,
)
OWN_JOBS = f"{keys.MANAGED_BY}={keys.LAUNCHER}"


class Launcher:
    def __init__(
        self,
        access: ClusterAccess,
        config: LauncherConfig | None = None,
        model_config: ModelConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access = access
        self.config = config or LauncherConfig()
        self.clock = clock
        self.model = DoraModel(model_config)
        self.tracker = LifecycleTracker(self.model)
        self.gate = NamespaceGate(self.config.allowed_namespaces)
        self.definitions: dict[tuple[str, str], KeptnObject] = {}
        self.stats = LauncherStats()
        self.check_stats = CheckStats()
        self.results = TaskResults(self.model, CheckLedger(), self.check_stats)
        self.writer = KubeWriter(access)
        self.supervisor = Supervisor()
        self.pipeline = Pipeline(self.model, subscribers=[self], clock=clock)
        self.jobs = JobLauncher(
            config=self.config,
            writer=self.writer,
            definitions=self.definitions,
            stats=self.stats,
            clock=clock,
            jobs=self._own_jobs,
        )
        self.informers: list[Informer] = []
        self.started = False
        self._client: ApiClient | None = None

    # ------------------------------------------------------------------ life

    def build_informers(self) -> list[Informer]:
        self._client = ApiClient(self.access, user_agent="daylight-launcher")
        scope = WatchScope(
            namespaces=self.config.namespaces,
            exclude_namespaces=self.config.exclude_namespaces,
            label_selector=self.config.label_selector,
            resources=WATCHED,
            watch_timeout_s=self.config.watch_timeout_s,
            selectors={resources.JOBS: OWN_JOBS},
        )
        self.informers = build_informers(self._client, scope, clock=self.clock)
        return self.informers

    async def start(self) -> None:
        """Sync, consider what happened within the catch-up window, then watch and launch."""
        if not self.informers:
            self.build_informers()
        now = self.clock()
        await self.pipeline.sync(self.informers)
        caught = self.tracker.catch_up(now, self.config.catch_up_window_s)
        for transition in caught:
            self._enqueue(transition)
        log.info(
            "synced %d workloads, %d task definitions; %d phase(s) within the %.0fs catch-up "
            "window; acting in %s",
            len(self.model.workloads),
            len(self.definitions),
            len(caught),
            self.config.catch_up_window_s,
            self._scope(),
        )
        self.pipeline.watch(self.informers, self.supervisor)
        for index in range(max(1, self.config.workers)):
            self.supervisor.start(f"launch worker {index}", self.jobs.work)
        self.supervisor.start("launcher clock", self._tick_forever)
        self.supervisor.start("launcher sweep", self.jobs.sweep_forever)
        self.started = True

    def _scope(self) -> str:
        listed = ", ".join(sorted(self.gate.listed)) or "no listed namespaces"
        return f"{listed} and namespaces annotated {keys.NAMESPACE_ENABLED}=enabled"

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.writer.close()
        if self._client is not None:
            await self._client.close()

    def ready(self) -> tuple[bool, list[str]]:
        waiting = [
            i.name for i in self.informers if not i.stats.synced and i.stats.disabled is None
        ]
        waiting += self.supervisor.ready()
        if not self.started:
            waiting = waiting or ["initial sync"]
        return (not waiting, waiting)

    @property
    def pending(self) -> int:
        return self.jobs.pending

    # ----------------------------------------------------------------- events

    def on_event(self, event: ObjectEvent, facts: Sequence[Fact]) -> None:
        """The pipeline's subscriber: definitions, task outcomes, namespaces, transitions."""
        obj = event.obj
        deleted = event.type == EventType.DELETED
        if isinstance(obj, KeptnObject):
            key = (obj.metadata.namespace, obj.metadata.name)
            if deleted:
                self.definitions.pop(key, None)
            else:
                self.definitions[key] = obj
            return
        for transition in self.tracker.on_event(event, facts):
            self._enqueue(transition)
        if isinstance(obj, Job):
            self.results.on_job(obj, event.type, event.time, event.initial)
        elif isinstance(obj, Namespace):
            self.gate.observe(obj.metadata, deleted)

    def _enqueue(self, transition: Transition) -> None:
        target = transition.target
        tasks = target.checks.tasks(transition.phase)
        if not tasks:
            return
        if not self.gate.allowed(target.namespace):
            self.stats.skipped["namespace_not_allowed"] += len(tasks)
            log.debug(
                "%s tasks of %s/%s not launched: namespace not enabled",
                transition.phase,
                target.namespace,
                target.owner_name,
            )
            return
        for task in tasks:
            self.jobs.enqueue(Launch(transition, task, transition.at))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            now = self.clock()
            self.model.advance(now)
            for transition in self.tracker.tick(now):
                self._enqueue(transition)
            self.jobs.release_due(now)

    def _own_jobs(self) -> Iterator[Job]:
        for informer in self.informers:
            if informer.resource is resources.JOBS:
                yield from (job for job in informer.cache.values() if isinstance(job, Job))

    # ------------------------------------------------------------------ metrics

    def collectors(self) -> list[Collector]:
        return [
            selfmetrics.BuildInfo("launcher"),
            LauncherCollector(self),
            selfmetrics.Informers(lambda: [(i.name, i.stats) for i in self.informers]),
            selfmetrics.Checks(self.check_stats, evaluations=False),
            SupervisorCollector(self.supervisor),
        ]
