"""What the golden tests compare: every output Daylight derives from one event log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from exporter.app.commands import replay_into
from exporter.app.pipeline import Pipeline
from exporter.evaluations.checks import KeptnChecks
from exporter.events.envelope import EventType, ObjectEvent
from exporter.kube import eventlog
from exporter.kube.resources import WATCHED
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.report import build_report, render_table
from exporter.outputs.selfmetrics import build_registry, exporter_collectors, render_self
from exporter.state.store import StateStore

DAY = 86400.0


def _pipeline(model: DoraModel) -> Pipeline:
    """The feed every command uses, with task Job outcomes read (as the replay does)."""
    return Pipeline(model, subscribers=[KeptnChecks(model, evaluations=False)])


def _sync_into(model: DoraModel, path: Path) -> float | None:
    """The log's first instant as the start-up list (history), the rest as live events."""
    pipeline = _pipeline(model)
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
            pipeline.apply(ObjectEvent(event.time, event.type, event.obj, initial=initial))
        else:
            pipeline.side_input(event, source=path.name)
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
    pipeline = _pipeline(first)
    cluster: dict[tuple[str, str, str], ObjectEvent] = {}
    for event in events:
        if event.time > split:
            break
        if isinstance(event, ObjectEvent):
            pipeline.apply(event)
            meta = event.obj.metadata
            key = (event.obj.kind, meta.namespace, meta.name)
            if event.type == "DELETED":
                cluster.pop(key, None)
            else:
                cluster[key] = event
        else:
            pipeline.side_input(event, source=path.name)
    store = StateStore(state_file)
    store.save(first, split, everything=True)
    store.close()
    store = StateStore(state_file)
    store.restore_into(model, split)
    pipeline = _pipeline(model)
    order = {r.kind: i for i, r in enumerate(WATCHED)}
    for key in sorted(cluster, key=lambda k: (order.get(k[0], 99), k[1], k[2])):
        pipeline.apply(ObjectEvent(split, EventType.ADDED, cluster[key].obj, initial=True))
    model.settle()
    model.reconcile(split)
    store.save(model, split, everything=True)
    store.close()
    last = split
    for event in events:
        if event.time <= split:
            continue
        if isinstance(event, ObjectEvent):
            pipeline.apply(event)
        else:
            pipeline.side_input(event, source=path.name)
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
        last = replay_into(model, str(path)).last
    elif mode == "sync":
        last = _sync_into(model, path)
    else:
        last = _restart_into(model, path, state_file.with_suffix(".first.db"))
    assert last is not None
    now = last
    renderer = MetricsRenderer(model)
    registry = build_registry(exporter_collectors(model, renderer, mode="golden"), process=False)
    metrics = renderer.render(now) + render_self(registry)
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
