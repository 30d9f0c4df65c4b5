"""Launching task Jobs: a queue of (deployment phase, task) pairs, worked off by a few
workers, each launch retried on API trouble and recorded as a failed task when it cannot
run at all.

Idempotent without state: Job names are derived from the deployment attempt, so creating a
Job that exists answers 409 and means "launched already" (also across restarts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from exporter.checks.lifecycle import APP, Transition
from exporter.events import keys
from exporter.events.objects import Job, KeptnObject
from exporter.events.timeutil import parse_rfc3339
from exporter.kube.client import ApiError
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

log = logging.getLogger("daylight.launcher")

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


class _Retry(Exception):
    def __init__(self, error: str, *, final: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.final = final


class TaskEvents:
    """Kubernetes Events about tasks, on the workload (or KeptnApp); best effort: the
    first 403/404 turns them off (no RBAC for Events is a supported set-up)."""

    def __init__(
        self,
        *,
        config: LauncherConfig,
        writer: KubeWriter,
        stats: LauncherStats,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.writer = writer
        self.stats = stats
        self.clock = clock
        self._events_disabled = ""

    async def send(self, launch: Launch, kind: str, reason: str, note: str) -> None:
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


class JobLauncher:
    """The queue of launches and what each one does against the API server."""

    def __init__(
        self,
        *,
        config: LauncherConfig,
        writer: KubeWriter,
        definitions: dict[tuple[str, str], KeptnObject],
        stats: LauncherStats,
        clock: Callable[[], float],
        jobs: Callable[[], Iterable[Job]],
    ) -> None:
        self.config = config
        self.writer = writer
        self.definitions = definitions
        self.stats = stats
        self.clock = clock
        self.jobs = jobs  # the launcher's own Jobs, as watched (for the sweep)
        self._queue: asyncio.Queue[Launch] = asyncio.Queue()
        self._waiting: list[Launch] = []
        self._in_flight = 0
        self.events = TaskEvents(config=config, writer=writer, stats=stats, clock=clock)

    def enqueue(self, launch: Launch) -> None:
        self._queue.put_nowait(launch)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._waiting) + self._in_flight

    def release_due(self, now: float) -> None:
        """Launches whose retry delay passed go back into the queue."""
        due = [launch for launch in self._waiting if launch.not_before <= now]
        if due:
            self._waiting = [launch for launch in self._waiting if launch.not_before > now]
            for launch in due:
                self._queue.put_nowait(launch)

    async def work(self) -> None:
        """One worker: launches from the queue until cancelled."""
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
            await self.events.send(
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
        await self.events.send(
            launch,
            "Warning",
            "TaskFailed",
            f"{request.phase}-deployment task {launch.task} cannot run ({reason}): {message}",
        )

    # ------------------------------------------------------------------- sweep

    async def sweep_forever(self) -> None:
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
        for job in list(self.jobs()):
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
