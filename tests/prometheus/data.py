"""The event logs behind the real-Prometheus tests: several apps, weeks of history.

Three apps in two environments, built with the tests/scenario.py builders, so that every
DORA family the exporter fills has data: lead times (commit-time annotations, one of them
malformed), failed rollouts and rollbacks, a StatefulSet, app deployments of two workloads,
and every DORA performance level for at least one (app, key).

The log is replayed twice on the same port: first up to ``SPLIT`` (the "earlier" exporter),
then whole. Prometheus sees the counters grow between the two, so the ``increase()`` queries
of the dashboards and of the annotations have something to show.

``cluster_objects`` is a separate, smaller cluster (environment ``qa``) that the fake API
server serves to a ``daylight run`` process: the live informer self-metrics come from it.
"""

from __future__ import annotations

from typing import Any

from tests.scenario import Deployment, Log, StatefulSet, namespace, pod_template, ts

DAY = 86400.0
HOUR = 3600.0
SPLIT = 15 * DAY
"""Events before this time form the first replay; the rest arrive with the second."""
END = 21 * DAY


class _Rollouts:
    """One Deployment: every version gets its own ReplicaSet hash, like the controller."""

    def __init__(self, log: Log, ns: str, name: str, app: str, at: float) -> None:
        self.log, self.ns, self.name, self.app = log, ns, name, app
        self.deployment = Deployment(log, ns, name, {"team": ns}, at=at)
        self.templates: dict[str, dict[str, Any]] = {}
        self.hashes: dict[str, str] = {}

    def template(self, version: str, commit_time: str | None) -> dict[str, Any]:
        labels = {
            "app": self.name,
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/part-of": self.app,
        }
        annotations = {"daylight.dev/commit-time": commit_time} if commit_time else None
        return pod_template(f"registry.example/{self.name}:{version}", labels, annotations)

    def _roll(self, at: float, version: str, template: dict[str, Any]) -> None:
        self.deployment.set_template(at, template)
        rs_hash = self.hashes.setdefault(version, f"{abs(hash((self.name, version))):010x}"[:10])
        self.deployment.controller_rolls(at + 1, rs_hash)

    def ship(self, at: float, version: str, lead_s: float | None, took_s: float = 40) -> None:
        """A new version that becomes ready ``took_s`` later; ``lead_s`` after its commit."""
        commit = ts(at - lead_s) if lead_s is not None else None
        self.templates[version] = self.template(version, commit)
        self._roll(at, version, self.templates[version])
        self.deployment.complete(at + took_s)

    def ship_bad_commit_time(self, at: float, version: str) -> None:
        self.templates[version] = self.template(version, "yesterday-ish")
        self._roll(at, version, self.templates[version])
        self.deployment.complete(at + 30)

    def fail(self, at: float, version: str, lead_s: float) -> None:
        """A version that never becomes ready: failed by its progress deadline."""
        self.templates[version] = self.template(version, ts(at - lead_s))
        self._roll(at, version, self.templates[version])
        self.deployment.stuck(at + 2)
        self.deployment.deadline_exceeded(at + 610)

    def rollback(self, at: float, version: str) -> None:
        """``kubectl rollout undo`` to an earlier version (its ReplicaSet is reused)."""
        self._roll(at, version, self.templates[version])
        self.deployment.complete(at + 30)


def build_dora_log() -> Log:
    log = Log()
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    log.emit(0, "ADDED", namespace("payments", 0, "production"))
    log.emit(0, "ADDED", namespace("catalog", 0, "staging"))

    # shop: web (Deployment) + db (StatefulSet); quick changes early, slow ones lately
    # (a lead-time regression), never a failure (change failure rate: elite)
    web = _Rollouts(log, "shop", "web", "shop", at=9 * HOUR)
    db = StatefulSet(log, "shop", "db", {}, at=DAY + 10 * HOUR)
    db_labels = {"app": "db", "app.kubernetes.io/name": "db", "app.kubernetes.io/part-of": "shop"}
    for day in range(0, 15):
        web.ship(day * DAY + 9 * HOUR, f"1.{day}", lead_s=2 * HOUR)
    db.set_template(DAY + 10 * HOUR, pod_template("registry.example/db:1", db_labels))
    db.controller_rolls(DAY + 10 * HOUR + 1, "db1")
    db.complete(DAY + 10 * HOUR + 70)
    web.ship_bad_commit_time(12 * DAY + 15 * HOUR, "1.99")
    # after the split: slower changes, and web + db together (one app deployment)
    for day in range(15, 21):
        web.ship(day * DAY + 9 * HOUR, f"2.{day}", lead_s=3 * DAY)
    web.ship(20 * DAY + 14 * HOUR, "3.0", lead_s=3 * DAY)
    db.set_template(20 * DAY + 14 * HOUR + 5, pod_template("registry.example/db:2", db_labels))
    db.controller_rolls(20 * DAY + 14 * HOUR + 6, "db2")
    db.complete(20 * DAY + 14 * HOUR + 90)

    # payments: long lead times (medium), failed rollouts before and after the split
    # (change failure rate: low), a fix-forward and a rollback
    api = _Rollouts(log, "payments", "api", "payments", at=2 * DAY)
    api.ship(2 * DAY, "5.0", lead_s=10 * DAY)
    api.fail(5 * DAY, "5.1", lead_s=10 * DAY)
    api.ship(5 * DAY + 2 * HOUR, "5.2", lead_s=10 * DAY)
    api.ship(9 * DAY, "5.3", lead_s=12 * DAY)
    api.ship(16 * DAY, "5.4", lead_s=11 * DAY)
    api.fail(18 * DAY, "5.5", lead_s=10 * DAY)
    api.rollback(18 * DAY + 1 * HOUR, "5.4")
    # 5.6 comes from a pipeline that told Daylight nothing: its lead time is unknown
    # (dora_lead_time_unknown{reason="no_ci_data"} for the coverage panel)
    api.ship(20 * DAY + 20 * HOUR, "5.6", lead_s=None)

    # catalog (staging): short lead times (elite), a deployment every few days (high)
    cat = _Rollouts(log, "catalog", "catalog", "catalog", at=DAY + 11 * HOUR)
    for n, day in enumerate((1, 4, 8, 11, 14, 16, 19, 20)):
        cat.ship(day * DAY + 11 * HOUR, f"0.{n}", lead_s=45 * 60)
    log.lines.sort(key=lambda line: line["time"])
    last = log.lines[-1]["time"]
    assert last <= ts(END), last
    return log


def split_log(log: Log) -> tuple[Log, Log]:
    """(the events before SPLIT, the whole log)."""
    early = Log(lines=[line for line in log.lines if line["time"] < ts(SPLIT)])
    return early, log


def cluster_objects() -> dict[str, list[dict[str, Any]]]:
    """The final state of a small cluster, by API path, as a LIST would return it."""
    log = Log()
    log.emit(0, "ADDED", namespace("qa-cart", 0, "qa"))
    cart = _Rollouts(log, "qa-cart", "cart", "cart", at=DAY)
    cart.ship(1 * DAY, "1.0", lead_s=HOUR)
    cart.ship(2 * DAY, "1.1", lead_s=HOUR)
    cart.ship(3 * DAY, "1.2", lead_s=HOUR)
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in log.lines:
        obj = line["object"]
        meta = obj["metadata"]
        latest[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    paths = {
        "Namespace": "/api/v1/namespaces",
        "Deployment": "/apis/apps/v1/deployments",
        "ReplicaSet": "/apis/apps/v1/replicasets",
    }
    out: dict[str, list[dict[str, Any]]] = {
        "/api/v1/namespaces": [],
        "/api/v1/pods": [],
        "/apis/apps/v1/deployments": [],
        "/apis/apps/v1/replicasets": [],
        "/apis/apps/v1/statefulsets": [],
        "/apis/apps/v1/daemonsets": [],
        "/apis/apps/v1/controllerrevisions": [],
        "/apis/batch/v1/jobs": [],
    }
    for (kind, _, _), obj in sorted(latest.items()):
        out[paths[kind]].append(obj)
    return out
