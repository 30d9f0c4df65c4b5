"""When checks are due: "a new version starts deploying" and "its deployment completed".

Both meanings are the model's own (design §3), read from the facts ``DoraModel.apply``
returns, so the launcher, the evaluations and the DORA ledger never disagree about what a
deployment is: a template change to a new fingerprint starts one (a restart does not), and
it completes like ``kubectl rollout status``.

Pure bookkeeping, no I/O: :meth:`LifecycleTracker.on_event` takes each event with the facts
the model derived from it and returns the :class:`Transition` s they revealed. The pre phase
of a workload deployment waits until its revision number is known (a second after the
template change for a Deployment; until the rollout resumes for a paused one), because the
revision tells a rollback to an earlier version apart from the first rollout of that
version: it is part of every deterministic Job name. App-level checks (a KeptnApp's lists)
run when the first workload of a new KeptnApp version starts and when the whole app
deployment succeeded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter.checks.keptn import NO_CHECKS, Checks, app_checks, workload_checks, workload_metadata
from exporter.events import tracecontext
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.objects import Workload
from exporter.model import rollout_status
from exporter.model.engine import DoraModel
from exporter.model.facts import Fact, RolloutFinished, RolloutStarted, WorkloadListed
from exporter.model.records import AppDeployment, AppKey, Outcome, WorkloadDeployment, WorkloadKey

WORKLOAD = "Workload"
APP = "App"
_API_VERSION = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}
_MAX_REMEMBERED = 20_000


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """What a check runs for: one workload deployment, or one KeptnApp version."""

    object_type: str  # "Workload" | "App"
    app: AppKey
    app_version: str
    workload: str  # the workload's name (identity), "" for the app
    workload_version: str
    owner_api_version: str
    owner_kind: str
    owner_name: str
    owner_uid: str
    revision: str  # workload revision, or the KeptnApp's spec.revision
    checks: Checks
    metadata: tuple[tuple[str, str], ...] = ()
    workload_key: WorkloadKey | None = None
    group: AppDeployment | None = None
    traceparent: str = ""

    @property
    def namespace(self) -> str:
        return self.app.namespace


@dataclass(frozen=True, slots=True, eq=False)
class Transition:
    phase: str  # "pre" | "post"
    target: Target
    at: float
    started_at: float  # when the deployment started (catch-up windows compare against it)
    initial: bool = False  # found at start-up rather than seen happening


@dataclass(slots=True)
class _State:
    workload: Workload | None = None  # the latest object: its annotations declare the checks
    current: WorkloadDeployment | None = None  # the deployed rollout
    pre_for: WorkloadDeployment | None = None  # pre phase handled (emitted or skipped)
    post_for: WorkloadDeployment | None = None
    pending: WorkloadDeployment | None = None  # started, waiting for its revision
    pending_since: float = 0.0


@dataclass(slots=True)
class LifecycleTracker:
    model: DoraModel  # read through its public queries only (KeptnApps)
    revision_wait_s: float = 60.0
    _states: dict[WorkloadKey, _State] = field(default_factory=dict)
    _apps: OrderedDict[tuple[str, str, str, str, str], None] = field(default_factory=OrderedDict)

    # ------------------------------------------------------------------ events

    def on_event(self, event: ObjectEvent, facts: Sequence[Fact]) -> list[Transition]:
        """Call with every event and the facts the model derived from it."""
        obj = event.obj
        if not isinstance(obj, Workload) or obj.kind not in rollout_status.WORKLOAD_KINDS:
            return []
        key = WorkloadKey(obj.metadata.namespace, obj.kind, obj.metadata.name)
        if event.type == EventType.DELETED:
            self._states.pop(key, None)
            return []
        state = self._states.setdefault(key, _State())
        state.workload = obj
        if event.initial:
            for fact in facts:
                if isinstance(fact, WorkloadListed) and fact.key == key:
                    self._listed(state, fact)
            return []
        now = event.time
        for fact in facts:
            if isinstance(fact, RolloutStarted) and fact.deployment.key == key:
                wd = fact.deployment
                if not wd.history and wd is not state.pre_for and wd is not state.pending:
                    state.pending, state.pending_since = wd, now
            elif (
                isinstance(fact, RolloutFinished)
                and fact.deployment.key == key
                and fact.deployment.outcome is Outcome.SUCCEEDED
            ):
                state.current = fact.deployment
        out = self._resolve_pending(state, now)
        current = _live(state.current)
        if (
            current is not None
            and current.outcome is Outcome.SUCCEEDED
            and current is state.pre_for
            and current is not state.post_for
        ):
            state.post_for = current
            out += self._workload_transition(state, current, "post", now)
            out += self._app_transition(current, "post", now)
        return out

    def _listed(self, state: _State, fact: WorkloadListed) -> None:
        # history and rollouts in flight at start-up are not "seen starting"; the launcher
        # decides about them with catch_up()
        state.current = fact.current
        state.pre_for = _live(fact.active)
        state.post_for = fact.current  # often rebuilt from history: catch_up may need it
        for wd in (state.pre_for, state.post_for):
            if wd is not None and wd.group is not None:
                self._remember_app(wd.group, "pre")
                if wd.group.outcome is Outcome.SUCCEEDED:
                    self._remember_app(wd.group, "post")

    def tick(self, now: float) -> list[Transition]:
        """Pre phases whose revision never showed up within ``revision_wait_s``."""
        out: list[Transition] = []
        for state in list(self._states.values()):
            if state.pending is not None:
                out += self._resolve_pending(state, now)
        return out

    def catch_up(self, now: float, window_s: float) -> list[Transition]:
        """After the start-up sync: rollouts that started, or completed, within the window
        (the launcher was down or restarting); marked ``initial``."""
        out: list[Transition] = []
        for state in self._states.values():
            active, current = state.pre_for, state.post_for
            if active is not None and now - active.started_at <= window_s:
                out += self._workload_transition(state, active, "pre", now, initial=True)
                out += self._app_transition(active, "pre", now, initial=True, force=True)
            if current is not None and current.outcome is Outcome.SUCCEEDED:
                finished = current.finished_at or current.started_at
                if now - finished <= window_s:
                    out += self._workload_transition(state, current, "post", now, initial=True)
                    out += self._app_transition(current, "post", now, initial=True, force=True)
        return out

    # --------------------------------------------------------------- internals

    def _resolve_pending(self, state: _State, now: float) -> list[Transition]:
        wd = state.pending
        if wd is None:
            return []
        if wd.outcome is Outcome.PROGRESSING:
            if not wd.revision and now - state.pending_since < self.revision_wait_s:
                return []
        elif wd.outcome is not Outcome.SUCCEEDED:
            state.pending = None  # superseded or failed before its pre phase was due
            return []
        state.pending = None
        state.pre_for = wd
        return self._workload_transition(state, wd, "pre", now) + self._app_transition(
            wd, "pre", now
        )

    def _workload_transition(
        self,
        state: _State,
        wd: WorkloadDeployment,
        phase: str,
        now: float,
        *,
        initial: bool = False,
    ) -> list[Transition]:
        workload = state.workload
        if workload is None:
            return []
        checks = workload_checks(workload)
        if not (checks.tasks(phase) or checks.evaluations(phase)):
            return []
        group = wd.group
        app_version = wd.keptn_app[0] if wd.keptn_app and wd.keptn_app[0] else wd.version
        key = wd.key
        target = Target(
            object_type=WORKLOAD,
            app=wd.app,
            app_version=app_version,
            workload=wd.workload,
            workload_version=wd.version,
            owner_api_version=_API_VERSION.get(key.kind, "apps/v1"),
            owner_kind=key.kind,
            owner_name=key.name,
            owner_uid=workload.metadata.uid,
            revision=wd.revision,
            checks=checks,
            metadata=tuple(sorted(workload_metadata(workload).items())),
            workload_key=key,
            group=group,
            traceparent=_traceparent(group, ("workload", key.namespace, key.kind, key.name)),
        )
        return [Transition(phase, target, now, wd.started_at, initial)]

    def _app_transition(
        self,
        wd: WorkloadDeployment,
        phase: str,
        now: float,
        *,
        initial: bool = False,
        force: bool = False,
    ) -> list[Transition]:
        group = wd.group
        if group is None or wd.keptn_app is None:
            return []
        if phase == "post" and group.outcome is not Outcome.SUCCEEDED:
            return []
        app = self.model.keptn_app(wd.app.namespace, wd.app.app)
        if app is None:
            return []
        if not self._remember_app(group, phase) and not force:
            return []
        checks = app_checks(app)
        if not (checks.tasks(phase) or checks.evaluations(phase)):
            return []
        version, revision = wd.keptn_app
        target = Target(
            object_type=APP,
            app=wd.app,
            app_version=version,
            workload="",
            workload_version="",
            owner_api_version="lifecycle.keptn.sh/v1",
            owner_kind="KeptnApp",
            owner_name=app.metadata.name,
            owner_uid=app.metadata.uid,
            revision=str(revision),
            checks=checks if checks else NO_CHECKS,
            group=group,
            traceparent=_traceparent(group, ("app",)),
        )
        return [Transition(phase, target, now, group.started_at, initial)]

    def _remember_app(self, group: AppDeployment, phase: str) -> bool:
        """True the first time this (KeptnApp version, revision, phase) is seen."""
        if group.keptn_app is None:
            return False
        version, revision = group.keptn_app
        key = (group.app.namespace, group.app.app, version, str(revision), phase)
        if key in self._apps:
            return False
        self._apps[key] = None
        while len(self._apps) > _MAX_REMEMBERED:
            self._apps.popitem(last=False)
        return True


def _live(wd: WorkloadDeployment | None) -> WorkloadDeployment | None:
    return None if wd is None or wd.history else wd


def _traceparent(group: AppDeployment | None, parent: tuple[str, ...]) -> str:
    """W3C trace context of the span the checks hang under (the deployment's trace)."""
    if group is None:
        return ""
    return tracecontext.traceparent(group.identity, *parent)
