"""History benchmark: 90 days of 500 apps, a 10k-workload rebuild, the state file.

Run: ``python -m tests.bench.history [--json] [--apps 500] [--days 90] [--workloads 10000]``.
Measures, in one run on this machine:

* replay: the events of a synthetic 90-day history of N apps through the event-log decoder
  and the model (events/s), with ``orjson.loads`` of the same lines as the baseline;
* rebuild: a cluster of W Deployments with 10 ReplicaSet revisions each, fed as the start-up
  LIST is fed, until the ledger is grouped (seconds);
* state file: saving the replayed ledger and loading it into a fresh model (seconds);
* peak RSS of the process (ru_maxrss).

Targets (issue 4): rebuild <= 10 s, state-file load <= 2 s, peak RSS <= 400 MiB. The figures
are also written to tests/bench/results/history.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson

from exporter.events import objects as schema
from exporter.events.envelope import EventType, ObjectEvent
from exporter.kube import eventlog
from exporter.kube.decoding import compact
from exporter.model.engine import DoraModel
from exporter.model.windows import DAY
from exporter.state.store import StateStore
from tests.scenario import Deployment, Log, namespace, pod_template

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "tests" / "bench" / "results" / "history.json"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_history(apps: int, days: int) -> Log:
    """Each app deploys every ~day; one in ten rollouts fails and is rolled back."""
    log = Log()
    namespaces = [f"team-{i}" for i in range(max(1, apps // 25))]
    for ns in namespaces:
        log.emit(0, "ADDED", namespace(ns, 0, "production"))
    deployments = []
    for i in range(apps):
        ns = namespaces[i % len(namespaces)]
        labels = {"app": f"svc-{i}", "app.kubernetes.io/name": f"svc-{i}"}
        d = Deployment(log, ns, f"svc-{i}", labels, at=0)
        deployments.append((d, labels))
    for day in range(days):
        for i, (d, labels) in enumerate(deployments):
            at = day * DAY + (i * 37) % 80000
            version = f"{day}.{i}"
            commit = {"daylight.dev/commit-time": str(int(at - 3600))}
            template = pod_template(f"registry.example/svc-{i}:{version}", labels, commit)
            d.set_template(at, template)
            d.controller_rolls(at + 1, f"{i:05d}{day:05d}")
            if (day + i) % 10 == 3:
                d.stuck(at + 5)
                d.deadline_exceeded(at + 600)
            else:
                d.complete(at + 30)
    log.lines.sort(key=lambda line: line["time"])
    return log


def generate(directory: Path, apps: int, days: int, workloads: int, revisions: int) -> None:
    """Inputs are made in a child process so their size never counts in our peak RSS."""
    with open(directory / "history.jsonl", "wb") as out:
        for line in synthetic_history(apps, days).lines:
            out.write(orjson.dumps(line) + b"\n")
    with open(directory / "cluster.jsonl", "wb") as out:
        for raw in cluster_objects(workloads, revisions):
            out.write(raw + b"\n")


def bench_replay(directory: Path, apps: int, days: int) -> tuple[dict[str, Any], DoraModel]:
    """Both paths stream the log from disk, as `daylight replay` does."""
    path = directory / "history.jsonl"
    gc.collect()
    start = time.perf_counter()
    events = 0
    with open(path, "rb") as handle:
        for line in handle:
            orjson.loads(line)
            events += 1
    orjson_s = time.perf_counter() - start
    model = DoraModel()
    start = time.perf_counter()
    with open(path, "rb") as handle:
        for line in handle:
            event = eventlog.decode_line(line)
            if isinstance(event, ObjectEvent):
                model.apply(event)
    model.settle()
    ours_s = time.perf_counter() - start
    deployments = sum(len(ledger.deployments) for ledger in model.apps.values())
    return (
        {
            "apps": apps,
            "days": days,
            "events": events,
            "app_deployments": deployments,
            "events_per_s": round(events / ours_s),
            "orjson_events_per_s": round(events / orjson_s),
            "ratio_vs_orjson": round(orjson_s / ours_s, 3),
            "seconds": round(ours_s, 2),
        },
        model,
    )


def cluster_objects(workloads: int, revisions: int) -> list[bytes]:
    """Objects as a LIST returns them, ReplicaSets before Deployments (the feed order)."""
    replicasets: list[bytes] = []
    deployments: list[bytes] = []
    base = 1_700_000_000
    for w in range(workloads):
        log = Log()
        labels = {"app": f"w{w}", "app.kubernetes.io/name": f"w{w}",
                  "app.kubernetes.io/part-of": f"app{w // 4}"}  # fmt: skip  # a table
        d = Deployment(log, f"ns{(w // 4) % 200}", f"w{w}", labels, at=0)
        for r in range(revisions):
            d.set_template(r * DAY, pod_template(f"registry.example/w{w}:{r}", labels))
            d.controller_rolls(r * DAY + 1, f"{w:06d}{r:04d}")
            d.complete(r * DAY + 30)
        for rs in d.replicasets.values():
            replicasets.append(orjson.dumps(rs))
        deployments.append(orjson.dumps(d.obj))
    del base
    return replicasets + deployments


def bench_rebuild(directory: Path, workloads: int, revisions: int) -> dict[str, Any]:
    """The start-up LIST as the runtime feeds it: page by page, compacted after feeding."""
    rs_decoder = msgspec.json.Decoder(schema.ReplicaSet)
    wl_decoder = msgspec.json.Decoder(schema.Workload)
    cache: dict[str, Any] = {}
    gc.collect()
    start = time.perf_counter()
    model = DoraModel()
    now = time.time()
    objects = 0
    with open(directory / "cluster.jsonl", "rb") as handle:
        for raw in handle:
            objects += 1
            is_rs = b'"kind":"ReplicaSet"' in raw[:80]
            obj = rs_decoder.decode(raw) if is_rs else wl_decoder.decode(raw)
            model.apply(ObjectEvent(now, EventType.ADDED, obj, initial=True))
            compact(obj)  # what the informer keeps in its cache
            cache[obj.metadata.uid] = obj
    model.settle()
    seconds = time.perf_counter() - start
    deployments = sum(len(ledger.deployments) for ledger in model.apps.values())
    return {
        "workloads": workloads,
        "revisions_each": revisions,
        "objects": objects,
        "apps": len(model.apps),
        "app_deployments": deployments,
        "seconds": round(seconds, 2),
    }


def bench_save(model: DoraModel, path: Path) -> dict[str, Any]:
    store = StateStore(path)
    start = time.perf_counter()
    rows = store.save(model, model.now, everything=True)
    save_s = time.perf_counter() - start
    store.close()
    return {"rows": rows, "bytes": path.stat().st_size, "save_seconds": round(save_s, 2)}


def bench_load(path: Path, now: float) -> dict[str, Any]:
    """Like a restarted process: a fresh model, nothing else alive."""
    gc.collect()
    start = time.perf_counter()
    fresh = DoraModel()
    loaded = StateStore(path).restore_into(fresh, now)
    return {"loaded": loaded, "load_seconds": round(time.perf_counter() - start, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--revisions", type=int, default=10)
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    wall = time.perf_counter()
    if args.generate_into:
        generate(Path(args.generate_into), args.apps, args.days, args.workloads, args.revisions)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "tests.bench.history", "--generate-into", tmp]
        command += ["--apps", str(args.apps), "--days", str(args.days)]
        command += ["--workloads", str(args.workloads), "--revisions", str(args.revisions)]
        subprocess.run(command, check=True)
        generated = time.perf_counter() - wall
        replay, model = bench_replay(Path(tmp), args.apps, args.days)
        now = model.now
        state = bench_save(model, Path(tmp) / "state.db")
        del model
        state |= bench_load(Path(tmp) / "state.db", now)
        gc.collect()
        rebuild = bench_rebuild(Path(tmp), args.workloads, args.revisions)
    peak = rss_mib()
    result = {
        "python": platform.python_version(),
        "replay": replay,
        "rebuild": rebuild,
        "state_file": state,
        "peak_rss_mib": round(peak, 1),
        "rebuild_seconds": rebuild["seconds"],
        "state_load_seconds": state["load_seconds"],
        "targets": {
            "rebuild_seconds <= 10": rebuild["seconds"] <= 10,
            "state_load_seconds <= 2": state["load_seconds"] <= 2,
            "peak_rss_mib <= 400": peak <= 400,
        },
        "input_generation_seconds": round(generated, 1),
        "wall_seconds": round(time.perf_counter() - wall, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
