"""The OTLP/HTTP receiver and the CI/CD span mapping (design §5): each emitter's shape, made
with the OpenTelemetry SDK and encoded by its OTLP encoder, becomes the change it says; bad
requests get the status opentelemetry-proto's specification gives, never a 500."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporter.events.external import Change
from exporter.intake import otlp
from exporter.intake.cicd import AppMap
from exporter.intake.endpoints import TokenFile
from exporter.intake.otlp import MAX_IN_FLIGHT, OtlpReceiver, map_request
from exporter.model.engine import DoraModel
from exporter.model.records import AppDeployment, AppKey, Outcome, WorkloadDeployment, WorkloadKey
from exporter.outputs.traces import build_resource, build_spans
from tests.cicd_shapes import EMITTERS, SEND_COMMIT_TIME, Run

SHA = "3f2a9c1d5e6b7a8f90123456789abcdef0123456"
NOW = 1_780_000_000.0
RUN = Run(SHA, NOW - 3600, "acme/web", 4242, NOW - 600, NOW - 300)
PROTOBUF = {"Content-Type": "application/x-protobuf"}
PROVIDERS = {
    "github_receiver": "github",
    "gitlab_receiver": "gitlab",
    "otel_cicd_action": "github",
    "jenkins_otel": "ci",
}


def spans_of(emitter: str, run: Run = RUN) -> list[ReadableSpan]:
    sink = InMemorySpanExporter()
    EMITTERS[emitter](sink, run)
    return list(sink.get_finished_spans())


def request_of(*spans: ReadableSpan) -> ExportTraceServiceRequest:
    return encode_spans(list(spans))


def root_of(spans: list[ReadableSpan]) -> ReadableSpan:
    (root,) = [s for s in spans if s.parent is None]
    return root


@pytest.mark.parametrize("emitter", sorted(EMITTERS))
def test_each_emitter_shape_maps_to_its_change(emitter: str) -> None:
    spans = spans_of(emitter)
    batch = map_request(request_of(*spans), AppMap(), NOW)
    if emitter == "jenkins_legacy":  # no sha, digest or version: cannot match anything
        assert not batch.changes and batch.spans == {"rejected": 1, "ignored": 1}
        assert batch.invalid == {"otlp_no_commit": 1}
        return
    assert batch.spans == {"change": 1, "ignored": 1}, batch.spans  # the job span is not a run
    (change,) = batch.changes
    root = root_of(spans)
    assert change.commit_sha == SHA
    assert change.commit_time == (RUN.commit_time if emitter in SEND_COMMIT_TIME else None)
    assert change.source == "otlp"
    assert change.link == (f"{root.context.trace_id:032x}", f"{root.context.span_id:016x}")
    assert change.run_url is not None and str(RUN.run_id) in change.run_url
    assert change.run_id is not None and str(RUN.run_id) in change.run_id
    assert change.repository is not None and change.repository.endswith("web")
    assert change.run_id.split("/", 1)[0] == PROVIDERS[emitter]


def test_a_pipeline_adds_what_the_emitter_lacks() -> None:
    extra = {
        "vcs.ref.head.revision": SHA,
        "daylight.app": "web",
        "k8s.namespace.name": "shop",
        "daylight.image.digest": "sha256:" + "ab" * 32,
    }  # fmt: skip - table
    run = Run(SHA, RUN.commit_time, "acme/web", 7, NOW - 60, NOW - 30, extra)
    (change,) = map_request(request_of(*spans_of("jenkins_legacy", run)), AppMap(), NOW).changes
    assert (change.commit_sha, change.app, change.namespace) == (SHA, "web", "shop")
    assert change.image_digest == "sha256:" + "ab" * 32
    assert change.run_id == "jenkins/acme/web#7"


def test_no_credentials_of_a_ci_url_reach_a_change() -> None:
    extra = {
        "cicd.pipeline.run.url.full": "https://bot:s3cret@ci.example/runs/9?token=t0k",
        "vcs.repository.url.full": "https://bot:s3cret@git.example/acme/web.git",
    }
    run = Run(SHA, RUN.commit_time, "acme/web", 9, NOW - 60, NOW - 30, extra)
    (change,) = map_request(request_of(*spans_of("jenkins_otel", run)), AppMap(), NOW).changes
    assert change.run_url == "https://ci.example/runs/9"
    assert change.repository == "https://git.example/acme/web"
    assert "s3cret" not in repr(change) and "t0k" not in repr(change)


def test_the_app_map_names_apps_by_service_name_or_repository() -> None:
    apps = AppMap.parse(["web=shop/storefront", "https://gitlab.example/acme/web=front"])
    (github,) = map_request(request_of(*spans_of("github_receiver")), apps, NOW).changes
    assert (github.namespace, github.app) == ("shop", "storefront")  # service.name "web"
    (gitlab,) = map_request(request_of(*spans_of("gitlab_receiver")), apps, NOW).changes
    assert (gitlab.namespace, gitlab.app) == (None, "front")  # by repository URL
    with pytest.raises(ValueError, match="KEY=APP"):
        AppMap.parse(["no-equals-sign"])


def test_our_own_deployment_spans_are_ignored() -> None:
    wd = WorkloadDeployment(
        WorkloadKey("shop", "Deployment", "web"),
        "web",
        AppKey("production", "shop", "web"),
        "1.0",
        "f" * 64,
        "2",
        NOW - 100,
        False,
        finished_at=NOW - 50,
        outcome=Outcome.SUCCEEDED,
        commit_sha=SHA,
    )  # fmt: skip - table
    group = AppDeployment(
        wd.app, NOW - 100, workloads=[wd], outcome=Outcome.SUCCEEDED, finished_at=NOW - 50
    )  # fmt: skip - table
    wd.group = group
    ours = build_spans(group, group.trace_facts, build_resource())
    batch = map_request(request_of(*ours), AppMap(), NOW)
    assert batch.spans == {"own": len(ours)} and not batch.changes


# --- over HTTP -------------------------------------------------------------------------------

Served = tuple[TestClient[web.Request, web.Application], OtlpReceiver]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    receiver = OtlpReceiver(
        DoraModel(), token=TokenFile(token), max_body=1024 * 1024, clock=lambda: NOW
    )  # fmt: skip - table
    async with TestClient(TestServer(receiver.app())) as client:
        yield client, receiver


AUTH = {"Authorization": "Bearer s3cret"}


async def post(
    client: TestClient[web.Request, web.Application], body: bytes, **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    sent = {**AUTH, **PROTOBUF, **{k.replace("_", "-"): v for k, v in headers.items()}}
    async with client.post("/v1/traces", data=body, headers=sent) as response:
        return response.status, await response.read(), dict(response.headers)


def otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """``request`` in OTLP/JSON: protobuf's JSON mapping with hex ids instead of base64."""
    document: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex().upper()  # case-insensitive
    return document


def status_message(body: bytes) -> str:
    status = status_pb2.Status()
    status.ParseFromString(body)
    return str(status.message)


async def test_protobuf_json_and_gzip_are_accepted(served: Served) -> None:
    client, receiver = served
    spans = spans_of("gitlab_receiver")
    raw = request_of(*spans).SerializeToString()
    code, body, headers = await post(client, raw)
    assert code == 200 and headers["Content-Type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse()
    response.ParseFromString(body)
    assert not response.HasField("partial_success")
    assert (await post(client, gzip.compress(raw), Content_Encoding="gzip"))[0] == 200
    # OTLP/JSON as the specification has it: hex ids, integer enums
    action = spans_of("otel_cicd_action")
    document = otlp_json(request_of(*action))
    code, body, headers = await post(
        client, json.dumps(document).encode(), Content_Type="application/json"
    )  # fmt: skip - table
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {}
    root = root_of(action)
    linked = {c.link for _, c in receiver.model.pending_changes}
    assert (f"{root.context.trace_id:032x}", f"{root.context.span_id:016x}") in linked
    assert receiver.spans["change"] == 3 and receiver.requests["200"] == 3
    # the gzip copy repeated the first request: one change, counted as a duplicate
    assert receiver.model.stats.ci_changes[("otlp", "duplicate")] == 1


async def test_malformed_requests_get_the_specified_status(served: Served) -> None:
    client, receiver = served
    raw = request_of(*spans_of("gitlab_receiver")).SerializeToString()
    invalid = receiver.model.stats.invalid

    code, body, _ = await post(client, raw[: len(raw) // 2])  # truncated protobuf
    assert code == 400 and "protobuf" in status_message(body)
    code, body, _ = await post(client, raw, Content_Type="text/plain")
    assert code == 415 and "Content-Type" in status_message(body)
    code, _, _ = await post(client, b"{not json", Content_Type="application/json")
    assert code == 400
    code, _, _ = await post(client, b'{"resourceSpans": 7}', Content_Type="application/json")
    assert code == 400
    bomb = gzip.compress(b"\0" * (30 * 1024 * 1024))  # 30 MiB of zeros in ~30 KiB
    assert len(bomb) < 64 * 1024
    code, body, _ = await post(client, bomb, Content_Encoding="gzip")
    assert code == 413 and "inflated" in status_message(body)
    assert (await post(client, b"\0" * (1024 * 1024 + 1)))[0] == 413
    assert (await post(client, b"not gzip", Content_Encoding="gzip"))[0] == 400
    assert (await post(client, raw, Content_Encoding="br"))[0] == 400  # aiohttp's own answer
    assert (await post(client, raw, Authorization="Bearer wrong"))[0] == 401
    assert invalid["otlp_protobuf"] == 1 and invalid["otlp_content_type"] == 1
    assert invalid["otlp_json"] == 2 and invalid["otlp_too_large"] == 2
    assert invalid["otlp_gzip"] == 1
    assert invalid["unauthorized"] == 1
    assert not receiver.model.pending_changes
    assert "500" not in receiver.requests
    assert (await post(client, b""))[0] == 200  # an empty request succeeds


async def test_ids_of_the_wrong_length_are_rejected_spans(served: Served) -> None:
    client, receiver = served
    request = request_of(*spans_of("gitlab_receiver"), *spans_of("otel_cicd_action"))
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x01" * 8
    spans[1].span_id = b"\x02" * 9
    code, body, _ = await post(client, request.SerializeToString())
    assert code == 200
    response = ExportTraceServiceResponse()
    response.ParseFromString(body)
    assert response.partial_success.rejected_spans == 2
    assert "otlp_span_id" in response.partial_success.error_message
    assert receiver.model.stats.invalid["otlp_span_id"] == 2
    assert receiver.spans["change"] == 1  # the other emitter's run still counts
    # OTLP/JSON ids that are not hex (base64 by mistake) are rejected the same way
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "AAECAwQFBgcICQoLDA0ODw==",
                                "spanId": "AAECAwQFBgc=",
                                "name": "x",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    code, body, _ = await post(
        client, json.dumps(document).encode(), Content_Type="application/json"
    )  # fmt: skip - table
    assert code == 200 and json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"


async def test_a_hundred_thousand_spans_in_one_request(served: Served) -> None:
    client, receiver = served
    receiver.max_body = 20 * 1024 * 1024
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for index in range(100_000):
        span = spans.add()
        span.trace_id = (index + 1).to_bytes(16, "big")
        span.span_id = (index + 1).to_bytes(8, "big")
        span.name = "GET /"
    raw = request.SerializeToString()
    assert len(raw) < receiver.max_body
    started = time.monotonic()
    code, body, _ = await post(client, raw)
    took = time.monotonic() - started
    assert code == 200 and body == b""  # full success: nothing to say
    assert receiver.spans["ignored"] == 100_000
    assert took < 60, took


async def test_a_full_queue_and_a_starting_exporter_ask_to_retry(served: Served) -> None:
    client, receiver = served
    raw = request_of(*spans_of("gitlab_receiver")).SerializeToString()
    receiver.in_flight = MAX_IN_FLIGHT
    code, _, headers = await post(client, raw)
    assert code == 429 and headers["Retry-After"] == str(otlp.RETRY_AFTER_BUSY_S)
    receiver.in_flight = 0
    receiver.ready = lambda: False
    code, _, headers = await post(client, raw)
    assert code == 503 and headers["Retry-After"] == str(otlp.RETRY_AFTER_STARTING_S)
    receiver.ready = lambda: True
    assert (await post(client, raw))[0] == 200
    assert isinstance(receiver.model.pending_changes[0][1], Change)
