"""Cardinality caps and a report that never stalls the event loop, at 20,000 apps.

With the default caps a scrape stays under 50,000 series and 10 MB however many apps there
are; what is left out is counted (series and apps); an app is kept or dropped whole. While
``GET /api/v1/dora`` builds a large page, ``/healthz`` keeps answering (the render and the
report yield to the loop, the JSON is encoded in a thread). Latencies are measured by
``tests/bench/caps.py``, not asserted here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp import test_utils, web

from exporter.app.cli import build_parser
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.objects import ReplicaSet, Workload
from exporter.model.engine import DoraModel
from exporter.outputs import selfmetrics
from exporter.outputs.http import HttpApi
from exporter.outputs.metrics import MetricsRenderer

NOW = 1_767_225_600.0  # 2026-01-01
LATER = NOW + 3 * 3600.0  # after every live deployment
DAY = 86400.0


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


_encode = msgspec.json.Encoder().encode
_decode_rs = msgspec.json.Decoder(ReplicaSet).decode
_decode_wl = msgspec.json.Decoder(Workload).decode


def _objects(
    n: int, namespace: str, name: str, app: str, version: str, revision: int, at: float
) -> tuple[ReplicaSet, Workload]:
    labels = {"app.kubernetes.io/part-of": app, "app.kubernetes.io/name": name}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "main", "image": f"registry/{name}:{version}"}]},
    }
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    rs = {
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{revision}",
            "namespace": namespace,
            "uid": f"rs-{n}-{revision}",
            "creationTimestamp": _iso(at),
            "annotations": annotations,
            "ownerReferences": [
                {"kind": "Deployment", "name": name, "uid": f"uid-{n}", "controller": True}
            ],
        },
        "spec": {"replicas": 1, "template": template},
    }
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{n}",
            "generation": revision,
            "creationTimestamp": _iso(NOW - 30 * DAY),
            "annotations": annotations,
        },
        "spec": {"replicas": 1, "template": template},
        "status": {
            "observedGeneration": revision,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
        },
    }
    return _decode_rs(_encode(rs)), _decode_wl(_encode(deployment))


def populate(model: DoraModel, apps: int, workloads_in_one: int = 100) -> None:
    """``apps`` apps of one Deployment each, plus one app of ``workloads_in_one``: each
    with a deployment in history (listed at start-up) and one watched live, so every
    family — workload-level ones included — has series."""
    specs = [(f"ns{i % 50}", f"app{i}", f"app{i}") for i in range(apps)]
    specs += [("big", f"w{j}", "big") for j in range(workloads_in_one)]
    listed = [
        _objects(n, *spec, "1.0", 1, NOW - DAY * (2 + n % 20)) for n, spec in enumerate(specs)
    ]
    for rs, _ in listed:
        model.apply(ObjectEvent(NOW, EventType.ADDED, rs, True))
    for _, deployment in listed:
        model.apply(ObjectEvent(NOW, EventType.ADDED, deployment, True))
    model.settle()
    for n, spec in enumerate(specs):
        at = NOW + 60 + n * 0.01
        rs, deployment = _objects(n, *spec, "2.0", 2, at)
        model.apply(ObjectEvent(at, EventType.ADDED, rs))
        model.apply(ObjectEvent(at + 20, EventType.MODIFIED, deployment))


@pytest.fixture(scope="module")
def big_model() -> DoraModel:
    model = DoraModel()
    populate(model, 20_000)
    assert len(model.apps) == 20_001
    return model


def samples(body: bytes) -> list[bytes]:
    return [line for line in body.splitlines() if line and not line.startswith(b"#")]


def test_default_caps_keep_a_scrape_under_50k_series_and_10_mb(big_model: DoraModel) -> None:
    args = build_parser().parse_args(["run"])
    renderer = MetricsRenderer(big_model, max_apps=args.max_apps, max_series=args.max_series)
    body = renderer.render(LATER)
    lines = samples(body)
    assert len(lines) < 50_000 and len(body) < 10 * 1024 * 1024
    assert renderer.series == len(lines) <= args.max_series
    kept_apps = {line.split(b'app="', 1)[1].split(b'"', 1)[0] for line in lines}
    assert renderer.dropped_apps == len(big_model.apps) - len(kept_apps) > 0
    assert renderer.dropped_series > 1_000_000  # ~70 series per app left out, counted
    registry = selfmetrics.build_registry([selfmetrics.Cardinality(renderer)], process=False)
    exposed = dict(
        line.split()
        for line in selfmetrics.render_self(registry).decode().splitlines()
        if not line.startswith("#")
    )
    assert float(exposed["daylight_dropped_apps"]) == renderer.dropped_apps
    assert float(exposed["daylight_dropped_series"]) == renderer.dropped_series


def test_an_app_is_kept_or_dropped_whole() -> None:
    model = DoraModel()
    populate(model, 3, workloads_in_one=100)  # "big" has 100 workloads: ~1,700 series
    whole = MetricsRenderer(model).render(LATER)
    big = sum(1 for line in samples(whole) if b'app="big"' in line)
    assert big > 1_500  # workload-level families count
    capped = MetricsRenderer(model, max_series=1_000)
    body = capped.render(LATER)
    assert not any(b'app="big"' in line for line in samples(body))
    assert capped.dropped_apps == 1 and capped.dropped_series == big
    assert capped.series == len(samples(body)) and capped.series > 0  # the small ones fit


@pytest.fixture
async def served(
    big_model: DoraModel,
) -> AsyncIterator[test_utils.TestClient[web.Request, web.Application]]:
    renderer = MetricsRenderer(big_model)
    registry = selfmetrics.build_registry([selfmetrics.Cardinality(renderer)], process=False)
    api = HttpApi(big_model, renderer, registry, lambda: (True, []), clock=lambda: LATER)
    client = test_utils.TestClient(test_utils.TestServer(api.app()))
    await client.start_server()
    yield client
    await client.close()


async def test_healthz_answers_while_a_big_report_is_built(
    served: test_utils.TestClient[web.Request, web.Application],
) -> None:
    answered = 0

    async def poll() -> None:
        nonlocal answered
        while True:
            async with served.get("/healthz") as response:
                assert response.status == 200
            answered += 1
            await asyncio.sleep(0.005)

    poller = asyncio.create_task(poll())
    await asyncio.sleep(0.02)
    before = answered
    async with served.get("/api/v1/dora", params={"limit": "5000"}) as response:
        assert response.status == 200
        report = json.loads(await response.read())
    poller.cancel()
    await asyncio.gather(poller, return_exceptions=True)
    assert len(report["apps"]) == 5000 and report["next"]
    assert answered - before >= 3  # /healthz was served while the page was built


async def test_the_report_is_paged_and_filtered(
    served: test_utils.TestClient[web.Request, web.Application],
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params = {"limit": "7", "namespace": "ns3"}
        if cursor:
            params["after"] = cursor
        async with served.get("/api/v1/dora", params=params) as response:
            page = json.loads(await response.read())
        assert {a["namespace"] for a in page["apps"]} == {"ns3"}
        seen += [a["app"] for a in page["apps"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 21  # pages never overlap
    for bad in ({"limit": "0"}, {"limit": "x"}, {"after": "not-a-cursor"}, {"app": "a\\nb"}):
        async with served.get("/api/v1/dora", params=bad) as response:
            assert response.status == 400, bad
