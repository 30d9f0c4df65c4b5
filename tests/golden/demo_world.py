"""Writes the demo world (seed 7) as an event log at a fixed time: the golden tests' fifth log.

The simulated cluster is driven without its HTTP server or clock: the world is populated with
30 days of history ending at ``T0``, every stored object is written as an ``ADDED`` line at
``T0`` (what a start-up list sees, in the exporter's feed order), then two hours of live
changes follow, one world step every 4 s and the controllers every 0.5 s, each store event
written with the simulated time it happened at. The log is committed, so the golden outputs
do not depend on the simulator staying the same.

    .venv/bin/python -m tests.golden.demo_world /tmp/demo-world.jsonl
    gzip -9 -c /tmp/demo-world.jsonl > tests/golden/demo-world.jsonl.gz
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

from exporter.events.timeutil import format_rfc3339, parse_rfc3339
from exporter.kube.resources import WATCHED
from kubesim import SimCluster

T0 = parse_rfc3339("2026-11-02T12:00:00Z") or 0.0
LIVE_S = 3600.0
WORLD_STEP_S = 60.0
CONTROLLER_STEP_S = 0.5
SEED = 7


def generate(path: Path) -> int:
    now = [T0]
    sim = SimCluster(seed=SEED, world=True, live=False, run_controllers=False, clock=lambda: now[0])
    sim.world.populate(T0)
    encode = msgspec.json.Encoder().encode
    watched = {r.plural for r in WATCHED}
    lines = 0
    with open(path, "wb") as out:

        def write(when: float, event_type: str, obj: Any) -> None:
            nonlocal lines
            out.write(encode({"time": format_rfc3339(when), "type": event_type, "object": obj}))
            out.write(b"\n")
            lines += 1

        for resource in WATCHED:
            if resource.plural not in watched:
                continue
            for obj in sorted(sim.store.items(resource.plural), key=_order):
                write(T0, "ADDED", obj)

        def listener(resource: str, event: Any) -> None:
            if resource in watched:
                write(now[0], event.type, event.entry.obj)

        sim.store.add_listener(listener)
        steps = int(LIVE_S / CONTROLLER_STEP_S)
        every = int(WORLD_STEP_S / CONTROLLER_STEP_S)
        for step in range(1, steps + 1):
            now[0] = T0 + step * CONTROLLER_STEP_S
            if step % every == 0:
                sim.world.tick(now[0])
            sim.controllers.step(now[0])
    return lines


def _order(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-world.jsonl")
    print(f"{generate(target)} lines written to {target}")
