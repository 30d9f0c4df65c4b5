"""``daylight launcher``, the task job launcher: Keptn task definitions → Kubernetes Jobs,
beside the rollout (its process: the launcher plus /metrics, /healthz, /readyz).

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

import argparse
import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client.registry import Collector

from exporter.app.console import run_async
from exporter.app.guard import Supervisor, SupervisorCollector
from exporter.app.pipeline import Pipeline
from exporter.app.serving import cluster_access
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
from exporter.launcher.render import Limits, RuntimeImages
from exporter.launcher.writer import KubeWriter
from exporter.model.engine import DoraModel, ModelConfig
from exporter.model.facts import Fact
from exporter.outputs import selfmetrics
from exporter.outputs.http import serve
from exporter.outputs.selfmetrics import build_registry, render_self

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


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def config_from(args: argparse.Namespace) -> tuple[LauncherConfig, ModelConfig]:
    def get(name: str, default: Any) -> Any:
        value = getattr(args, name, None)
        return default if value is None else value

    catch_up = float(get("catch_up_window", 300.0))
    images = RuntimeImages()
    config = LauncherConfig(
        allowed_namespaces=tuple(get("allowed_namespaces", ())),
        images=RuntimeImages(
            python=get("python_runtime_image", images.python),
            deno=get("deno_runtime_image", images.deno),
        ),
        limits=Limits(
            max_timeout_s=float(get("max_task_timeout", 86400.0)),
            min_ttl_s=int(catch_up),
        ),
        catch_up_window_s=catch_up,
        definition_grace_s=float(get("definition_grace", 30.0)),
        events=get("task_events", "on") == "on",
        namespaces=tuple(get("namespaces", ())),
        exclude_namespaces=frozenset(get("exclude_namespaces", ())),
        label_selector=get("label_selector", None) or None,
    )
    model = ModelConfig(
        default_environment=get("default_environment", "production"),
        app_grouping_window_s=float(get("app_grouping_window", 30.0)),
        rollout_timeout_s=float(get("rollout_timeout", 900.0)),
        failure_window_s=float(get("failure_window", 86400.0)),
        degraded_after_s=float(get("degraded_after", 60.0)),
    )
    return config, model


def http_app(launcher: Launcher) -> web.Application:
    registry = build_registry(launcher.collectors())

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render_self(registry), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, waiting = launcher.ready()
        if ok:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="waiting for: " + ", ".join(waiting) + "\n")

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def cmd_launcher(args: argparse.Namespace) -> int:
    return run_async(_run(args, cluster_access(args)))


async def _run(args: argparse.Namespace, access: ClusterAccess) -> int:
    """The ``daylight launcher`` process; returns when cancelled (SIGTERM/SIGINT)."""
    config, model_config = config_from(args)
    launcher = Launcher(access, config, model_config)
    listen = getattr(args, "listen", None) or "0.0.0.0:9401"
    runner = await serve(http_app(launcher), listen)
    log.info("launcher serving http://%s/metrics; watching %s", listen, access.description)
    try:
        await launcher.start()
        await asyncio.Event().wait()
    finally:
        await launcher.stop()
        await runner.cleanup()
    return 0
