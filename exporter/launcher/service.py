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

Idempotent without state: Job names are derived from the deployment attempt, so creating a
Job that exists answers 409 and means "launched already" (also across restarts; finished
Jobs are kept at least ``--catch-up-window``). After a restart, rollouts that started or
completed within that window are (re)considered; everything older is history.

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
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.checks import keptn
from exporter.checks.keptn import NamespaceGate
from exporter.evaluations.lifecycle import APP, LifecycleTracker, Transition
from exporter.evaluations.records import CheckCollector, CheckLedger, CheckStats
from exporter.evaluations.tasks import TaskResults
from exporter.events import keys
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.objects import Job, KeptnObject, Namespace, Workload
from exporter.events.timeutil import parse_rfc3339
from exporter.kube import resources
from exporter.kube.client import ApiClient, ApiError
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Disabled, Informer
from exporter.kube.resources import Resource
from exporter.launcher import naming
from exporter.launcher.render import (
    InvalidTask,
    Limits,
    Owner,
    Rendered,
    RuntimeImages,
    TaskContext,
    TaskRequest,
    render_invalid,
    render_task,
)
from exporter.launcher.writer import KubeWriter
from exporter.model.engine import DoraModel, ModelConfig

log = logging.getLogger("daylight.launcher")

WATCHED: tuple[Resource, ...] = (
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
SELECTABLE = {
    resources.REPLICASETS.plural,
    resources.CONTROLLER_REVISIONS.plural,
    resources.DEPLOYMENTS.plural,
    resources.STATEFULSETS.plural,
    resources.DAEMONSETS.plural,
}
OWN_JOBS = f"{keys.MANAGED_BY}={keys.LAUNCHER}"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 10


@dataclass(slots=True)
class LauncherConfig:
    allowed_namespaces: tuple[str, ...] = ()
    images: RuntimeImages = field(default_factory=RuntimeImages)
    limits: Limits = field(default_factory=Limits)
    catch_up_window_s: float = 300.0
    definition_grace_s: float = 30.0
    events: bool = True
    namespaces: tuple[str, ...] = ()  # watch scope (default: the cluster)
    exclude_namespaces: frozenset[str] = frozenset()
    label_selector: str | None = None
    watch_timeout_s: int = 300
    workers: int = 4
    tick_s: float = 1.0
    sweep_interval_s: float = 60.0
    retry_base_s: float = 2.0  # API trouble: retried after 2, 4, 8 ... (at most 60) seconds
    instance: str = field(
        default_factory=lambda: os.environ.get("HOSTNAME") or socket.gethostname()
    )


@dataclass(slots=True)
class LauncherStats:
    created: Counter[str] = field(default_factory=Counter)  # phase
    existing: Counter[str] = field(default_factory=Counter)  # phase (409: launched already)
    invalid: Counter[str] = field(default_factory=Counter)  # reason
    api_errors: Counter[str] = field(default_factory=Counter)  # HTTP code or "connection"
    events: Counter[str] = field(default_factory=Counter)  # created | existing | failed
    skipped: Counter[str] = field(default_factory=Counter)  # reason
    retries: int = 0
    swept: int = 0
    gave_up: int = 0


@dataclass(slots=True, eq=False)
class Launch:
    """One task of one deployment phase, until its Job (or failure record) exists."""

    transition: Transition
    task: str
    first_seen: float
    attempts: int = 0
    not_before: float = 0.0

    @property
    def request(self) -> TaskRequest:
        target = self.transition.target
        phase = self.transition.phase
        identity = (
            target.namespace,
            target.owner_kind,
            target.owner_name,
            target.owner_uid,
            target.app.app,
            target.workload,
            target.workload_version or target.app_version,
            target.revision,
            self.task,
            phase,
        )
        context = TaskContext(
            app_name=target.app.app,
            app_version=target.app_version,
            workload_name=target.workload,
            workload_version=target.workload_version,
            task_type=phase,
            object_type=target.object_type,
            traceparent=target.traceparent,
            metadata=target.metadata,
        )
        owner = Owner(
            target.owner_api_version, target.owner_kind, target.owner_name, target.owner_uid
        )
        return TaskRequest(
            namespace=target.namespace,
            task=self.task,
            phase=phase,
            context=context,
            owner=owner,
            identity=identity,
            workload_kind=target.owner_kind if target.object_type != APP else "",
            revision=target.revision,
        )


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
        self.informers: list[Informer] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.started = False
        self._client: ApiClient | None = None
        self._queue: asyncio.Queue[Launch] = asyncio.Queue()
        self._waiting: list[Launch] = []
        self._in_flight = 0
        self._events_disabled = ""
        self._job_informers: list[Informer] = []

    # ------------------------------------------------------------------ life

    def build_informers(self) -> list[Informer]:
        self._client = ApiClient(self.access, user_agent="daylight-launcher")
        informers = []
        for resource in WATCHED:
            scopes: tuple[str | None, ...] = (None,)
            if self.config.namespaces and resource.namespaced:
                scopes = tuple(self.config.namespaces)
            if resource is resources.JOBS:
                selector: str | None = OWN_JOBS
            elif resource.plural in SELECTABLE:
                selector = self.config.label_selector
            else:
                selector = None
            for namespace in scopes:
                informer = Informer(
                    self._client,
                    resource,
                    namespace=namespace,
                    label_selector=selector,
                    watch_timeout_s=self.config.watch_timeout_s,
                    excluded_namespaces=self.config.exclude_namespaces,
                    clock=self.clock,
                )
                informers.append(informer)
                if resource is resources.JOBS:
                    self._job_informers.append(informer)
        self.informers = informers
        return informers

    async def start(self) -> None:
        """Sync, consider what happened within the catch-up window, then watch and launch."""
        if not self.informers:
            self.build_informers()
        now = self.clock()
        for informer in self.informers:
            try:
                items = await informer.initial_list()
            except Disabled:
                items = []
            for obj in items:
                self._apply(ObjectEvent(now, EventType.ADDED, obj, initial=True))
        self.model.settle()
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
        for informer in self.informers:
            informer.sink = self._sink
            self.tasks.append(asyncio.create_task(informer.run(), name=f"watch {informer.name}"))
        for index in range(max(1, self.config.workers)):
            self.tasks.append(asyncio.create_task(self._work(), name=f"launch worker {index}"))
        self.tasks.append(asyncio.create_task(self._tick(), name="launcher clock"))
        self.tasks.append(asyncio.create_task(self._sweep_forever(), name="launcher sweep"))
        self.started = True

    def _scope(self) -> str:
        listed = ", ".join(sorted(self.gate.listed)) or "no listed namespaces"
        return f"{listed} and namespaces annotated {keys.NAMESPACE_ENABLED}=enabled"

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        await self.writer.close()
        if self._client is not None:
            await self._client.close()

    def ready(self) -> tuple[bool, list[str]]:
        waiting = [
            i.name for i in self.informers if not i.stats.synced and i.stats.disabled is None
        ]
        if not self.started:
            waiting = waiting or ["initial sync"]
        return (not waiting, waiting)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._waiting) + self._in_flight

    # ----------------------------------------------------------------- events

    def _sink(self, event_type: str, obj: Any, initial: bool) -> None:
        self._apply(ObjectEvent(self.clock(), EventType(event_type), obj, initial))

    def _apply(self, event: ObjectEvent) -> None:
        obj = event.obj
        deleted = event.type == "DELETED"
        if isinstance(obj, KeptnObject):
            key = (obj.metadata.namespace, obj.metadata.name)
            if deleted:
                self.definitions.pop(key, None)
            else:
                self.definitions[key] = obj
            return
        self.model.apply(event)
        if isinstance(obj, Workload):
            for transition in self.tracker.on_workload(
                obj.metadata.uid, event.time, initial=event.initial
            ):
                self._enqueue(transition)
        elif isinstance(obj, Job):
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
            self._queue.put_nowait(Launch(transition, task, transition.at))

    # ----------------------------------------------------------------- workers

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            now = self.clock()
            try:
                self.model.advance(now)
                for transition in self.tracker.tick(now):
                    self._enqueue(transition)
            except Exception:
                log.exception("launcher tick failed")
            due = [launch for launch in self._waiting if launch.not_before <= now]
            if due:
                self._waiting = [launch for launch in self._waiting if launch.not_before > now]
                for launch in due:
                    self._queue.put_nowait(launch)

    async def _work(self) -> None:
        while True:
            launch = await self._queue.get()
            self._in_flight += 1
            try:
                await self._launch(launch)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad launch must not stop the worker
                log.exception("launching task %s failed unexpectedly", launch.task)
            finally:
                self._in_flight -= 1

    def _later(self, launch: Launch, delay_s: float) -> None:
        launch.not_before = self.clock() + delay_s
        self._waiting.append(launch)

    async def _launch(self, launch: Launch) -> None:
        """Create the Job of one task (or record why it cannot run). Retries API trouble."""
        request = launch.request
        namespace, task = request.namespace, launch.task
        definition = self.definitions.get((namespace, task))
        now = self.clock()
        if definition is None:
            if now - launch.first_seen < self.config.definition_grace_s:
                self._later(launch, 1.0)  # the definition may be applied with the workload
                return
            await self._invalid(
                launch, request, "unknown_definition", f"no KeptnTaskDefinition {namespace}/{task}"
            )
            return
        try:
            rendered = render_task(
                request,
                definition,
                lambda name: self.definitions.get((namespace, name)),
                self.config.images,
                self.config.limits,
            )
            await self._check_references(namespace, rendered)
        except InvalidTask as exc:
            await self._invalid(launch, request, exc.reason, exc.message)
            return
        except _Retry as retry:
            self._retry(launch, retry.error, final=retry.final)
            return
        try:
            if rendered.config_map is not None:
                await self._create(
                    f"/api/v1/namespaces/{namespace}/configmaps", rendered.config_map
                )
            created = await self._create(
                f"/apis/batch/v1/namespaces/{namespace}/jobs", rendered.job
            )
        except _Retry as retry:
            self._retry(launch, retry.error, final=retry.final)
            return
        except InvalidTask as exc:
            await self._invalid(launch, request, exc.reason, exc.message)
            return
        phase = request.phase
        target = launch.transition.target
        if created:
            self.stats.created[phase] += 1
            log.info(
                "launched %s task %s for %s %s/%s version %s: job %s",
                phase,
                task,
                target.owner_kind,
                namespace,
                target.owner_name,
                target.workload_version or target.app_version,
                request.job_name,
            )
            await self._event(
                launch,
                "Normal",
                "TaskLaunched",
                f"{phase}-deployment task {task} started as Job {request.job_name}",
            )
        else:
            self.stats.existing[phase] += 1
            log.debug(
                "%s task %s for %s/%s already launched (job %s)",
                phase,
                task,
                namespace,
                target.owner_name,
                request.job_name,
            )

    async def _check_references(self, namespace: str, rendered: Rendered) -> None:
        """A missing ConfigMap or Secret fails the task now rather than leaving a pod stuck."""
        if rendered.config_map_ref:
            exists = await self.writer.exists(
                f"/api/v1/namespaces/{namespace}/configmaps/{rendered.config_map_ref}"
            )
            if exists is False:
                raise InvalidTask(
                    "missing_configmap",
                    f"ConfigMap {namespace}/{rendered.config_map_ref} (configMapRef) "
                    "does not exist",
                )
        if rendered.secret:
            # metadata only, and only if RBAC lets us: otherwise the Job's pod reports it
            exists = await self.writer.exists(
                f"/api/v1/namespaces/{namespace}/secrets/{rendered.secret}"
            )
            if exists is False:
                raise InvalidTask(
                    "missing_secret",
                    f"Secret {namespace}/{rendered.secret} (secureParameters) does not exist",
                )

    async def _create(self, path: str, body: dict[str, Any]) -> bool:
        """True when created, False when it existed already (409)."""
        try:
            await self.writer.create(path, body)
            return True
        except ApiError as exc:
            if exc.code == 409:
                return False
            self.stats.api_errors[str(exc.code)] += 1
            if exc.code in (400, 422):
                raise InvalidTask(
                    "invalid_job", f"the API server rejected the Job: {exc.message}"[:500]
                ) from None
            if exc.code in (403, 404):  # RBAC or a vanished namespace: waiting will not help
                raise _Retry(str(exc), final=True) from None
            raise _Retry(str(exc)) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.api_errors["connection"] += 1
            raise _Retry(f"{type(exc).__name__}: {exc}") from None

    def _retry(self, launch: Launch, error: str, *, final: bool = False) -> None:
        launch.attempts += 1
        target = launch.transition.target
        if final or launch.attempts >= MAX_ATTEMPTS:
            self.stats.gave_up += 1
            log.error(
                "giving up on %s task %s for %s/%s after %d attempt(s): %s%s",
                launch.transition.phase,
                launch.task,
                target.namespace,
                target.owner_name,
                launch.attempts,
                error,
                " (does the launcher's Role allow creating Jobs and ConfigMaps here?)"
                if "403" in error
                else "",
            )
            return
        self.stats.retries += 1
        delay = min(60.0, self.config.retry_base_s * 2.0 ** (launch.attempts - 1))
        log.warning(
            "%s task %s for %s/%s: %s; retrying in %.0fs",
            launch.transition.phase,
            launch.task,
            target.namespace,
            target.owner_name,
            error,
            delay,
        )
        self._later(launch, delay)

    async def _invalid(
        self, launch: Launch, request: TaskRequest, reason: str, message: str
    ) -> None:
        """The task cannot run: log, count, record it as a failed task (a suspended Job the
        exporter reads) and tell the workload's owner with a Warning Event."""
        target = launch.transition.target
        try:
            created = await self._create(
                f"/apis/batch/v1/namespaces/{request.namespace}/jobs",
                render_invalid(request, reason, message),
            )
        except _Retry as retry:
            self._retry(launch, retry.error, final=retry.final)
            return
        except InvalidTask as exc:
            log.error("cannot record the failure of task %s: %s", launch.task, exc)
            return
        if not created:
            return  # recorded by an earlier run
        self.stats.invalid[reason] += 1
        log.warning(
            "%s task %s for %s %s/%s failed before it could run (%s): %s",
            request.phase,
            launch.task,
            target.owner_kind,
            request.namespace,
            target.owner_name,
            reason,
            message,
        )
        await self._event(
            launch,
            "Warning",
            "TaskFailed",
            f"{request.phase}-deployment task {launch.task} cannot run ({reason}): {message}",
        )

    # ------------------------------------------------------------------ Events

    async def _event(self, launch: Launch, kind: str, reason: str, note: str) -> None:
        """An events.k8s.io/v1 Event on the workload (or KeptnApp); best effort."""
        if not self.config.events or self._events_disabled:
            return
        target = launch.transition.target
        request = launch.request
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": naming.event_name(target.owner_name, (request.job_name, reason)),
                "namespace": target.namespace,
                "labels": {keys.MANAGED_BY: keys.LAUNCHER},
            },
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "reportingController": "daylight.dev/launcher",
            "reportingInstance": self.config.instance[:128],
            "action": "LaunchTask",
            "reason": reason,
            "type": kind,
            "note": note[:1024],
            "regarding": {
                "apiVersion": target.owner_api_version,
                "kind": target.owner_kind,
                "name": target.owner_name,
                "namespace": target.namespace,
                "uid": target.owner_uid,
            },
            "related": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": request.job_name,
                "namespace": target.namespace,
            },
        }
        try:
            await self.writer.create(
                f"/apis/events.k8s.io/v1/namespaces/{target.namespace}/events", body
            )
            self.stats.events["created"] += 1
        except ApiError as exc:
            if exc.code == 409:
                self.stats.events["existing"] += 1
                return
            self.stats.events["failed"] += 1
            if exc.code in (403, 404):
                self._events_disabled = f"HTTP {exc.code}"
                log.warning(
                    "Kubernetes Events disabled (%s: %s); grant create on "
                    "events.events.k8s.io to enable them",
                    exc.code,
                    exc.message,
                )
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.stats.events["failed"] += 1

    # ------------------------------------------------------------------- sweep

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping task failure records failed")

    async def sweep(self) -> int:
        """Delete records of tasks that could not run once they are older than the
        catch-up window (and an hour): they were read by then, and no restart needs them."""
        keep_s = max(self.config.catch_up_window_s, 3600.0)
        now = self.clock()
        deleted = 0
        for informer in self._job_informers:
            for job in list(informer.cache.values()):
                if not isinstance(job, Job):
                    continue
                meta = job.metadata
                if meta.labels.get(keys.RESULT_LABEL) != "invalid":
                    continue
                created = parse_rfc3339(meta.creation_timestamp)
                if created is None or now - created < keep_s or meta.deletion_timestamp:
                    continue
                path = f"/apis/batch/v1/namespaces/{meta.namespace}/jobs/{meta.name}"
                try:
                    await self.writer.delete(path, resource_version=meta.resource_version)
                    deleted += 1
                except ApiError as exc:
                    if exc.code not in (404, 409):
                        self.stats.api_errors[str(exc.code)] += 1
                except (aiohttp.ClientError, TimeoutError, OSError):
                    self.stats.api_errors["connection"] += 1
        self.stats.swept += deleted
        return deleted

    # ------------------------------------------------------------------ metrics

    def collector(self) -> LauncherCollector:
        return LauncherCollector(self)


class _Retry(Exception):
    def __init__(self, error: str, *, final: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.final = final


class LauncherCollector(Collector):
    """The launcher's self-metrics (``daylight_launcher_*``, ``daylight_tasks_total``...)."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        launcher = self.launcher
        stats = launcher.stats
        info = GaugeMetricFamily(
            "daylight_build_info", "Daylight version and mode.", labels=["version", "mode"]
        )
        info.add_metric([__version__, "launcher"], 1)
        yield info
        created = CounterMetricFamily(
            "daylight_launcher_jobs_created", "Task Jobs created, by phase.", labels=["phase"]
        )
        existing = CounterMetricFamily(
            "daylight_launcher_jobs_existing",
            "Task Jobs found already created (409: launched before, e.g. before a restart).",
            labels=["phase"],
        )
        for phase in keptn.PHASES:
            created.add_metric([phase], stats.created[phase])
            existing.add_metric([phase], stats.existing[phase])
        yield created
        yield existing
        yield _counts(
            "daylight_launcher_invalid_tasks",
            "Tasks that could not run (recorded as failed), by reason.",
            "reason",
            stats.invalid,
        )
        yield _counts(
            "daylight_launcher_api_errors",
            "API errors of launcher writes.",
            "code",
            stats.api_errors,
        )
        yield _counts(
            "daylight_launcher_events", "Kubernetes Events sent, by result.", "result", stats.events
        )
        yield _counts(
            "daylight_launcher_skipped", "Tasks not launched, by reason.", "reason", stats.skipped
        )
        yield CounterMetricFamily(
            "daylight_launcher_retries", "Launch attempts retried.", value=stats.retries
        )
        yield CounterMetricFamily(
            "daylight_launcher_gave_up",
            "Launches abandoned after repeated API errors.",
            value=stats.gave_up,
        )
        yield GaugeMetricFamily(
            "daylight_launcher_pending", "Launches queued or in progress.", value=launcher.pending
        )
        yield from _informer_metrics(launcher.informers)
        yield from CheckCollector(launcher.check_stats, evaluations=False).collect()


def _counts(name: str, doc: str, label: str, counts: Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(counts.items()):
        family.add_metric([key], value)
    return family


def _informer_metrics(informers: list[Informer]) -> Iterator[Metric]:
    events = CounterMetricFamily(
        "daylight_watch_events", "Watch events received.", labels=["resource", "type"]
    )
    restarts = CounterMetricFamily(
        "daylight_watch_restarts", "Watch restarts by reason.", labels=["resource", "reason"]
    )
    synced = GaugeMetricFamily(
        "daylight_informer_synced",
        "1 when the resource is listed and watched.",
        labels=["resource"],
    )
    for informer in informers:
        for kind, count in sorted(informer.stats.events.items()):
            events.add_metric([informer.name, kind], count)
        for reason, count in sorted(informer.stats.restarts.items()):
            restarts.add_metric([informer.name, reason], count)
        synced.add_metric([informer.name], 1 if informer.stats.synced else 0)
    yield from (events, restarts, synced)


__all__ = ["Launch", "Launcher", "LauncherCollector", "LauncherConfig", "LauncherStats"]
