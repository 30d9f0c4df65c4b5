"""OTLP intake benchmark: CI/CD spans decoded, mapped and matched, against merely parsing.

Run from the repository root::

    .venv/bin/python -m tests.bench.otlp [--json] [--requests N] [--spans N] [--apps N]

One run measures, side by side on the same request bodies:

1. **ours**: what the receiver does with a request body (exporter/intake/otlp.py): decode
   (protobuf, or OTLP/JSON with its hex ids), read every span's attributes, map the pipeline
   runs to changes (exporter/intake/cicd.py) and apply them to a ``DoraModel`` that watched
   ``--apps`` rollouts, so changes are matched against real deployments;
2. **the baseline**: ``ExportTraceServiceRequest.FromString(body)`` for protobuf, and
   ``json_format.Parse`` for JSON (which reads the hex ids as base64: merely parsing), from
   ``opentelemetry-proto``;
3. over HTTP: the same protobuf requests POSTed to the receiver on a loopback aiohttp server
   (read, decode in a worker thread, apply), one request at a time.

The requests look like a Collector forwarding CI/CD traffic: per pipeline run a root span (the
five emitter shapes of tests/cicd_shapes.py, by turns) and its job and step spans, plus
unrelated application spans that the receiver must skip. Best of 3 repetitions; protobuf and
JSON in separate passes (one's garbage is not collected on the other's time), ours and the
baseline interleaved request by request so load from other processes hits both alike; each
repetition applies to a fresh model (a model that already holds a change counts the next
delivery as a duplicate). The result is a measurement, not a test: the exit code is 0 even
when a target is missed. The JSON result is also written to tests/bench/results/otlp.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.protobuf
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporter.events.envelope import ObjectEvent
from exporter.intake.cicd import AppMap
from exporter.intake.otlp import OtlpReceiver, decode_and_map
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from tests.cicd_shapes import EMITTERS, Run
from tests.scenario import T0, Deployment, Log, namespace, pod_template

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "otlp.json"
SEED = 20261201
NOW = T0.timestamp() + 86400.0
# Set from the traffic a CI intake sees, not from the first measurement: a busy organisation
# runs ~1000 pipelines a minute of ~50 spans each, under 1000 spans/s; 5000/s over HTTP leaves
# five times that. The ratios bound the overhead over parsing alone (upb's protobuf parser
# builds no Python objects, so reading attributes at all costs a multiple of it).
TARGETS = {
    "ratio_protobuf_vs_proto_parse": (">=", 0.02),
    "ratio_json_vs_json_format_parse": (">=", 0.5),
    "http_spans_per_s": (">=", 5_000.0),
}
PROTOBUF, JSON = "application/x-protobuf", "application/json"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the inputs


def build_model(apps: int, shas: list[str], path: Path) -> DoraModel:
    """A model that watched ``apps`` Deployments roll out an image tagged with a short sha."""
    log_ = Log()
    log_.emit(0, "ADDED", namespace("shop", 0, "production"))
    for index in range(apps):
        name = f"svc-{index:04d}"
        labels = {"app": name, "app.kubernetes.io/name": name}
        d = Deployment(log_, "shop", name, {}, at=0)
        d.set_template(0, pod_template(f"registry.example/{name}:0", labels))
        d.controller_rolls(1, f"{index:010x}")
        d.complete(10)
        d.set_template(100, pod_template(f"registry.example/{name}:{shas[index][:7]}", labels))
        d.controller_rolls(101, f"{index + apps:010x}")
        d.complete(130)
    model = DoraModel()
    for event in eventlog.read(log_.write(path)):
        if isinstance(event, ObjectEvent):
            model.apply(event)
    return model


def app_spans(rng: random.Random, count: int) -> list[ReadableSpan]:
    """Unrelated application spans a shared Collector also forwards (skipped by us)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    sink = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(sink))
    tracer = provider.get_tracer("app")
    for _ in range(count):
        with tracer.start_as_current_span(
            "GET /cart",
            attributes={
                "http.request.method": "GET",
                "http.route": "/cart",
                "http.response.status_code": rng.choice((200, 404, 500)),
            },
        ):  # fmt: skip - one span's attributes
            pass
    return list(sink.get_finished_spans())


@dataclass
class Corpus:
    protobuf: list[bytes]
    json: list[bytes]
    spans: int
    runs: int


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping with hex ids and integer enums."""
    import base64

    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def build_corpus(requests: int, spans_per_request: int, shas: list[str]) -> Corpus:
    rng = random.Random(SEED)
    emitters = list(EMITTERS.values())
    protobuf, as_json = [], []
    total = runs = 0
    for index in range(requests):
        sink = InMemorySpanExporter()
        # a few pipeline runs per request (2 spans each), the rest application spans
        for turn in range(max(1, spans_per_request // 50)):
            sha = shas[(index * 7 + turn) % len(shas)]
            run = Run(sha, NOW - 7200, f"acme/svc-{turn}", index * 100 + turn, NOW - 600, NOW - 60)
            emitters[(index + turn) % len(emitters)](sink, run)
            runs += 1
        spans = list(sink.get_finished_spans())
        spans += app_spans(rng, max(0, spans_per_request - len(spans)))
        request = encode_spans(spans)
        protobuf.append(request.SerializeToString())
        as_json.append(otlp_json(request))
        total += len(spans)
    return Corpus(protobuf, as_json, total, runs)


# --------------------------------------------------------------------------- measuring


def measure(corpus: Corpus, apps: int, shas: list[str], tmp: Path) -> dict[str, Any]:
    best: dict[str, float] = {}
    matched = 0
    for repetition in range(3):
        models = {m: build_model(apps, shas, tmp / f"m{repetition}{m}.jsonl") for m in ("p", "j")}
        times = dict.fromkeys(("ours_pb", "base_pb", "ours_json", "base_json"), 0.0)
        # protobuf and JSON in separate passes: JSON's garbage must not be collected on
        # protobuf's time; within a pass ours and the baseline alternate request by request
        gc.collect()
        for pb in corpus.protobuf:
            t0 = time.perf_counter()
            _ours(pb, PROTOBUF, models["p"])
            t1 = time.perf_counter()
            ExportTraceServiceRequest.FromString(pb)
            t2 = time.perf_counter()
            times["ours_pb"] += t1 - t0
            times["base_pb"] += t2 - t1
        gc.collect()
        for js in corpus.json:
            t0 = time.perf_counter()
            _ours(js, JSON, models["j"])
            t1 = time.perf_counter()
            json_format.Parse(js, ExportTraceServiceRequest(), ignore_unknown_fields=True)
            t2 = time.perf_counter()
            times["ours_json"] += t1 - t0
            times["base_json"] += t2 - t1
        for key, value in times.items():
            best[key] = min(best.get(key, value), value)
        matched = sum(
            1 for ledger in models["p"].apps.values() if ledger.live_groups[-1].commit_time
        )
        log(f"repetition {repetition + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in times.items()))
    rate = {k: corpus.spans / v for k, v in best.items()}
    return {
        "spans_per_s_protobuf": round(rate["ours_pb"]),
        "proto_parse_spans_per_s": round(rate["base_pb"]),
        "ratio_protobuf_vs_proto_parse": round(rate["ours_pb"] / rate["base_pb"], 3),
        "spans_per_s_json": round(rate["ours_json"]),
        "json_format_parse_spans_per_s": round(rate["base_json"]),
        "ratio_json_vs_json_format_parse": round(rate["ours_json"] / rate["base_json"], 3),
        "deployments_given_a_lead_time": matched,
    }


def _ours(body: bytes, media: str, model: DoraModel) -> None:
    batch = decode_and_map(body, media, AppMap(), NOW)
    for change in batch.changes:
        model.apply_change(change, NOW)


async def _over_http(corpus: Corpus, model: DoraModel) -> float:
    receiver = OtlpReceiver(model, clock=lambda: NOW, max_body=64 * 1024 * 1024)
    async with TestClient(TestServer(receiver.app())) as client:
        started = time.perf_counter()
        for body in corpus.protobuf:
            async with client.post(
                "/v1/traces", data=body, headers={"Content-Type": PROTOBUF}
            ) as response:
                assert response.status == 200, response.status
                await response.read()
        return time.perf_counter() - started


def measure_http(corpus: Corpus, apps: int, shas: list[str], tmp: Path) -> dict[str, Any]:
    best = min(
        asyncio.run(_over_http(corpus, build_model(apps, shas, tmp / f"h{r}.jsonl")))
        for r in range(3)
    )
    return {
        "http_spans_per_s": round(corpus.spans / best),
        "http_requests_per_s": round(len(corpus.protobuf) / best, 1),
    }  # fmt: skip - two figures


def targets(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = result[key]
        ok = value >= bound if op == ">=" else value <= bound
        out[key] = {"target": f"{op} {bound:g}", "value": value, "pass": ok}
    return out


def summary(r: dict[str, Any]) -> str:
    mark = {True: "PASS", False: "MISS"}
    lines = [
        f"Daylight OTLP intake benchmark: {r['requests']} requests, {r['spans']} spans, "
        f"{r['pipeline_runs']} pipeline runs, {r['apps']} deployments to match",
        f"  protobuf: {r['spans_per_s_protobuf']:>9,} spans/s decoded+matched; parsing alone "
        f"{r['proto_parse_spans_per_s']:,}/s",
        f"  json:     {r['spans_per_s_json']:>9,} spans/s decoded+matched; json_format alone "
        f"{r['json_format_parse_spans_per_s']:,}/s",
        f"  http:     {r['http_spans_per_s']:>9,} spans/s through the receiver",
        f"  deployments given a lead time: {r['deployments_given_a_lead_time']}",
    ]
    for key, t in r["targets"].items():
        lines.append(f"  [{mark[t['pass']]}] {key} = {t['value']} (target {t['target']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--requests", type=int, default=200, help="requests in the corpus")
    parser.add_argument("--spans", type=int, default=500, help="spans per request")
    parser.add_argument("--apps", type=int, default=200, help="deployments in the model")
    args = parser.parse_args(argv)
    # the corpus has a Jenkins legacy run per few requests: its rejection is logged, not news
    logging.getLogger("daylight").setLevel(logging.ERROR)
    wall = time.perf_counter()
    load_start = round(os.getloadavg()[0], 2)
    rng = random.Random(SEED)
    shas = [f"{rng.getrandbits(160):040x}" for _ in range(args.apps)]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log("corpus ...")
        corpus = build_corpus(args.requests, args.spans, shas)
        log("decode and match vs parse ...")
        result: dict[str, Any] = {
            "benchmark": "otlp",
            "requests": args.requests,
            "spans": corpus.spans,
            "pipeline_runs": corpus.runs,
            "apps": args.apps,
            "protobuf_bytes": sum(map(len, corpus.protobuf)),
            "json_bytes": sum(map(len, corpus.json)),
            **measure(corpus, args.apps, shas, tmp),
        }
        log("over HTTP ...")
        result.update(measure_http(corpus, args.apps, shas, tmp))
    result.update(
        {
            "seed": SEED,
            "cpus": os.cpu_count(),
            "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
            "versions": {
                "python": platform.python_version(),
                "protobuf": google.protobuf.__version__,
            },
        }
    )
    result["targets"] = targets(result)
    result["all_targets_pass"] = all(t["pass"] for t in result["targets"].values())
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
