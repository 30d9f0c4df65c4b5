"""When pre and post phases are due, in the exporter's own terms (tests/scenario.py events)."""

from __future__ import annotations

from pathlib import Path

from exporter.checks.lifecycle import LifecycleTracker, Transition
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.objects import ReplicaSet, Workload
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from tests.scenario import T0, Deployment, Log, pod_template

TASKS = {"keptn.sh/pre-deployment-tasks": "migrate", "keptn.sh/post-deployment-tasks": "smoke"}


def run(log: Log, tmp: Path, tracker: LifecycleTracker, *, start: int = 0) -> list[Transition]:
    out: list[Transition] = []
    events = list(eventlog.read(log.write(tmp / "log.jsonl")))
    for event in events[start:]:
        assert isinstance(event, ObjectEvent)
        out += tracker.on_event(event, tracker.model.apply(event))
    return out


def phases(transitions: list[Transition]) -> list[tuple[str, str, str]]:
    return [(t.phase, t.target.workload_version, t.target.revision) for t in transitions]


def template(image: str, **extra: str) -> dict[str, object]:
    return pod_template(image, {"app": "api"}, {**TASKS, **extra})


def test_pre_waits_for_the_revision_post_follows_completion(tmp_path: Path) -> None:
    log = Log()
    api = Deployment(log, "shop", "api", {"app": "api"}, at=0)
    api.set_template(0, template("shop/api:1.0"))
    tracker = LifecycleTracker(DoraModel())
    assert run(log, tmp_path, tracker) == []  # started, but no revision yet
    mark = len(log.lines)
    api.controller_rolls(1, "aaa")
    api.complete(30)
    got = run(log, tmp_path, tracker, start=mark)
    assert phases(got) == [("pre", "1.0", "1"), ("post", "1.0", "1")]
    pre, post = got
    assert pre.target.checks.pre_tasks == ("migrate",) and pre.target.owner_kind == "Deployment"
    assert pre.target.traceparent.startswith("00-") and post.started_at == T0.timestamp()


def test_restarts_are_not_deployments_rollbacks_are(tmp_path: Path) -> None:
    log = Log()
    api = Deployment(log, "shop", "api", {"app": "api"}, at=0)
    api.set_template(0, template("shop/api:1.0"))
    api.controller_rolls(1, "aaa")
    api.complete(30)
    tracker = LifecycleTracker(DoraModel())
    assert len(run(log, tmp_path, tracker)) == 2
    mark = len(log.lines)
    api.set_template(100, template("shop/api:1.0", **{"kubectl.kubernetes.io/restartedAt": "x"}))
    api.controller_rolls(101, "bbb")
    api.complete(130)
    assert run(log, tmp_path, tracker, start=mark) == []
    mark = len(log.lines)
    api.set_template(200, template("shop/api:2.0"))
    api.controller_rolls(201, "ccc")
    api.complete(230)
    api.set_template(300, template("shop/api:1.0"))  # rollback: same version, new revision
    api.controller_rolls(301, "aaa")
    api.complete(330)
    got = phases(run(log, tmp_path, tracker, start=mark))
    assert got == [
        ("pre", "2.0", "3"),
        ("post", "2.0", "3"),
        ("pre", "1.0", "4"),
        ("post", "1.0", "4"),
    ]


def test_superseded_before_it_began_and_revision_timeout(tmp_path: Path) -> None:
    log = Log()
    api = Deployment(log, "shop", "api", {"app": "api"}, at=0)
    api.set_template(0, template("shop/api:1.0"))
    api.set_template(1, template("shop/api:1.1"))  # replaced before the controller acted
    tracker = LifecycleTracker(DoraModel(), revision_wait_s=60)
    assert run(log, tmp_path, tracker) == []
    assert tracker.tick(T0.timestamp() + 10) == []
    late = tracker.tick(T0.timestamp() + 62)  # the revision never came: go without it
    assert phases(late) == [("pre", "1.1", "")]


def test_catch_up_after_a_restart(tmp_path: Path) -> None:
    log = Log()
    api = Deployment(log, "shop", "api", {"app": "api"}, at=0)
    api.set_template(0, template("shop/api:1.0"))
    api.controller_rolls(1, "aaa")
    api.complete(30)
    model = DoraModel()
    tracker = LifecycleTracker(model)
    latest: dict[tuple[str, str], object] = {}  # what a LIST at start-up returns
    for event in eventlog.read(log.write(tmp_path / "log.jsonl")):
        assert isinstance(event, ObjectEvent)
        latest[(type(event.obj).__name__, event.obj.metadata.name)] = event.obj
    for _, obj in sorted(latest.items(), key=lambda kv: kv[0][0] != "ReplicaSet"):
        assert isinstance(obj, Workload | ReplicaSet)
        initial = ObjectEvent(T0.timestamp() + 60, EventType.ADDED, obj, initial=True)
        assert tracker.on_event(initial, model.apply(initial)) == []
    model.settle()
    recent = tracker.catch_up(T0.timestamp() + 60, window_s=300)
    assert phases(recent) == [("post", "1.0", "1")] and recent[0].initial
    assert tracker.catch_up(T0.timestamp() + 4000, window_s=300) == []
