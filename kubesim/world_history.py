"""The demo world's past: its namespaces and workloads, then `days` of changes played through
the simulated controllers on a simulated clock, ending settled and healthy at `now`.

Playing the history (rather than writing it) is what makes every ReplicaSet,
ControllerRevision, revision annotation and rollback trace in it exactly what the
controllers would have left behind.
"""

from __future__ import annotations

import random

from kubesim.controllers import Controllers
from kubesim.store import Store
from kubesim.util import JsonDict, rfc3339
from kubesim.world_actions import DAY_S, HISTORY_PACE, LIVE_PACE, LiveActions, commit_annotations
from kubesim.world_catalog import (
    ENVIRONMENT_LABEL,
    KEPTN_APP,
    NAMESPACES,
    AppSpec,
    WorkloadSpec,
    keptn_app,
    keptn_objects,
    pod_template,
    selector_labels,
    workload_labels,
)
from kubesim.world_view import RESOURCE_OF, WorldView


class History:
    def __init__(
        self,
        *,
        store: Store,
        controllers: Controllers,
        view: WorldView,
        actions: LiveActions,
        rng: random.Random,
        days: float,
    ) -> None:
        self.store = store
        self.controllers = controllers
        self.view = view
        self.actions = actions
        self.days = days
        self.populated_at: float | None = None
        self._rng = rng

    def populate(self, now: float) -> None:
        """Creates the world and plays `days` of changes, ending settled at `now`."""
        start = now - self.days * DAY_S
        self._create_namespaces(rfc3339(start - 3600.0))
        self.actions.pace = HISTORY_PACE
        self.controllers.step(start)
        self._create_apps(start)
        for at, app in self._schedule(start + 3600.0, now - 3 * 3600.0):
            self.actions.run_followups(at)
            self.controllers.advance(at)
            if self.actions.busy(app):
                continue
            self.actions.act(at, kind=self.actions.pick_kind(app), app=app)
        self.actions.run_followups(now)
        # Belt and braces: the history must end healthy, whatever the dice said.
        for app in self.view.apps:
            if self.view.broken(app):
                at = max(now - 600.0, self.controllers.now or now)
                self.controllers.advance(at)
                self.actions.act(at, kind="fix_forward", app=app)
        self.controllers.advance(now)
        self.populated_at = now
        self.actions.pace = LIVE_PACE

    def _create_namespaces(self, created: str) -> None:
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

    def _create_apps(self, start: float) -> None:
        """Every workload at its first version, a minute apart; KeptnApps at revision 1."""
        offset = 0.0
        for app in self.view.apps:
            for w in app.workloads:
                self.controllers.advance(start + offset)
                self._create_workload(w, start + offset)
                self.controllers.step(start + offset)
                offset += 60.0
            if any(w.style == KEPTN_APP for w in app.workloads):
                self.actions.keptn_app_created(app)
                self.store.create(
                    "keptnapps",
                    keptn_app(app, app.workloads[0].version, 1, rfc3339(start + offset)),
                    copy=False,
                )

    def _create_workload(self, w: WorkloadSpec, now: float) -> None:
        template = pod_template(w, w.version, commit_annotations(self._rng, now))
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

    def _schedule(self, begin: float, end: float) -> list[tuple[float, AppSpec]]:
        """Poisson arrivals per app, mostly in working hours on weekdays."""
        events: list[tuple[float, int, AppSpec]] = []
        for index, app in enumerate(self.view.apps):
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
