"""The changes a team makes to its apps: new versions, restarts, scales, rollbacks, failed
rollouts and crash loops, and the fixes that follow them.

Every random draw comes from the world's one seeded stream, in a fixed order, so the same
seed always gives the same sequence of changes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from kubesim.controllers import Controllers
from kubesim.podmodel import (
    BEHAVIOR_ANNOTATION,
    CRASH_AFTER_ANNOTATION,
    CRASHLOOP,
    NEVER_READY,
)
from kubesim.store import Store
from kubesim.util import JsonDict, as_int, rfc3339
from kubesim.world_catalog import (
    COMMIT_SHA,
    COMMIT_TIME,
    RESTARTED_AT,
    AppSpec,
    WorkloadSpec,
    keptn_app,
    pod_template,
)
from kubesim.world_followups import FollowUps
from kubesim.world_view import RESOURCE_OF, WorldView

DAY_S = 86400.0

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


def bump(version: str, rng: random.Random) -> str:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:3]]
    while len(parts) < 3:
        parts.append(0)
    if rng.random() < 0.2:
        parts = [parts[0], parts[1] + 1, 0]
    else:
        parts[2] += 1
    return ".".join(map(str, parts))


def commit_annotations(rng: random.Random, now: float) -> dict[str, str]:
    """Commit metadata from CI on most (not all) versions; lead times from minutes to days."""
    if rng.random() >= 0.7:
        return {}
    lead = min(max(rng.lognormvariate(math.log(4 * 3600.0), 1.1), 300.0), 7 * DAY_S)
    sha = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    return {COMMIT_TIME: rfc3339(now - lead), COMMIT_SHA: sha}


class LiveActions:
    """Performs changes and remembers them; schedules the fix of each failure it causes."""

    def __init__(
        self,
        *,
        store: Store,
        controllers: Controllers,
        view: WorldView,
        followups: FollowUps,
        rng: random.Random,
    ) -> None:
        self.store = store
        self.controllers = controllers
        self.view = view
        self.followups = followups
        self.actions: list[Action] = []
        self.pace = HISTORY_PACE
        self._rng = rng
        self._keptn_revision: dict[str, int] = {}
        self._latest_version: dict[str, str] = {}  # versions only go up, even after rollbacks

    # -- choosing ------------------------------------------------------------------------------
    def busy(self, app: AppSpec) -> bool:
        return self.followups.pending(app) or not all(self.view.settled(w) for w in app.workloads)

    def pick_kind(self, app: AppSpec) -> str:
        kinds = [
            (k, weight)
            for k, weight in ACTION_WEIGHTS
            if not (k in DEPLOYMENT_ONLY and all(w.kind != "Deployment" for w in app.workloads))
            and not (k == "scale" and all(w.kind == "DaemonSet" for w in app.workloads))
        ]
        return self._rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]

    def keptn_app_created(self, app: AppSpec) -> None:
        """The app's KeptnApp exists at revision 1; each new version bumps it."""
        self._keptn_revision[app.key] = 1

    # -- acting --------------------------------------------------------------------------------
    def tick(self, now: float) -> Action | None:
        """One live step: a due fix first, otherwise a random change to an idle app."""
        self.controllers.step(now)
        if self.run_followups(now):
            return self.actions[-1]
        idle = [a for a in self.view.apps if not self.busy(a)]
        if not idle:
            return None
        app = self._rng.choices(idle, [a.deploys_per_day for a in idle])[0]
        return self.act(now, kind=self.pick_kind(app), app=app)

    def run_followups(self, now: float) -> bool:
        return self.followups.run(now, self._follow_up)

    def _follow_up(self, at: float, kind: str, app: AppSpec) -> None:
        self.act(at, kind=kind, app=app)

    def act(self, now: float, *, kind: str = "new_version", app: AppSpec | None = None) -> Action:
        """Performs one change at `now` and lets the controllers react to it."""
        if app is None:
            apps = self.view.apps
            app = self._rng.choices(apps, [a.deploys_per_day for a in apps])[0]
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
        latest = self._latest_version.get(app.key, self.view.current_version(app.workloads[0]))
        version = bump(latest, self._rng)
        self._latest_version[app.key] = version
        commit = commit_annotations(self._rng, now)
        for w in app.workloads:
            obj = self.view.obj(w)
            old = (obj or {}).get("spec", {}).get("template", {})
            notes = dict(commit)
            restarted = ((old.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
            if restarted:
                notes[RESTARTED_AT] = restarted
            if w.name == bad and behavior is not None:
                notes[BEHAVIOR_ANNOTATION] = behavior
                if behavior == CRASHLOOP:
                    notes[CRASH_AFTER_ANNOTATION] = str(int(self.pace.crash_after_s))
            template = pod_template(w, version, notes)

            def change(o: JsonDict, t: JsonDict = template, w: WorkloadSpec = w) -> None:
                o["spec"]["template"] = t
                if w.kind == "Deployment":
                    failing = w.name == bad and behavior == NEVER_READY
                    o["spec"]["progressDeadlineSeconds"] = (
                        self.pace.progress_deadline_s if failing else 600
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
        version = self.view.current_version(w)
        return Action(now, "restart", app.namespace, app.name, (w.name,), version)

    def _scale(self, now: float, app: AppSpec) -> Action:
        w = self._one(app, ("Deployment", "StatefulSet"))
        obj = self.view.obj(w)
        current = as_int((obj or {}).get("spec", {}).get("replicas"), 1)
        target = current + (1 if current <= 1 or (current < 4 and self._rng.random() < 0.5) else -1)

        def change(o: JsonDict) -> None:
            o["spec"]["replicas"] = target

        self._mutate(w, change)
        version = self.view.current_version(w)
        return Action(now, "scale", app.namespace, app.name, (w.name,), version)

    def _rollback(
        self,
        now: float,
        app: AppSpec,
        *,
        kind: str = "rollback",
        targets: list[WorkloadSpec] | None = None,
    ) -> Action:
        """`kubectl rollout undo` of one workload (or of each of `targets`)."""
        view = self.view
        if targets is None:
            candidates = [w for w in app.workloads if view.previous_template(w) is not None]
            targets = [self._rng.choice(candidates)] if candidates else []
        if not targets or any(view.previous_template(w) is None for w in targets):
            return self._new_version(now, app, kind=kind)
        for w in targets:
            template = view.previous_template(w)

            def change(o: JsonDict, t: JsonDict | None = template, w: WorkloadSpec = w) -> None:
                o["spec"]["template"] = t
                if w.kind == "Deployment":
                    o["spec"]["progressDeadlineSeconds"] = 600

            self._mutate(w, change)
        names = tuple(w.name for w in targets)
        version = view.current_version(targets[0])
        return Action(now, kind, app.namespace, app.name, names, version)

    def _failed_rollout(self, now: float, app: AppSpec) -> Action:
        bad = self._one(app, ("Deployment",))
        action = self._new_version(
            now, app, bad=bad.name, behavior=NEVER_READY, kind="failed_rollout"
        )
        lo, hi = self.pace.fix_after_s
        delay = self.pace.progress_deadline_s + self._rng.uniform(lo, hi)
        self.followups.schedule(now + delay, "fix_forward", app)
        return action

    def _crashloop(self, now: float, app: AppSpec) -> Action:
        bad = self._one(app, ("Deployment",))
        action = self._new_version(now, app, bad=bad.name, behavior=CRASHLOOP, kind="crashloop")
        lo, hi = self.pace.crash_fix_after_s
        self.followups.schedule(now + self._rng.uniform(lo, hi), "fix_forward", app)
        return action

    def _fix_forward(self, now: float, app: AppSpec) -> Action:
        """Most teams fix forward; some roll the broken workloads back."""
        bad = self.view.broken(app)
        if bad and self._rng.random() < 0.3:
            return self._rollback(now, app, kind="fix_forward", targets=bad)
        return self._new_version(now, app, kind="fix_forward")
