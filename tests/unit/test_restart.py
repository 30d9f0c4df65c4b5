"""Restart safety: a crash at any point, then a restart with the state file, changes nothing.

The uninterrupted run and the crashed-and-restarted run see the same cluster; the restarted
one gets what a real restart gets: the state file, then a fresh LIST of every object (its
state at the crash), then the watch events that follow.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.external import InvalidInput
from exporter.kube import eventlog
from exporter.kube.resources import WATCHED
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.report import build_report
from exporter.state.store import StateStore
from tests.scenario import Log
from tests.unit.test_failures import build_failure_log
from tests.unit.test_replay_core import build_core_log

# the runtime feeds the start-up lists in this order (exporter.kube.resources.WATCHED)
LIST_ORDER = {resource.kind: index for index, resource in enumerate(WATCHED)}


def events_of(log: Log, tmp_path: Path, name: str) -> list[Any]:
    return list(eventlog.read(log.write(tmp_path / name)))


def feed(model: DoraModel, event: Any) -> None:
    if isinstance(event, ObjectEvent):
        model.apply(event)
    else:
        with contextlib.suppress(InvalidInput):  # the log holds bad input on purpose
            model.apply_external(event.kind, event.body, event.time)


def uninterrupted(events: list[Any]) -> DoraModel:
    model = DoraModel()
    for event in events:
        feed(model, event)
    return model


def relist(events: list[Any], at: float) -> list[ObjectEvent]:
    """What a LIST returns after the crash: the last state of every object that exists."""
    state: dict[tuple[str, str, str], ObjectEvent] = {}
    for event in events:
        if not isinstance(event, ObjectEvent):
            continue
        meta = event.obj.metadata
        key = (event.obj.kind, meta.namespace, meta.name)
        if event.type == EventType.DELETED:
            state.pop(key, None)
        else:
            state[key] = event
    listed = sorted(state.values(), key=lambda e: LIST_ORDER[e.obj.kind])
    return [ObjectEvent(at, EventType.ADDED, e.obj, initial=True) for e in listed]


def crashed_and_restarted(events: list[Any], crash: int, db: Path) -> DoraModel:
    before = DoraModel()
    store = StateStore(db)
    for event in events[:crash]:
        feed(before, event)
        store.save(before, event.time)  # the periodic flush; the crash comes right after
    store.close()  # kill -9: nothing else is written
    at = events[crash].time
    after = DoraModel()
    restarted = StateStore(db)
    restarted.restore_into(after, at)
    for event in relist(events[:crash], at):
        after.apply(event)
    after.settle()
    after.reconcile(at)
    for event in events[crash:]:
        feed(after, event)
    return after


def comparable(model: DoraModel, now: float) -> dict[str, Any]:
    report = build_report(model, now)
    for d in report["app_deployments"]:
        d.pop("id")
        d.pop("history")
    return report


def window_gauges(model: DoraModel, now: float) -> list[str]:
    text = MetricsRenderer(model).render(now).decode()
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith(("dora_deployment_frequency", "dora_change_failure_rate",
                            "dora_lead_time_median", "dora_time_to_restore_median",
                            "dora_rework_rate", "dora_lead_time_coverage"))
    )  # fmt: skip  # a table


@pytest.mark.parametrize("scenario", ["core", "failures"])
def test_restart_with_state_file_at_every_point_changes_nothing(
    scenario: str, tmp_path: Path
) -> None:
    log = build_core_log() if scenario == "core" else build_failure_log()
    events = events_of(log, tmp_path, f"{scenario}.jsonl")
    reference = uninterrupted(events)
    now = events[-1].time
    expected = comparable(reference, now)
    expected_gauges = window_gauges(reference, now)
    for crash in range(1, len(events)):
        restarted = crashed_and_restarted(events, crash, tmp_path / f"state-{crash}.db")
        assert comparable(restarted, now) == expected, f"crash before event {crash}"
        assert window_gauges(restarted, now) == expected_gauges, f"crash before event {crash}"


def test_state_file_from_a_newer_daylight_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from exporter.state.store import StateError

    db = tmp_path / "future.db"
    sqlite3.connect(db).execute("PRAGMA user_version=99")
    with pytest.raises(StateError, match="newer"):
        StateStore(db)


def test_history_the_cluster_pruned_while_daylight_was_down_is_kept(tmp_path: Path) -> None:
    """Started after the core scenario, Daylight rebuilds its history from the ReplicaSets
    and saves it. While it is down the controller prunes the oldest ones
    (``revisionHistoryLimit``); the restarted process still has every deployment."""
    events = events_of(build_core_log(), tmp_path, "core.jsonl")
    first_start, second_start = events[-1].time + 100, events[-1].time + 200
    db = tmp_path / "state.db"
    first = DoraModel()
    store = StateStore(db)
    store.restore_into(first, first_start)
    for event in relist(events, first_start):
        first.apply(event)
    first.settle()
    store.save(first, first_start, everything=True)
    store.close()
    expected = comparable(first, second_start)
    assert len(expected["app_deployments"]) == 6 and all(
        d["history"] for d in build_report(first, second_start)["app_deployments"]
    )
    listed = relist(events, second_start)
    pruned = {"web-aaa1111111", "web-bbb2222222"}
    kept = [e for e in listed if e.obj.metadata.name not in pruned]
    assert len(kept) == len(listed) - 2
    second = DoraModel()
    restarted = StateStore(db)
    restarted.restore_into(second, second_start)
    for event in kept:
        second.apply(event)
    second.settle()
    second.reconcile(second_start)
    assert comparable(second, second_start) == expected
    # without the state file the same listing has lost the pruned revisions
    alone = DoraModel()
    for event in kept:
        alone.apply(event)
    alone.settle()
    assert len(build_report(alone, second_start)["app_deployments"]) < 6
