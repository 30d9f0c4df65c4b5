"""The demo world: 30 days of deployment history, then a live stream of changes.

Everything is deterministic for a (seed, now) pair: the same seed gives the same apps, the
same history (objects, names, uids, timestamps) and the same sequence of live actions. The
history is not written directly: it is *played* through the simulated controllers on a
simulated clock, so every ReplicaSet, ControllerRevision, revision annotation and rollback
trace in it is exactly what the controllers would have left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubesim.controllers import Controllers
from kubesim.controllers.deployment import revision_of
from kubesim.controllers.replicaset import POD_TEMPLATE_HASH
from kubesim.controllers.revisions import revisions_of_uid, template_of
from kubesim.podmodel import (
    BEHAVIOR_ANNOTATION,
    CRASH_AFTER_ANNOTATION,
    CRASHLOOP,
    NEVER_READY,
)
from kubesim.store import Store
from kubesim.util import JsonDict, as_int, clone, rfc3339
from kubesim.world_catalog import (
    APPS,
    COMMIT_SHA,
    COMMIT_TIME,
    ENVIRONMENT_LABEL,
    KEPTN,
    KEPTN_APP,
    LABELS,
    NAMESPACES,
    RESTARTED_AT,
    AppSpec,
    WorkloadSpec,
    keptn_app,
    keptn_objects,
    pod_template,
    selector_labels,
    workload_labels,
)

__all__ = ["Action", "World"]

DAY_S = 86400.0
RESOURCE_OF = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
}

# Most changes are plain successful new versions, as in any healthy team.
ACTION_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("new_version", 60),
    ("restart", 10),
    ("scale", 7),
    ("rollback", 8),
    ("failed_rollout", 8),
    ("crashloop", 7),
)
DEPLOYMENT_ONLY = frozenset({"failed_rollout", "crashloop"})


@dataclass(frozen=True, slots=True)
class Action:
    time: float
    kind: str  # new_version, restart, scale, rollback, failed_rollout, crashloop, fix_forward
    namespace: str
    app: str
    workloads: tuple[str, ...]
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Pace:
    """Durations that differ between the replayed history and the live demo."""

    fix_after_s: tuple[float, float]  # a failed rollout is fixed this long after its deadline
    crash_fix_after_s: tuple[float, float]
    crash_after_s: float
    progress_deadline_s: int = 15


HISTORY_PACE = Pace((10 * 60.0, 90 * 60.0), (20 * 60.0, 90 * 60.0), 120.0)
LIVE_PACE = Pace((10.0, 25.0), (45.0, 75.0), 20.0)


def version_of(w: WorkloadSpec, template: JsonDict) -> str:
    metadata = template.get("metadata") or {}
    if w.style == LABELS:
        found = (metadata.get("labels") or {}).get("app.kubernetes.io/version")
    elif w.style in (KEPTN, KEPTN_APP):
        found = (metadata.get("annotations") or {}).get("keptn.sh/version")
    else:
        containers = (template.get("spec") or {}).get("containers") or [{}]
        found = str(containers[0].get("image", "")).rsplit(":", 1)[-1]
    return str(found or w.version)


def bump(version: str, rng: random.Random) -> str:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:3]]
    while len(parts) < 3:
        parts.append(0)
    if rng.random() < 0.2:
        parts = [parts[0], parts[1] + 1, 0]
    else:
        parts[2] += 1
    return ".".join(map(str, parts))


class World:
    def __init__(
        self,
        store: Store,
        controllers: Controllers,
        *,
        seed: int = 0,
        history_days: float = 30.0,
        live_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        apps: tuple[AppSpec, ...] = APPS,
    ) -> None:
        self.store = store
        self.controllers = controllers
        self.seed = seed
        self.history_days = history_days
        self.live_interval_s = live_interval_s
        self.clock = clock
        self.apps = apps
        self.actions: list[Action] = []
        self.populated_at: float | None = None
        self._rng = random.Random(f"daylight-world-{seed}")
        self._followups: list[tuple[float, int, str, str]] = []  # (time, seq, kind, app key)
        self._seq = 0
        self._pace = HISTORY_PACE
        self._task: asyncio.Task[None] | None = None
        self._keptn_revision: dict[str, int] = {}
        self._latest_version: dict[str, str] = {}  # versions only go up, even after rollbacks

    # -- lookup helpers ------------------------------------------------------------------------
    def app(self, namespace: str, name: str) -> AppSpec:
        return next(a for a in self.apps if a.namespace == namespace and a.name == name)

    def _obj(self, w: WorkloadSpec) -> JsonDict | None:
        return self.store.peek(RESOURCE_OF[w.kind], w.name, w.namespace)

    def current_version(self, w: WorkloadSpec) -> str:
        obj = self._obj(w)
        return version_of(w, obj["spec"]["template"]) if obj else w.version

    def settled(self, w: WorkloadSpec) -> bool:
        """Whether the workload's last rollout finished (the `kubectl rollout status` test)."""
        obj = self._obj(w)
        if obj is None:
            return False
        spec, status = obj["spec"], obj.get("status") or {}
        if as_int(status.get("observedGeneration")) < obj["metadata"].get("generation", 1):
            return False
        if w.kind == "Deployment":
            want = as_int(spec.get("replicas"), 1)
            return (
                as_int(status.get("updatedReplicas")) == want
                and as_int(status.get("replicas")) == want
                and as_int(status.get("availableReplicas")) >= want
            )
        if w.kind == "StatefulSet":
            want = as_int(spec.get("replicas"), 1)
            return (
                status.get("currentRevision") == status.get("updateRevision")
                and as_int(status.get("readyReplicas")) == want
                and as_int(status.get("updatedReplicas")) == want
            )
        desired = as_int(status.get("desiredNumberScheduled"))
        return (
            as_int(status.get("updatedNumberScheduled")) == desired
            and as_int(status.get("numberAvailable")) == desired
        )

    # -- building ------------------------------------------------------------------------------
    def _create_workload(self, w: WorkloadSpec, now: float) -> None:
        template = pod_template(w, w.version, self._commit_annotations(now))
        spec: JsonDict = {}
        if w.kind != "DaemonSet":
            spec["replicas"] = w.replicas
        if w.kind == "StatefulSet":
            spec["serviceName"] = w.name
        spec["selector"] = {"matchLabels": selector_labels(w)}
        spec["template"] = template
        spec["revisionHistoryLimit"] = w.history_limit
        obj = {
            "apiVersion": "apps/v1",
            "kind": w.kind,
            "metadata": {
                "name": w.name,
                "namespace": w.namespace,
                "labels": workload_labels(w),
                "creationTimestamp": rfc3339(now),
            },
            "spec": spec,
        }
        self.store.create(RESOURCE_OF[w.kind], obj, copy=False)

    def _commit_annotations(self, now: float) -> dict[str, str]:
        """Commit metadata from CI on most (not all) versions; lead times from minutes to days."""
        if self._rng.random() >= 0.7:
            return {}
        lead = min(max(self._rng.lognormvariate(math.log(4 * 3600.0), 1.1), 300.0), 7 * DAY_S)
        sha = "".join(self._rng.choice("0123456789abcdef") for _ in range(40))
        return {COMMIT_TIME: rfc3339(now - lead), COMMIT_SHA: sha}

    def populate(self, now: float | None = None) -> None:
        """Creates the world and plays `history_days` of changes, ending settled at `now`."""
        now = self.clock() if now is None else now
        start = now - self.history_days * DAY_S
        created = rfc3339(start - 3600.0)
        for name, environment in NAMESPACES.items():
            self.store.create(
                "namespaces",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": name,
                        "labels": {ENVIRONMENT_LABEL: environment},
                        "creationTimestamp": created,
                    },
                },
                copy=False,
            )
        for resource, obj in keptn_objects(created):
            self.store.create(resource, obj, copy=False)
        self._pace = HISTORY_PACE
        self.controllers.step(start)
        offset = 0.0
        for app in self.apps:
            for w in app.workloads:
                self.controllers.advance(start + offset)
                self._create_workload(w, start + offset)
                self.controllers.step(start + offset)
                offset += 60.0
            if any(w.style == KEPTN_APP for w in app.workloads):
                self._keptn_revision[app.key] = 1
                self.store.create(
                    "keptnapps",
                    keptn_app(app, app.workloads[0].version, 1, rfc3339(start + offset)),
                    copy=False,
                )
        for at, app in self._history_schedule(start + 3600.0, now - 3 * 3600.0):
            self._run_followups(at)
            self.controllers.advance(at)
            if self.busy(app):
                continue
            self.act(at, kind=self._pick_kind(app), app=app)
        self._run_followups(now)
        # Belt and braces: the history must end healthy, whatever the dice said.
        for app in self.apps:
            if self.broken(app):
                at = max(now - 600.0, self.controllers.now or now)
                self.controllers.advance(at)
                self.act(at, kind="fix_forward", app=app)
        self.controllers.advance(now)
        self.populated_at = now
        self._pace = LIVE_PACE

    def _history_schedule(self, begin: float, end: float) -> list[tuple[float, AppSpec]]:
        """Poisson arrivals per app, mostly in working hours on weekdays."""
        events: list[tuple[float, int, AppSpec]] = []
        for index, app in enumerate(self.apps):
            t = begin
            while True:
                t += self._rng.expovariate(app.deploys_per_day / DAY_S * 2.0)
                if t >= end:
                    break
                hour = (t % DAY_S) / 3600.0
                weekday = int((t // DAY_S + 3) % 7) < 5  # 1970-01-01 was a Thursday
                if not (weekday and 8.0 <= hour < 19.0) and self._rng.random() > 0.15:
                    continue
                events.append((t, index, app))
        events.sort(key=lambda e: (e[0], e[1]))
        return [(t, app) for t, _, app in events]

    # -- acting --------------------------------------------------------------------------------
    def busy(self, app: AppSpec) -> bool:
        pending = any(key == app.key for _, _, _, key in self._followups)
        return pending or not all(self.settled(w) for w in app.workloads)

    def _pick_kind(self, app: AppSpec) -> str:
        kinds = [
            (k, weight)
            for k, weight in ACTION_WEIGHTS
            if not (k in DEPLOYMENT_ONLY and all(w.kind != "Deployment" for w in app.workloads))
            and not (k == "scale" and all(w.kind == "DaemonSet" for w in app.workloads))
        ]
        return self._rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]

    def tick(self, now: float | None = None) -> Action | None:
        """One live step: a due fix first, otherwise a random change to an idle app."""
        now = self.clock() if now is None else now
        self.controllers.step(now)
        if self._run_followups(now):
            return self.actions[-1]
        idle = [a for a in self.apps if not self.busy(a)]
        if not idle:
            return None
        app = self._rng.choices(idle, [a.deploys_per_day for a in idle])[0]
        return self.act(now, kind=self._pick_kind(app), app=app)

    def act(self, now: float, *, kind: str = "new_version", app: AppSpec | None = None) -> Action:
        """Performs one change at `now` and lets the controllers react to it."""
        if app is None:
            app = self._rng.choices(self.apps, [a.deploys_per_day for a in self.apps])[0]
        handler = {
            "new_version": self._new_version,
            "restart": self._restart,
            "scale": self._scale,
            "rollback": self._rollback,
            "failed_rollout": self._failed_rollout,
            "crashloop": self._crashloop,
            "fix_forward": self._fix_forward,
        }[kind]
        action = handler(now, app)
        self.actions.append(action)
        self.controllers.step(now)
        return action

    def _mutate(self, w: WorkloadSpec, change: Callable[[JsonDict], None]) -> None:
        self.store.mutate(RESOURCE_OF[w.kind], w.name, w.namespace, change)

    def _new_version(
        self,
        now: float,
        app: AppSpec,
        *,
        bad: str | None = None,
        behavior: str | None = None,
        kind: str = "new_version",
    ) -> Action:
        latest = self._latest_version.get(app.key, self.current_version(app.workloads[0]))
        version = bump(latest, self._rng)
        self._latest_version[app.key] = version
        commit = self._commit_annotations(now)
        for w in app.workloads:
            obj = self._obj(w)
            old = (obj or {}).get("spec", {}).get("template", {})
            notes = dict(commit)
            restarted = ((old.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
            if restarted:
                notes[RESTARTED_AT] = restarted
            if w.name == bad and behavior is not None:
                notes[BEHAVIOR_ANNOTATION] = behavior
                if behavior == CRASHLOOP:
                    notes[CRASH_AFTER_ANNOTATION] = str(int(self._pace.crash_after_s))
            template = pod_template(w, version, notes)

            def change(o: JsonDict, t: JsonDict = template, w: WorkloadSpec = w) -> None:
                o["spec"]["template"] = t
                if w.kind == "Deployment":
                    failing = w.name == bad and behavior == NEVER_READY
                    o["spec"]["progressDeadlineSeconds"] = (
                        self._pace.progress_deadline_s if failing else 600
                    )

            self._mutate(w, change)
        self._bump_keptn_app(app, version)
        names = tuple(w.name for w in app.workloads)
        return Action(now, kind, app.namespace, app.name, names, version)

    def _bump_keptn_app(self, app: AppSpec, version: str) -> None:
        if app.key not in self._keptn_revision:
            return
        self._keptn_revision[app.key] += 1
        revision = self._keptn_revision[app.key]

        def change(o: JsonDict) -> None:
            o["spec"] = keptn_app(app, version, revision, "")["spec"]

        self.store.mutate("keptnapps", app.name, app.namespace, change)

    def _one(
        self, app: AppSpec, kinds: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet")
    ) -> WorkloadSpec:
        candidates = [w for w in app.workloads if w.kind in kinds] or list(app.workloads)
        return self._rng.choice(candidates)

    def _restart(self, now: float, app: AppSpec) -> Action:
        w = self._one(app)

        def change(o: JsonDict) -> None:
            metadata = o["spec"]["template"].setdefault("metadata", {})
            metadata.setdefault("annotations", {})[RESTARTED_AT] = rfc3339(now)

        self._mutate(w, change)
        return Action(now, "restart", app.namespace, app.name, (w.name,), self.current_version(w))

    def _scale(self, now: float, app: AppSpec) -> Action:
        w = self._one(app, ("Deployment", "StatefulSet"))
        obj = self._obj(w)
        current = as_int((obj or {}).get("spec", {}).get("replicas"), 1)
        target = current + (1 if current <= 1 or (current < 4 and self._rng.random() < 0.5) else -1)

        def change(o: JsonDict) -> None:
            o["spec"]["replicas"] = target

        self._mutate(w, change)
        return Action(now, "scale", app.namespace, app.name, (w.name,), self.current_version(w))

    def previous_template(self, w: WorkloadSpec) -> JsonDict | None:
        """What `kubectl rollout undo --to-revision` would restore: the most recent earlier
        revision that was healthy and differs from the current template."""
        obj = self._obj(w)
        if obj is None:
            return None
        uid = obj["metadata"]["uid"]
        templates: list[JsonDict] = []
        if w.kind == "Deployment":
            rss = sorted(self.store.owned("replicasets", uid), key=revision_of, reverse=True)
            for rs in rss[1:]:
                template: JsonDict = clone(rs["spec"]["template"])
                template["metadata"].get("labels", {}).pop(POD_TEMPLATE_HASH, None)
                templates.append(template)
        else:
            revisions = revisions_of_uid(self.store, uid)
            templates = [template_of(r) for r in reversed(revisions[:-1])]
        current = obj["spec"]["template"]
        for template in templates:
            notes = (template.get("metadata") or {}).get("annotations") or {}
            if BEHAVIOR_ANNOTATION not in notes and template != current:
                return template
        return None

    def _rollback(
        self,
        now: float,
        app: AppSpec,
        *,
        kind: str = "rollback",
        targets: list[WorkloadSpec] | None = None,
    ) -> Action:
        """`kubectl rollout undo` of one workload (or of each of `targets`)."""
        if targets is None:
            candidates = [w for w in app.workloads if self.previous_template(w) is not None]
            targets = [self._rng.choice(candidates)] if candidates else []
        if not targets or any(self.previous_template(w) is None for w in targets):
            return self._new_version(now, app, kind=kind)
        for w in targets:
            template = self.previous_template(w)

            def change(o: JsonDict, t: JsonDict | None = template, w: WorkloadSpec = w) -> None:
                o["spec"]["template"] = t
                if w.kind == "Deployment":
                    o["spec"]["progressDeadlineSeconds"] = 600

            self._mutate(w, change)
        names = tuple(w.name for w in targets)
        return Action(now, kind, app.namespace, app.name, names, self.current_version(targets[0]))

    def broken(self, app: AppSpec) -> list[WorkloadSpec]:
        """Workloads currently running a deliberately bad template."""
        out = []
        for w in app.workloads:
            obj = self._obj(w)
            notes = ((obj or {}).get("spec", {}).get("template", {}).get("metadata") or {}).get(
                "annotations"
            ) or {}
            if BEHAVIOR_ANNOTATION in notes:
                out.append(w)
        return out

    def _failed_rollout(self, now: float, app: AppSpec) -> Action:
        bad = self._one(app, ("Deployment",))
        action = self._new_version(
            now, app, bad=bad.name, behavior=NEVER_READY, kind="failed_rollout"
        )
        lo, hi = self._pace.fix_after_s
        delay = self._pace.progress_deadline_s + self._rng.uniform(lo, hi)
        self._schedule(now + delay, "fix_forward", app)
        return action

    def _crashloop(self, now: float, app: AppSpec) -> Action:
        bad = self._one(app, ("Deployment",))
        action = self._new_version(now, app, bad=bad.name, behavior=CRASHLOOP, kind="crashloop")
        lo, hi = self._pace.crash_fix_after_s
        self._schedule(now + self._rng.uniform(lo, hi), "fix_forward", app)
        return action

    def _fix_forward(self, now: float, app: AppSpec) -> Action:
        """Most teams fix forward; some roll the broken workloads back."""
        bad = self.broken(app)
        if bad and self._rng.random() < 0.3:
            return self._rollback(now, app, kind="fix_forward", targets=bad)
        return self._new_version(now, app, kind="fix_forward")

    def _schedule(self, at: float, kind: str, app: AppSpec) -> None:
        self._seq += 1
        heapq.heappush(self._followups, (at, self._seq, kind, app.key))

    def _run_followups(self, now: float) -> bool:
        ran = False
        while self._followups and self._followups[0][0] <= now:
            at, _, kind, key = heapq.heappop(self._followups)
            namespace, name = key.split("/", 1)
            self.controllers.advance(at)
            self.act(at, kind=kind, app=self.app(namespace, name))
            ran = True
        return ran

    # -- live ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Every `live_interval_s`, one change (real time), until cancelled."""
        while True:
            await asyncio.sleep(self.live_interval_s)
            self.tick(self.clock())

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
