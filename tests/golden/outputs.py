"""What the golden tests compare: every output Daylight derives from one event log."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from exporter.commands import _replay_into
from exporter.evaluations.checks import KeptnChecks
from exporter.events.envelope import EventType, ObjectEvent, SideInput
from exporter.events.external import InvalidInput
from exporter.kube import eventlog
from exporter.kube.resources import WATCHED
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.report import build_report, render_table
from exporter.outputs.selfmetrics import DaylightCollector, SelfState
from exporter.state.store import StateStore

DAY = 86400.0


def _side_input(model: DoraModel, event: SideInput) -> None:
    with contextlib.suppress(InvalidInput):  # counted by the model, as the replay does
        model.apply_external(event.kind, event.body, event.time)


def _sync_into(model: DoraModel, path: Path) -> float | None:
    """The log's first instant as the start-up list (history), the rest as live events."""
    checks = KeptnChecks(model, evaluations=False)
    first: float | None = None
    last: float | None = None
    listed = False
    for event in eventlog.read(path):
        if first is None:
            first = event.time
        if isinstance(event, ObjectEvent):
            initial = event.time == first
            if not initial and not listed:
                model.settle()
                listed = True
            event = ObjectEvent(event.time, event.type, event.obj, initial=initial)
            model.apply(event)
            checks.on_event(event)
        else:
            _side_input(model, event)
        last = event.time if last is None else max(last, event.time)
    if last is not None:
        model.advance(last)
    model.settle()
    return last


def _restart_into(model: DoraModel, path: Path, state_file: Path) -> float | None:
    """Half the log watched by one process (saving its state file), then a restart: a new
    process loads the state file, lists what the cluster holds at that moment and watches
    the rest, as ``daylight run --state-file`` does after ``kill -9``."""
    events = list(eventlog.read(path))
    times = [e.time for e in events]
    split = times[len(times) // 2]
    first = DoraModel()
    checks = KeptnChecks(first, evaluations=False)
    cluster: dict[tuple[str, str, str], ObjectEvent] = {}
    for event in events:
        if event.time > split:
            break
        if isinstance(event, ObjectEvent):
            first.apply(event)
            checks.on_event(event)
            meta = event.obj.metadata
            key = (event.obj.kind, meta.namespace, meta.name)
            if event.type == "DELETED":
                cluster.pop(key, None)
            else:
                cluster[key] = event
        else:
            _side_input(first, event)
    store = StateStore(state_file)
    store.save(first, split, everything=True)
    store.close()
    store = StateStore(state_file)
    store.restore_into(model, split)
    checks = KeptnChecks(model, evaluations=False)
    order = {r.kind: i for i, r in enumerate(WATCHED)}
    for key in sorted(cluster, key=lambda k: (order.get(k[0], 99), k[1], k[2])):
        event = ObjectEvent(split, EventType.ADDED, cluster[key].obj, initial=True)
        model.apply(event)
        checks.on_event(event)
    model.settle()
    model.reconcile(split)
    store.save(model, split, everything=True)
    store.close()
    last = split
    for event in events:
        if event.time <= split:
            continue
        if isinstance(event, ObjectEvent):
            model.apply(event)
            checks.on_event(event)
        else:
            _side_input(model, event)
        last = max(last, event.time)
    model.advance(last)
    model.settle()
    return last


def dump_state(db: Path) -> bytes:
    """Every row of every table of the state file, in a stable order."""
    out: dict[str, list[list[object]]] = {}
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        for table in tables:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            out[table] = sorted([list(r) for r in rows], key=json.dumps)
    return (json.dumps(out, indent=1, sort_keys=True) + "\n").encode()


def produce(path: Path, mode: str, state_file: Path) -> dict[str, bytes]:
    model = DoraModel()
    if mode == "replay":
        last, _, _ = _replay_into(model, str(path))
    elif mode == "sync":
        last = _sync_into(model, path)
    else:
        last = _restart_into(model, path, state_file.with_suffix(".first.db"))
    assert last is not None
    now = last
    renderer = MetricsRenderer(model)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaylightCollector(SelfState(model, renderer, mode="golden")))
    metrics = renderer.render(now) + generate_latest(registry)
    store = StateStore(state_file)
    store.save(model, now, everything=True)
    store.close()
    files = {
        "metrics.prom": metrics,
        "report-1d.json": _json(build_report(model, now, DAY)),
        "report-30d.json": _json(build_report(model, now, 30 * DAY)),
        "report-30d.txt": (render_table(build_report(model, now, 30 * DAY)) + "\n").encode(),
        "state.json": dump_state(state_file),
    }
    return files


def _json(report: object) -> bytes:
    return (json.dumps(report, indent=1) + "\n").encode()
