"""The DORA model: turns object events into workload and app deployments (DESIGN §3).

Pure and deterministic: every event carries its time, and nothing here reads a clock or does
I/O, so a live run and a replay of the same events build the same ledger. Each app keeps a
``revision`` number that changes whenever anything about it changes; outputs use it to know
which pre-rendered metric lines are stale.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from exporter.events.envelope import ObjectEvent
from exporter.events.external import (
    DEFAULT_APP_LABELS,
    Alert,
    Change,
    InvalidInput,
    parse_alerts,
    parse_change,
)
from exporter.events.keys import DEPLOYMENT_REVISION, DEPLOYMENT_REVISION_HISTORY, ENVIRONMENT_LABEL
from exporter.events.names import valid_name
from exporter.events.objects import (
    ControllerRevision,
    KeptnApp,
    Namespace,
    Pod,
    PodTemplate,
    ReplicaSet,
    Workload,
)
from exporter.events.timeutil import MIN_PLAUSIBLE, parse_commit_time, parse_rfc3339
from exporter.model import rollout
from exporter.model.failures import FailureTracker, OpenFailure
from exporter.model.fingerprint import (
    controller_revision_template,
    restart_marker,
    template_fingerprint,
)
from exporter.model.identity import Identity, Sources, resolve
from exporter.model.records import (
    AppDeployment,
    AppKey,
    Outcome,
    WorkloadDeployment,
    WorkloadKey,
)
from exporter.model.stats import ObservedStats

CREATION_SLACK_S = 2.0
REPLACED_AFTER_FAILURE = "replaced_after_failure"  # creationTimestamp has one-second resolution

_template_decoder = msgspec.json.Decoder(PodTemplate)


@dataclass(slots=True)
class ModelConfig:
    default_environment: str = "production"
    app_grouping_window_s: float = 30.0
    rollout_timeout_s: float = 900.0
    failure_window_s: float = 86400.0
    degraded_after_s: float = 60.0
    alert_app_labels: tuple[str, ...] = DEFAULT_APP_LABELS


@dataclass(slots=True, eq=False)
class Revision:
    """What history needs of a ReplicaSet or ControllerRevision, without its raw template."""

    name: str
    created: float | None
    numbers: tuple[int, ...]
    fingerprint: str
    template: PodTemplate | None  # only until the owner's history has been rebuilt


@dataclass(slots=True, eq=False)
class TrackedWorkload:
    uid: str
    key: WorkloadKey
    marker: str = ""
    fingerprint: str = ""
    identity: Identity | None = None
    deployed: set[str] = field(default_factory=set)
    current: WorkloadDeployment | None = None
    active: WorkloadDeployment | None = None
    last_finished: WorkloadDeployment | None = None
    last: Workload | None = None
    info_app: AppKey | None = None
    unavailable_since: float | None = None
    crashing: set[str] = field(default_factory=set)
    stale_revision: str | None = None


@dataclass(slots=True, eq=False)
class AppLedger:
    key: AppKey
    history_workloads: list[WorkloadDeployment] = field(default_factory=list)
    history_groups: list[AppDeployment] = field(default_factory=list)
    live_groups: list[AppDeployment] = field(default_factory=list)
    history_dirty: bool = False
    revision: int = 0
    current: dict[WorkloadKey, tuple[str, str]] = field(default_factory=dict)
    """Deployed (workload name, version) per live workload: the info series."""

    @property
    def deployments(self) -> list[AppDeployment]:
        """Finished or in-progress app deployments in start order (superseded ones left out)."""
        merged = [g for g in self.history_groups + self.live_groups if g.active_workloads]
        merged.sort(key=lambda g: g.started_at)
        return merged


class DoraModel:
    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig()
        self.environments: dict[str, str] = {}
        self.revisions: dict[str, dict[str, Revision]] = {}
        self.workloads: dict[str, TrackedWorkload] = {}
        self.keptn_apps_by_namespace: dict[str, dict[str, KeptnApp]] = {}
        self.apps: dict[AppKey, AppLedger] = {}
        self.stats = ObservedStats()
        self.observation_start: float | None = None
        self.now: float = 0.0
        self.revision = 0
        self._timers: list[tuple[float, int, str, object]] = []
        self._timer_seq = 0
        self._fingerprints: dict[str, str] = {}
        self._rs_owner: dict[str, str] = {}
        self._dirty_history: set[AppKey] = set()
        self._persisted: dict[WorkloadKey, list[WorkloadDeployment]] = {}
        self.failures = FailureTracker(self.config.failure_window_s, self.stats, self._touch)
        self.pending_changes: deque[tuple[float, Change]] = deque(maxlen=10_000)
        self.firing_alerts: dict[str, AppKey] = {}

    # ------------------------------------------------------------------ input

    def apply(self, event: ObjectEvent) -> None:
        if self.observation_start is None:
            self.observation_start = event.time
        self.advance(event.time)
        obj = event.obj
        deleted = event.type == "DELETED"
        if isinstance(obj, Workload):
            if obj.kind in rollout.WORKLOAD_KINDS:
                self._on_workload(obj, event, deleted)
        elif isinstance(obj, Pod):
            self._on_pod(obj, event.time, deleted)
        elif isinstance(obj, ReplicaSet | ControllerRevision):
            self._on_revision(obj, deleted)
        elif isinstance(obj, Namespace):
            self._on_namespace(obj, deleted)
        elif isinstance(obj, KeptnApp):
            apps = self.keptn_apps_by_namespace.setdefault(obj.metadata.namespace, {})
            if deleted:
                apps.pop(obj.metadata.name, None)
            else:
                apps[obj.metadata.name] = obj

    def apply_all(self, events: Iterable[ObjectEvent]) -> None:
        for event in events:
            self.apply(event)

    def advance(self, now: float) -> None:
        """Move model time forward and fire what was due: rollout timeouts, degradation."""
        if now < self.now:
            now = self.now  # out-of-order delivery never moves time backwards
        self.now = now
        while self._timers and self._timers[0][0] <= now:
            due, _, kind, payload = heapq.heappop(self._timers)
            if kind == "rollout_timeout" and isinstance(payload, WorkloadDeployment):
                self._rollout_timed_out(payload, due)
            elif kind == "degraded" and isinstance(payload, tuple):
                self._degradation_due(payload[0], payload[1], due)
            elif kind == "close_group" and isinstance(payload, AppDeployment):
                self._close_group(payload)
        self.settle()

    def _schedule(self, at: float, kind: str, payload: object) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (at, self._timer_seq, kind, payload))

    def settle(self) -> None:
        """Regroup apps whose history changed (history arrives per workload, out of order)."""
        while self._dirty_history:
            key = self._dirty_history.pop()
            ledger = self.apps.get(key)
            if ledger is not None and ledger.history_dirty:
                self._regroup_history(ledger)

    def _on_revision(self, obj: ReplicaSet | ControllerRevision, deleted: bool) -> None:
        owner = next((o for o in obj.metadata.owner_references if o.controller), None)
        if owner is None:
            return
        uid = obj.metadata.uid
        bucket = self.revisions.setdefault(owner.uid, {})
        if deleted:
            bucket.pop(uid, None)
            if not bucket:
                self.revisions.pop(owner.uid, None)
            self._rs_owner.pop(uid, None)
            return
        existing = bucket.get(uid)
        if isinstance(obj, ReplicaSet):
            numbers = tuple(_revisions(obj.metadata.annotations))
            if existing is not None:  # a reused ReplicaSet only changes its revision numbers
                existing.numbers = numbers
                return
            raw = bytes(obj.spec.template)
            self._rs_owner[uid] = owner.uid
        else:
            numbers = (obj.revision,) if obj.revision > 0 else ()
            if existing is not None:
                existing.numbers = numbers
                return
            raw = controller_revision_template(bytes(obj.data))
        # the template is only needed if the owner's history is still to be rebuilt
        template = None if owner.uid in self.workloads else _slim_template(raw)
        bucket[uid] = Revision(
            obj.metadata.name,
            parse_rfc3339(obj.metadata.creation_timestamp),
            numbers,
            template_fingerprint(raw),
            template,
        )

    # ------------------------------------------------------------- namespaces

    def _on_namespace(self, ns: Namespace, deleted: bool) -> None:
        name = ns.metadata.name
        if deleted:
            self.environments.pop(name, None)
            return
        env = ns.metadata.labels.get(ENVIRONMENT_LABEL)
        if env is not None and not valid_name(env):
            self.stats.invalid["environment_label"] += 1
            env = None
        if env is None:
            self.environments.pop(name, None)
        else:
            self.environments[name] = env

    def environment(self, namespace: str) -> str:
        return self.environments.get(namespace, self.config.default_environment)

    # -------------------------------------------------------------- workloads

    def _fingerprint(self, raw: bytes) -> tuple[str, str]:
        marker = restart_marker(raw)
        fp = self._fingerprints.get(marker)
        if fp is None:
            if len(self._fingerprints) > 50_000:
                self._fingerprints.clear()
            fp = self._fingerprints[marker] = template_fingerprint(raw)
        return marker, fp

    def _identity(self, workload: Workload, raw: bytes, fp: str) -> Identity:
        try:
            template = _template_decoder.decode(raw)
        except msgspec.DecodeError:
            template = PodTemplate()
            self.stats.invalid["pod_template"] += 1
        return self._identity_of(workload, template, fp)

    def _identity_of(self, workload: Workload, template: PodTemplate, fp: str) -> Identity:
        meta = workload.metadata
        sources = Sources(
            template.metadata.annotations,
            template.metadata.labels,
            meta.annotations,
            meta.labels,
        )
        identity = resolve(meta.name, sources, template.spec.containers, fp)
        for reason in identity.invalid:
            self.stats.invalid[reason] += 1
        if not identity.app_from_label:
            keptn = self._keptn_app_listing(meta.namespace, identity.workload)
            if keptn is not None:
                identity = Identity(
                    identity.workload,
                    keptn.metadata.name,
                    identity.version,
                    True,
                    identity.commit_time,
                    identity.commit_sha,
                    identity.traceparent,
                    identity.invalid,
                )
        return identity

    @property
    def keptn_apps(self) -> dict[tuple[str, str], KeptnApp]:
        """KeptnApps by (namespace, name)."""
        return {
            (namespace, name): app
            for namespace, apps in self.keptn_apps_by_namespace.items()
            for name, app in apps.items()
        }

    def _keptn_app_listing(self, namespace: str, workload: str) -> KeptnApp | None:
        """The KeptnApp (first by name) that lists ``workload``; looked up for every revision."""
        apps = self.keptn_apps_by_namespace.get(namespace)
        if not apps:
            return None
        for name in sorted(apps):
            if any(w.name == workload for w in apps[name].spec.workloads):
                return apps[name]
        return None

    def _app_key(self, namespace: str, identity: Identity) -> AppKey:
        return AppKey(self.environment(namespace), namespace, identity.app)

    def _ledger(self, key: AppKey) -> AppLedger:
        ledger = self.apps.get(key)
        if ledger is None:
            ledger = self.apps[key] = AppLedger(key)
        return ledger

    def _touch(self, key: AppKey) -> None:
        self.revision += 1
        self._ledger(key).revision = self.revision

    def _on_workload(self, workload: Workload, event: ObjectEvent, deleted: bool) -> None:
        meta = workload.metadata
        tracked = self.workloads.get(meta.uid)
        if deleted:
            if tracked is not None:
                if tracked.active is not None:
                    self._supersede(tracked.active)
                self._set_current(tracked, None)
                del self.workloads[meta.uid]
            return
        raw = bytes(workload.spec.template)
        marker, fp = self._fingerprint(raw)
        if tracked is None:
            tracked = TrackedWorkload(
                meta.uid, WorkloadKey(meta.namespace, workload.kind, meta.name)
            )
            self.workloads[meta.uid] = tracked
            tracked.last = workload
            self._first_sight(tracked, workload, event, raw, marker, fp)
        else:
            tracked.last = workload
            if marker != tracked.marker:
                self._template_edit(tracked, workload, event.time, raw, marker, fp)
        if tracked.identity is not None and (tracked.active is not None or event.initial):
            self._touch(self._app_key(meta.namespace, tracked.identity))
        self._evaluate(tracked, workload, event.time, event.initial)

    def _preexisting(self, workload: Workload, event: ObjectEvent) -> bool:
        if event.initial:
            return True
        created = parse_rfc3339(workload.metadata.creation_timestamp)
        start = self.observation_start
        return created is not None and start is not None and created < start - CREATION_SLACK_S

    def _first_sight(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        event: ObjectEvent,
        raw: bytes,
        marker: str,
        fp: str,
    ) -> None:
        tracked.marker, tracked.fingerprint = marker, fp
        identity = tracked.identity = self._identity(workload, raw, fp)
        if not self._preexisting(workload, event):
            created = parse_rfc3339(workload.metadata.creation_timestamp)
            start = event.time if created is None else min(max(created, 0.0), event.time)
            self._start(tracked, workload, identity, fp, start, rollback=False)
            return
        history = self._history(tracked, workload)
        complete = rollout.rollout_complete(workload)
        persisted = self._persisted.pop(tracked.key, [])
        newer: list[WorkloadDeployment] = []
        if persisted:
            # the state file already holds these revisions, with exact times and outcomes
            history = [h for h in history if not any(_same_rollout(p, h) for p in persisted)]
            in_flight = [p for p in persisted if p.outcome is Outcome.PROGRESSING]
            if history and any(p.fingerprint == history[-1].fingerprint for p in in_flight):
                history.pop()  # the rollout that was in flight when the last process stopped
            # revisions made while no exporter was running: played as if watched, so the
            # failures they end, the rollbacks they are and the restores they bring count
            newer = _newer_than(history, persisted)
            history = [h for h in history if h not in newer]
            self._resume_persisted(tracked, workload, persisted, fp, complete, bool(newer))
        for wd in history:
            tracked.deployed.add(wd.fingerprint)
        last = history[-1] if history else None
        if tracked.active is not None or (tracked.current is not None and last is None):
            pass  # resumed from the state file
        elif last is not None and last.fingerprint == fp and not complete:
            history.pop()  # the current revision is still rolling out: track it live
            tracked.deployed = {w.fingerprint for w in history} | tracked.deployed
            self._start(
                tracked, workload, identity, fp, last.started_at, last.rollback, last.revision
            )
        elif last is not None and last.fingerprint == fp:
            hint = parse_rfc3339(rollout.completion_time_hint(workload))
            if hint is not None and hint >= last.started_at:
                last.finished_at = hint
            tracked.current = tracked.last_finished = last
            self._set_current(tracked, last)
        else:
            tracked.deployed.add(fp)  # deployed before we saw it, revision history lost
        if history:
            ledger = self._ledger(history[0].app)
            for wd in history:
                self._ledger(wd.app).history_workloads.append(wd)
                self._ledger(wd.app).history_dirty = True
                self._dirty_history.add(wd.app)
            self._touch(ledger.key)
        if newer:
            self._catch_up(tracked, workload, newer, fp, complete, event.time)

    def _catch_up(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        newer: list[WorkloadDeployment],
        fp: str,
        complete: bool,
        now: float,
    ) -> None:
        for index, entry in enumerate(newer):
            last = index == len(newer) - 1
            ident = Identity(entry.workload, entry.app.app, entry.version, True, None,
                             entry.commit_sha, None, ())  # fmt: skip
            # a reused ReplicaSet's start is only a lower bound: never before what it replaced
            before = tracked.active or tracked.last_finished
            start = (
                entry.started_at
                if before is None
                else max(entry.started_at, before.finished_at or before.started_at)
            )
            self._start(tracked, workload, ident, entry.fingerprint, start,
                        entry.fingerprint in tracked.deployed, entry.revision)  # fmt: skip
            wd = tracked.active
            if wd is None:
                continue
            wd.commit_time = None if wd.rollback else entry.commit_time
            if last and entry.fingerprint == fp and not complete:
                return  # still rolling out: watched from here on
            end = newer[index + 1].started_at if not last else now
            if last:
                hint = parse_rfc3339(rollout.condition_time(workload))
                if hint is not None and wd.started_at <= hint <= now:
                    end = hint
            if last and rollout.progress_deadline_exceeded(workload):
                self._finish(wd, Outcome.FAILED, max(end, wd.started_at), "progress_deadline")
                tracked.last_finished = wd
            else:
                self._finish(wd, Outcome.SUCCEEDED, max(end, wd.started_at), None)
                tracked.deployed.add(wd.fingerprint)
                tracked.current = tracked.last_finished = wd
                self._set_current(tracked, wd)
            tracked.active = None

    def _resume_persisted(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        persisted: list[WorkloadDeployment],
        fp: str,
        complete: bool,
        catching_up: bool = False,
    ) -> None:
        """Pick up where the previous process stopped, for one workload."""
        persisted.sort(key=lambda w: w.started_at)
        for wd in persisted:
            if wd.outcome is Outcome.SUCCEEDED:
                tracked.deployed.add(wd.fingerprint)
        finished = [w for w in persisted if w.outcome.finished]
        if finished:
            tracked.last_finished = finished[-1]
        done = [w for w in finished if w.outcome is Outcome.SUCCEEDED]
        if done:
            tracked.current = done[-1]  # what runs while a newer rollout is in flight
            self._set_current(tracked, done[-1])
        for wd in persisted:
            if wd.outcome is not Outcome.PROGRESSING:
                continue
            if (wd.fingerprint == fp or catching_up) and tracked.active is None:
                # _evaluate finishes it if it completed meanwhile; a revision made while we
                # were away supersedes or fails it (a rollback) in _catch_up
                tracked.active = wd
                if not rollout.has_own_deadline(workload):
                    self._schedule(wd.started_at + self.config.rollout_timeout_s,
                                   "rollout_timeout", wd)  # fmt: skip
            else:
                self._supersede(wd)  # replaced while we were not watching

    def restore(
        self,
        groups: list[AppDeployment],
        failures: list[tuple[AppKey, float, list[str], list[str]]],
        changes: list[tuple[float, Change]],
        alerts: dict[str, AppKey],
    ) -> None:
        """Load a previous process's ledger (from the state file) before the first event."""
        by_id: dict[str, AppDeployment] = {}
        for group in sorted(groups, key=lambda g: g.started_at):
            ledger = self._ledger(group.app)
            ledger.live_groups.append(group)
            by_id[group.identity] = group
            for wd in group.workloads:
                self._persisted.setdefault(wd.key, []).append(wd)
            if group.outcome is Outcome.SUCCEEDED and not group.closed:
                self._schedule(
                    group.started_at + self.config.app_grouping_window_s, "close_group", group
                )
            self._touch(group.app)
        for app, opened_at, signals, ids in failures:
            members = [by_id[i] for i in ids if i in by_id]
            if members:
                failure = OpenFailure(app, opened_at, set(signals), members)
                self.failures.open[app] = failure
        for at, change in changes:
            self.pending_changes.append((at, change))
        self.firing_alerts.update(alerts)

    def reconcile(self, now: float) -> None:
        """After the first sync of a restart: close signals that ended while we were away."""
        for app, failure in list(self.failures.open.items()):
            for signal in list(failure.signals):
                kind, _, ref = signal.partition(":")
                tracked = self._tracked_by_ref(ref)
                if kind in ("crashloop", "degraded", "rollout", "rollback") and tracked is None:
                    failure.signals.discard(signal)  # the workload is gone
                elif (kind == "crashloop" and tracked is not None and not tracked.crashing) or (
                    kind == "degraded"
                    and tracked is not None
                    and tracked.last is not None
                    and rollout.available(tracked.last)
                ):
                    failure.signals.discard(signal)
            self._try_restore(app, now)

    def _tracked_by_ref(self, ref: str) -> TrackedWorkload | None:
        kind, _, name = ref.partition("/")
        for tracked in self.workloads.values():
            if tracked.key.kind == kind and tracked.key.name == name:
                return tracked
        return None

    def _history(self, tracked: TrackedWorkload, workload: Workload) -> list[WorkloadDeployment]:
        """Past rollouts from what the cluster keeps: ReplicaSets or ControllerRevisions."""
        entries: list[tuple[int, int, float, Revision]] = []
        for record in self.revisions.get(tracked.uid, {}).values():
            if record.created is None or not record.numbers:
                continue
            first = min(record.numbers)
            for number in record.numbers:
                entries.append((number, 0 if number == first else 1, record.created, record))
        entries.sort(key=lambda e: e[0])
        history: list[WorkloadDeployment] = []
        seen: set[str] = set()
        previous_start = 0.0
        previous_fp = ""
        for number, reused, created, record in entries:
            fp = record.fingerprint
            if fp == previous_fp:
                continue  # same template as the revision before: a restart, not a deployment
            previous_fp = fp
            start = max(created, previous_start) if reused or created < previous_start else created
            previous_start = start
            ident = self._identity_of(workload, record.template or PodTemplate(), fp)
            wd = WorkloadDeployment(
                key=tracked.key,
                workload=ident.workload,
                app=self._app_key(workload.metadata.namespace, ident),
                version=ident.version,
                fingerprint=fp,
                revision=str(number),
                started_at=start,
                rollback=fp in seen,
                history=True,
                finished_at=start,
                outcome=Outcome.SUCCEEDED,
                commit_time=_commit_time(ident, self.stats),
                commit_sha=ident.commit_sha,
            )
            seen.add(fp)
            history.append(wd)
        for record in self.revisions.get(tracked.uid, {}).values():
            record.template = None  # history is built: keep only what pods and revisions need
        return history

    def _template_edit(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        now: float,
        raw: bytes,
        marker: str,
        fp: str,
    ) -> None:
        tracked.marker = marker
        target = tracked.active.fingerprint if tracked.active else tracked.fingerprint
        if fp == target:
            self.stats.restarts += 1  # e.g. kubectl rollout restart: not a deployment
            return
        tracked.fingerprint = fp
        identity = tracked.identity = self._identity(workload, raw, fp)
        rollback = fp in tracked.deployed
        tracked.stale_revision = workload.metadata.annotations.get(DEPLOYMENT_REVISION)
        self._start(tracked, workload, identity, fp, now, rollback)

    def _start(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        identity: Identity,
        fp: str,
        start: float,
        rollback: bool,
        revision: str = "",
    ) -> None:
        previous = tracked.active
        app = self._app_key(workload.metadata.namespace, identity)
        keptn = self._keptn_app_listing(workload.metadata.namespace, identity.workload)
        wd = WorkloadDeployment(
            key=tracked.key,
            workload=identity.workload,
            app=app,
            version=identity.version,
            fingerprint=fp,
            revision=revision,
            started_at=start,
            rollback=rollback,
            commit_time=None if rollback else _commit_time(identity, self.stats),
            commit_sha=identity.commit_sha,
            traceparent=identity.traceparent,
            keptn_app=(
                (keptn.spec.version, keptn.spec.revision)
                if keptn is not None and keptn.metadata.name == identity.app
                else None
            ),
        )
        if previous is not None and previous.outcome is Outcome.PROGRESSING:
            if rollback:
                self._finish(previous, Outcome.FAILED, start, "rollback")
            elif previous.group is not None and previous.group.failure_reasons:
                # already a failed change (e.g. crash loop): replacing it does not erase it
                self._finish(previous, Outcome.FAILED, start, REPLACED_AFTER_FAILURE)
            else:
                self._supersede(previous)
        elif rollback and tracked.last_finished is not None:
            victim = tracked.last_finished.group
            if victim is not None:
                signal = f"rollback:{tracked.key.kind}/{tracked.key.name}"
                self.failures.mark(victim, "rollback", start, signal)
        tracked.active = wd
        tracked.unavailable_since = None
        self._join_group(wd)
        self._match_pending_changes(wd)
        if not rollout.has_own_deadline(workload):
            self._schedule(start + self.config.rollout_timeout_s, "rollout_timeout", wd)

    def _evaluate(
        self, tracked: TrackedWorkload, workload: Workload, now: float, initial: bool = False
    ) -> None:
        wd = tracked.active
        if wd is None:
            self._check_health(tracked, workload, now)
            return
        if workload.kind == rollout.DEPLOYMENT:
            # until the controller adopts the new template the annotation is the old revision
            revision = workload.metadata.annotations.get(DEPLOYMENT_REVISION)
            if revision == tracked.stale_revision:
                revision = None
        else:
            revision = self._controller_revision(tracked.uid, wd.fingerprint)
        if revision and revision != wd.revision:
            wd.revision = revision
        if initial:
            # listed after a restart: it may have ended while we were away; the controller's
            # condition says when (later events are live and stamped on arrival)
            hint = parse_rfc3339(rollout.condition_time(workload))
            if hint is not None and wd.started_at <= hint <= now:
                now = hint
        if rollout.rollout_complete(workload):
            self._finish(wd, Outcome.SUCCEEDED, max(now, wd.started_at), None)
            tracked.deployed.add(wd.fingerprint)
            tracked.current = tracked.last_finished = wd
            tracked.active = None
            self._set_current(tracked, wd)
        elif rollout.progress_deadline_exceeded(workload):
            self._finish(wd, Outcome.FAILED, max(now, wd.started_at), "progress_deadline")
            tracked.last_finished = wd
            tracked.active = None

    def _controller_revision(self, owner_uid: str, fingerprint: str) -> str | None:
        """The number of the newest ControllerRevision holding this template, if known."""
        best = 0
        for record in self.revisions.get(owner_uid, {}).values():
            if record.fingerprint == fingerprint and record.numbers:
                best = max(best, *record.numbers)
        return str(best) if best else None

    def _rollout_timed_out(self, wd: WorkloadDeployment, due: float) -> None:
        if wd.outcome is not Outcome.PROGRESSING:
            return
        tracked = self._tracked_for(wd)
        self._finish(wd, Outcome.FAILED, due, "rollout_timeout")
        if tracked is not None and tracked.active is wd:
            tracked.active = None
            tracked.last_finished = wd

    # ----------------------------------------------------------------- health

    def _check_health(self, tracked: TrackedWorkload, workload: Workload, now: float) -> None:
        """Degraded: unavailable for longer than --degraded-after outside a rollout."""
        if rollout.available(workload):
            if tracked.unavailable_since is not None:
                tracked.unavailable_since = None
                app = tracked.info_app
                if app is not None:
                    self.failures.clear(app, f"degraded:{tracked.key.kind}/{tracked.key.name}")
                    self._try_restore(app, now)
            return
        if tracked.unavailable_since is None:
            # the condition knows when it turned, even if we were not watching then
            since = parse_rfc3339(rollout.unavailable_since(workload)) or now
            since = min(since, now)
            tracked.unavailable_since = since
            self._schedule(since + self.config.degraded_after_s, "degraded", (tracked.uid, since))

    def _degradation_due(self, uid: str, since: float, due: float) -> None:
        tracked = self.workloads.get(uid)
        if tracked is None or tracked.unavailable_since != since or tracked.active is not None:
            return
        current = tracked.current
        if current is None or current.group is None:
            return
        signal = f"degraded:{tracked.key.kind}/{tracked.key.name}"
        self.failures.mark(current.group, "degraded", due, signal)

    def _on_pod(self, pod: Pod, now: float, deleted: bool) -> None:
        """Crash loops and image digests of the pods of a tracked revision."""
        owner = next((o for o in pod.metadata.owner_references if o.controller), None)
        if owner is None:
            return
        if owner.kind == "ReplicaSet":
            workload_uid = self._rs_owner.get(owner.uid)
            record = self.revisions.get(workload_uid or "", {}).get(owner.uid)
            fingerprint = record.fingerprint if record is not None else None
        else:
            workload_uid, fingerprint = owner.uid, None
        tracked = self.workloads.get(workload_uid) if workload_uid else None
        if tracked is None:
            return
        wd = tracked.active or tracked.current
        if wd is None or (fingerprint is not None and fingerprint != wd.fingerprint):
            if tracked.current is not None and tracked.current.fingerprint == fingerprint:
                wd = tracked.current
            else:
                wd = None
        uid = pod.metadata.uid
        crashing = (
            not deleted
            and wd is not None
            and any(
                cs.restart_count >= 3
                or (cs.state.waiting is not None and cs.state.waiting.reason == "CrashLoopBackOff")
                for cs in pod.status.container_statuses
            )
        )
        if wd is not None and not deleted and len(wd.image_digests) < 8:
            for cs in pod.status.container_statuses:
                digest = _digest(cs.image_id)
                if digest and digest not in wd.image_digests:
                    wd.image_digests.add(digest)
                    self._match_pending_changes(wd)
        signal = f"crashloop:{tracked.key.kind}/{tracked.key.name}"
        if crashing and uid not in tracked.crashing:
            tracked.crashing.add(uid)
            if len(tracked.crashing) == 1 and wd is not None and wd.group is not None:
                self.failures.mark(wd.group, "crashloop", now, signal)
        elif not crashing and uid in tracked.crashing:
            tracked.crashing.discard(uid)
            if not tracked.crashing and tracked.info_app is not None:
                self.failures.clear(tracked.info_app, signal)
                self._try_restore(tracked.info_app, now)
        if tracked.crashing and len(tracked.crashing) > 10_000:
            tracked.crashing.clear()  # bounded: a runaway set is not information

    def _set_current(self, tracked: TrackedWorkload, wd: WorkloadDeployment | None) -> None:
        """Move the workload's info series to the app it now belongs to."""
        previous = tracked.info_app
        if previous is not None and (wd is None or previous != wd.app):
            self._ledger(previous).current.pop(tracked.key, None)
            self._touch(previous)
        tracked.info_app = None if wd is None else wd.app
        if wd is not None:
            self._ledger(wd.app).current[tracked.key] = (wd.workload, wd.version)
            self._touch(wd.app)

    def _tracked_for(self, wd: WorkloadDeployment) -> TrackedWorkload | None:
        for tracked in self.workloads.values():
            if tracked.active is wd:
                return tracked
        return None

    # ------------------------------------------------------------- grouping

    def _join_group(self, wd: WorkloadDeployment) -> None:
        ledger = self._ledger(wd.app)
        if ledger.history_dirty:
            self._regroup_history(ledger)
        group: AppDeployment | None = None
        for candidate in reversed(ledger.live_groups[-4:]):
            if candidate.closed or candidate.outcome not in (
                Outcome.PROGRESSING,
                Outcome.SUCCEEDED,
            ):
                continue
            if any(w.key == wd.key for w in candidate.active_workloads):
                continue
            if wd.keptn_app is not None:
                if candidate.keptn_app == wd.keptn_app:
                    group = candidate
                    break
            elif (
                candidate.keptn_app is None
                and wd.started_at - candidate.started_at <= self.config.app_grouping_window_s
            ):
                group = candidate
                break
        if group is None:
            group = AppDeployment(app=wd.app, started_at=wd.started_at)
            group.keptn_app = wd.keptn_app
            ledger.live_groups.append(group)
        if group.outcome is Outcome.SUCCEEDED:  # finished early, still inside its window
            group.outcome, group.finished_at = Outcome.PROGRESSING, None
        group.workloads.append(wd)
        wd.group = group
        group.identity  # noqa: B018 - assigns the stable id while the first member is known
        self._touch(wd.app)

    def _regroup_history(self, ledger: AppLedger) -> None:
        ledger.history_dirty = False
        ledger.history_groups = []
        window = self.config.app_grouping_window_s
        for wd in sorted(ledger.history_workloads, key=lambda w: (w.started_at, w.key)):
            group = ledger.history_groups[-1] if ledger.history_groups else None
            if (
                group is None
                or wd.started_at - group.started_at > window
                or any(w.key == wd.key for w in group.workloads)
            ):
                group = AppDeployment(app=ledger.key, started_at=wd.started_at, history=True)
                group.outcome = Outcome.SUCCEEDED
                group.closed = True
                ledger.history_groups.append(group)
            group.workloads.append(wd)
            wd.group = group
            finished = wd.finished_at or wd.started_at
            group.finished_at = max(group.finished_at or finished, finished)
        for group in ledger.history_groups:
            if any(w.rollback for w in group.workloads):
                self._mark_history_rollback(ledger, group)
        self._touch(ledger.key)

    def _mark_history_rollback(self, ledger: AppLedger, rollback_group: AppDeployment) -> None:
        """A rollback in history fails the change it rolled back from (within the window)."""
        index = ledger.history_groups.index(rollback_group)
        if index == 0:
            return
        victim = ledger.history_groups[index - 1]
        if (
            rollback_group.started_at - (victim.finished_at or victim.started_at)
            <= (self.config.failure_window_s)
            and "rollback" not in victim.failure_reasons
        ):
            victim.failure_reasons.append("rollback")
            victim.failed_change_at = rollback_group.started_at

    # -------------------------------------------------------------- outcomes

    def _supersede(self, wd: WorkloadDeployment) -> None:
        wd.outcome = Outcome.SUPERSEDED
        wd.finished_at = None
        if wd.group is not None:
            self._update_group(wd.group)

    def _finish(
        self, wd: WorkloadDeployment, outcome: Outcome, at: float, reason: str | None
    ) -> None:
        wd.outcome = outcome
        wd.finished_at = at
        wd.failure_reason = reason
        if not wd.history:
            stats = self.stats.workload(wd.app, wd.key, wd.workload)
            stats.outcomes[outcome.value] += 1
            if outcome is Outcome.SUCCEEDED:
                stats.duration.observe(max(0.0, at - wd.started_at))
        if wd.group is not None:
            self._update_group(wd.group)
        self._touch(wd.app)

    def _update_group(self, group: AppDeployment) -> None:
        members = group.active_workloads
        if group.outcome is not Outcome.PROGRESSING:
            self._touch(group.app)
            return
        if not members:
            group.outcome = Outcome.SUPERSEDED
        elif any(w.outcome is Outcome.FAILED for w in members):
            failed = [w for w in members if w.outcome is Outcome.FAILED]
            group.outcome = Outcome.FAILED
            group.finished_at = min(w.finished_at or w.started_at for w in failed)
            group.closed = True
            self._record_app_finish(group)
            for w in failed:
                if w.failure_reason == REPLACED_AFTER_FAILURE:
                    continue  # its reasons are recorded already
                reason = "rollback" if w.failure_reason == "rollback" else "rollout_failed"
                kind = "rollback" if reason == "rollback" else "rollout"
                signal = f"{kind}:{w.key.kind}/{w.key.name}"
                self.failures.mark(group, reason, group.finished_at, signal)
        elif all(w.outcome is Outcome.SUCCEEDED for w in members):
            group.outcome = Outcome.SUCCEEDED
            group.finished_at = max(w.finished_at or w.started_at for w in members)
            self._close_when_due(group)
            self.failures.deployment_succeeded(group)
            self._try_restore(group.app, group.finished_at)
        self._touch(group.app)

    def _close_when_due(self, group: AppDeployment) -> None:
        """A workload starting within the grouping window still joins this app deployment,
        however fast the first ones finished. Counted now (once); its trace waits."""
        self._record_app_finish(group)
        closes_at = group.started_at + self.config.app_grouping_window_s
        if group.keptn_app is not None or self.now >= closes_at:
            group.closed = True
        else:
            self._schedule(closes_at, "close_group", group)

    def _close_group(self, group: AppDeployment) -> None:
        if group.outcome is Outcome.SUCCEEDED and not group.closed:
            group.closed = True
            self._touch(group.app)

    def _record_app_finish(self, group: AppDeployment) -> None:
        if group.history or group.counted:
            return
        group.counted = True
        stats = self.stats.app(group.app)
        stats.outcomes[group.outcome.value] += 1
        self._observe_lead_time(group)

    def _observe_lead_time(self, group: AppDeployment) -> None:
        lead = group.lead_time_seconds
        if lead is not None and not group.lead_time_observed and not group.history:
            group.lead_time_observed = True
            self.stats.app(group.app).lead_time.observe(lead)

    def _try_restore(self, app: AppKey, at: float) -> None:
        failure = self.failures.open.get(app)
        if failure is None:
            return
        ledger = self._ledger(app)
        progressing = any(g.outcome is Outcome.PROGRESSING for g in ledger.live_groups[-8:])
        by = next(
            (
                g
                for g in reversed(ledger.live_groups[-8:])
                if g.outcome is Outcome.SUCCEEDED
                and g.started_at >= failure.opened_at
                and g not in failure.deployments
            ),
            None,
        )
        self.failures.try_restore(app, at, progressing, by)

    # ------------------------------------------------------- external signals

    CHANGE_RETENTION_S = 30 * 86400.0

    def apply_change(self, change: Change, at: float) -> int:
        """Register commit metadata from CI; returns how many deployments it matched now.

        Kept for later matches too: CI often registers the change before the rollout starts.
        """
        self.advance(at)
        if change.app is not None and not any(
            k.app == change.app and change.namespace in (None, k.namespace) for k in self.apps
        ):
            self.stats.invalid["unknown_app"] += 1  # kept: the app may deploy later
        self.pending_changes.append((at, change))
        matched = 0
        for key, ledger in self.apps.items():
            if change.namespace is not None and key.namespace != change.namespace:
                continue
            for group in ledger.live_groups[-50:]:
                for wd in group.active_workloads:
                    if self._apply_change_to(wd, change):
                        matched += 1
        return matched

    def _match_pending_changes(self, wd: WorkloadDeployment) -> None:
        horizon = self.now - self.CHANGE_RETENTION_S
        while self.pending_changes and self.pending_changes[0][0] < horizon:
            self.pending_changes.popleft()
        for _, change in reversed(self.pending_changes):
            if self._apply_change_to(wd, change):
                return

    def _apply_change_to(self, wd: WorkloadDeployment, change: Change) -> bool:
        if wd.rollback or wd.commit_time is not None or wd.history:
            return False
        if change.namespace is not None and change.namespace != wd.key.namespace:
            return False
        if change.app is not None and change.app not in (wd.app.app, wd.workload):
            return False
        if not (
            (change.image_digest is not None and change.image_digest in wd.image_digests)
            or (change.version is not None and change.version == wd.version)
            or (wd.commit_sha is not None and wd.commit_sha.lower() == change.commit_sha)
        ):
            return False
        wd.commit_time = change.commit_time
        wd.commit_sha = wd.commit_sha or change.commit_sha
        if wd.group is not None and wd.group.outcome is Outcome.SUCCEEDED:
            self._observe_lead_time(wd.group)
        self._touch(wd.app)
        return True

    def apply_alert(self, alert: Alert, at: float) -> bool:
        """An Alertmanager alert; False when it matches no app (counted as invalid input)."""
        self.advance(at)
        signal = f"alert:{alert.fingerprint}"
        if not alert.firing:
            app = self.firing_alerts.pop(alert.fingerprint, None)
            if app is not None:
                self.signal_cleared(app, signal, at)
            return app is not None
        if alert.fingerprint in self.firing_alerts:
            return True  # Alertmanager repeats firing notifications
        apps: list[AppKey] = []
        if alert.namespace:
            for name in alert.names:
                apps = self.find_apps(alert.namespace, name)
                if apps:
                    break
        if not apps:
            self.stats.invalid["unmatched_alert"] += 1
            return False
        app = apps[0]
        self.firing_alerts[alert.fingerprint] = app
        if len(self.firing_alerts) > 10_000:
            self.firing_alerts.pop(next(iter(self.firing_alerts)))
        self.signal_failure(app, "incident", signal, at)
        return True

    def apply_external(self, kind: str, body: object, at: float) -> int:
        """A CHANGE or ALERT (event-log line or HTTP body); InvalidInput says what is wrong."""
        try:
            if kind == "CHANGE":
                return self.apply_change(parse_change(body, at), at)
            if kind == "ALERT":
                alerts = parse_alerts(body, self.config.alert_app_labels)
                return sum(1 for alert in alerts if self.apply_alert(alert, at))
        except InvalidInput as exc:
            self.stats.invalid[exc.reason] += 1
            raise
        raise InvalidInput("unknown_input", f"unknown input kind {kind!r}")

    def untraced(self, limit: int = 1000) -> list[AppDeployment]:
        """Finished live app deployments with trace facts not sent yet, oldest first."""
        out: list[AppDeployment] = []
        for ledger in self.apps.values():
            for group in ledger.live_groups[-20:]:
                if group.closed and not group.trace_facts <= group.traced_facts:
                    out.append(group)
        out.sort(key=lambda g: g.finished_at or g.started_at)
        return out[:limit]

    def mark_traced(self, group: AppDeployment, facts: Iterable[str] = ()) -> None:
        """These facts of ``group``'s trace were handed to the exporter; never resend them."""
        group.traced_facts = group.traced_facts | (frozenset(facts) or group.trace_facts)
        self._touch(group.app)

    def task_failed(
        self, app: AppKey, kind: str, name: str, at: float, post_deployment: bool = True
    ) -> bool:
        """Entry point for the launcher/evaluations: a failed task or evaluation."""
        if not post_deployment:
            return False
        reason = "evaluation_failed" if kind == "evaluation" else "task_failed"
        return self.signal_failure(app, reason, f"{kind}:{name}", at)

    def latest_deployment(self, app: AppKey, at: float) -> AppDeployment | None:
        """The change a signal at ``at`` is attributed to: the last one started before it."""
        ledger = self.apps.get(app)
        if ledger is None:
            return None
        for group in reversed(ledger.live_groups):
            if group.started_at <= at and group.active_workloads:
                return group
        for group in reversed(ledger.history_groups):
            if group.started_at <= at:
                return group
        return None

    def find_apps(self, namespace: str, name: str) -> list[AppKey]:
        """Apps in ``namespace`` called ``name``, or owning a workload called ``name``."""
        found = [k for k in self.apps if k.namespace == namespace and k.app == name]
        if found:
            return found
        return sorted(
            {
                t.info_app
                for t in self.workloads.values()
                if t.info_app is not None
                and t.key.namespace == namespace
                and (t.key.name == name or (t.current is not None and t.current.workload == name))
            }
        )

    def signal_failure(self, app: AppKey, reason: str, signal: str, at: float) -> bool:
        """An external failure signal (incident, failed task or evaluation) for ``app``."""
        self.advance(at)
        target = self.latest_deployment(app, at)
        if target is None:
            return False
        return self.failures.mark(target, reason, at, signal)

    def signal_cleared(self, app: AppKey, signal: str, at: float) -> None:
        self.advance(at)
        self.failures.clear(app, signal)
        self._try_restore(app, at)


def _newer_than(
    history: list[WorkloadDeployment], persisted: list[WorkloadDeployment]
) -> list[WorkloadDeployment]:
    """Rebuilt revisions after everything the state file knows of this workload."""
    known = [int(p.revision) for p in persisted if p.revision.isdigit()]
    if known:
        top = max(known)
        return [h for h in history if h.revision.isdigit() and int(h.revision) > top]
    latest = max(p.started_at for p in persisted)
    return [h for h in history if h.started_at > latest + 120.0]


def _same_rollout(persisted: WorkloadDeployment, rebuilt: WorkloadDeployment) -> bool:
    """Whether a revision rebuilt from cluster history is one the state file already has."""
    return (
        persisted.key == rebuilt.key
        and persisted.fingerprint == rebuilt.fingerprint
        and (
            persisted.revision == rebuilt.revision
            if persisted.revision and rebuilt.revision
            else abs(persisted.started_at - rebuilt.started_at) <= 120.0
        )
    )


def _digest(image_id: str) -> str | None:
    at = image_id.find("sha256:")
    return image_id[at : at + 71] if at >= 0 and len(image_id) >= at + 71 else None


def _revisions(annotations: dict[str, str]) -> list[int]:
    values = [annotations.get(DEPLOYMENT_REVISION, "")]
    values += annotations.get(DEPLOYMENT_REVISION_HISTORY, "").split(",")
    out = []
    for value in values:
        value = value.strip()
        if value.isdigit() and len(value) < 12:
            out.append(int(value))
    return sorted(set(out))


def _commit_time(identity: Identity, stats: ObservedStats) -> float | None:
    if identity.commit_time is None:
        return None
    parsed = parse_commit_time(identity.commit_time)
    if parsed is None or parsed < MIN_PLAUSIBLE:
        stats.invalid["commit_time"] += 1
        return None
    return parsed


_IDENTITY_PREFIXES = ("keptn.sh/", "app.kubernetes.io/", "daylight.dev/", "org.opencontainers.")


def _slim_template(raw: bytes) -> PodTemplate:
    """Only the identity-relevant labels and annotations of a template: history is large."""
    try:
        template = _template_decoder.decode(raw)
    except msgspec.DecodeError:
        return PodTemplate()
    meta = template.metadata
    meta.labels = {k: v for k, v in meta.labels.items() if k.startswith(_IDENTITY_PREFIXES)}
    meta.annotations = {
        k: v
        for k, v in meta.annotations.items()
        if k.startswith(_IDENTITY_PREFIXES) or k == "traceparent"
    }
    return template
