"""OTLP/gRPC in (the grpc extra): the SDK's own gRPC exporter sends CI/CD runs to our
TraceService; the token, the size cap and partial success as over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult

from exporter.intake.endpoints import TokenFile
from exporter.intake.otlp import OtlpReceiver
from exporter.intake.otlp_grpc import serve_grpc
from exporter.model.engine import DoraModel
from tests.e2e.exporter import free_port
from tests.unit.test_otlp import NOW, SHA, spans_of

Served = tuple[str, OtlpReceiver]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    token = tmp_path / "token"
    token.write_text("s3cret")
    receiver = OtlpReceiver(
        DoraModel(), token=TokenFile(token), max_body=256 * 1024, clock=lambda: NOW
    )  # fmt: skip - one constructor
    address = f"127.0.0.1:{free_port()}"
    server = await serve_grpc(receiver, address)
    try:
        yield address, receiver
    finally:
        await server.stop(1)


async def test_the_sdk_grpc_exporter_delivers_runs(served: Served) -> None:
    address, receiver = served
    auth = {"authorization": "Bearer s3cret"}
    exporter = OTLPSpanExporter(endpoint=f"http://{address}", insecure=True, headers=auth)
    result = await asyncio.to_thread(exporter.export, spans_of("gitlab_receiver"))
    exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    (change,) = [c for _, c in receiver.model.pending_changes]
    assert change.commit_sha == SHA and change.commit_time is not None
    assert receiver.requests["grpc_ok"] == 1 and receiver.spans == {"change": 1, "ignored": 1}


async def test_status_codes_for_token_size_and_unusable_spans(served: Served) -> None:
    address, receiver = served
    async with grpc.aio.insecure_channel(address) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated code
        request = encode_spans(spans_of("gitlab_receiver") + spans_of("jenkins_legacy"))
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.Export(request)
        assert denied.value.code() is grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", "Bearer s3cret"),)
        response: ExportTraceServiceResponse = await stub.Export(request, metadata=auth)
        assert response.partial_success.rejected_spans == 1  # Jenkins legacy: no sha
        assert "otlp_no_commit" in response.partial_success.error_message
        big = encode_spans(spans_of("gitlab_receiver"))
        big.resource_spans[0].resource.attributes.add(key="x").value.string_value = "y" * 300_000
        with pytest.raises(grpc.aio.AioRpcError) as too_big:
            await stub.Export(big, metadata=auth)
        assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        receiver.ready = lambda: False
        with pytest.raises(grpc.aio.AioRpcError) as starting:
            await stub.Export(request, metadata=auth)
        assert starting.value.code() is grpc.StatusCode.UNAVAILABLE
    assert receiver.model.stats.invalid["unauthorized"] == 1
