"""The simulated cluster as a separate process, for ``daylight run`` in the Prometheus tests.

The same list/watch implementation as everywhere else (kubesim/), loaded with a small
fixed cluster and set up so every ``daylight_*`` self-metric gets real values from the real
``run`` code path: a Namespace modified every half second (watch events, ingest lag),
watches cut every few events (restarts), a malformed line on the namespace stream
(invalid input) and the Keptn resources not installed (disabled informers, API errors).

Run as ``python -m tests.prometheus.simapi OBJECTS.json``; it prints ``ready URL`` once it
listens on a free loopback port, and serves until terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubesim import SimCluster

TICK_S = 0.5
KEPTN = (
    "keptnapps",
    "keptntaskdefinitions",
    "keptnevaluationdefinitions",
    "keptnmetrics",
    "keptnmetricsproviders",
)


def _labeller(tick: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"]["tick"] = tick

    return change


async def serve(objects_file: Path) -> None:
    sim = SimCluster(world=False, run_controllers=False, bookmark_interval_s=1.0)
    for plural in KEPTN:
        sim.registry.set_installed(plural, False)
    objects: dict[str, list[dict[str, Any]]] = json.loads(objects_file.read_text())
    for path, items in objects.items():
        plural = path.rsplit("/", 1)[-1]
        for item in items:
            sim.store.create(plural, item)
    sim.faults.malformed_watch_line(resource="namespaces", count=None)
    sim.faults.disconnect_watch(after_events=6, resource="namespaces", count=None)
    url = await sim.start()
    print(f"ready {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tick = 0
    namespace = next(iter(objects.get("/api/v1/namespaces", [])), None)
    while not stop.is_set():
        if namespace is not None:
            tick += 1
            name = str(namespace["metadata"]["name"])
            sim.store.mutate("namespaces", name, None, _labeller(str(tick)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_S)
    await sim.stop()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
