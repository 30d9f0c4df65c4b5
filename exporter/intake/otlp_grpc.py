"""OTLP/gRPC traces receiver (``--otlp-grpc-listen``, the ``grpc`` extra: grpcio).

The same mapping and model path as the OTLP/HTTP receiver (exporter/intake/otlp.py): a
``TraceService/Export`` request is mapped in a worker thread and its changes applied on the
event loop. Status codes as opentelemetry-proto's specification gives them for gRPC: OK with
``partial_success`` for pipeline runs it could not use, ``INVALID_ARGUMENT`` for a request
gRPC could not decode, ``RESOURCE_EXHAUSTED`` over ``--otlp-max-body`` (gRPC's own receive
limit) or when four requests are in flight, ``UNAVAILABLE`` before the first sync (both
retryable), ``UNAUTHENTICATED`` without the bearer token (metadata ``authorization``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from exporter.intake.otlp import MAX_IN_FLIGHT, OtlpReceiver, map_request

log = logging.getLogger("daylight.otlp")
Context = grpc.aio.ServicerContext[ExportTraceServiceRequest, ExportTraceServiceResponse]


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def _authorized(self, context: Context) -> bool:
        token = self.receiver.token
        if token is None:
            return True
        expected = token.current()
        metadata = dict(context.invocation_metadata() or ())
        given = str(metadata.get("authorization", "")).encode()
        return bool(expected) and hmac.compare_digest(given, f"Bearer {expected}".encode())

    async def _refuse(
        self, context: Context, code: grpc.StatusCode, reason: str, text: str
    ) -> ExportTraceServiceResponse:
        receiver = self.receiver
        receiver.requests[f"grpc_{code.name.lower()}"] += 1
        if reason:
            receiver.model.stats.invalid[reason] += 1
            receiver.logs.warning(reason, "rejected OTLP/gRPC request (%s): %s", reason, text)
        await context.abort(code, text)
        raise AssertionError("abort returns only by raising")  # pragma: no cover

    async def Export(
        self, request: ExportTraceServiceRequest, context: Context
    ) -> ExportTraceServiceResponse:
        receiver = self.receiver
        if not self._authorized(context):
            return await self._refuse(
                context, grpc.StatusCode.UNAUTHENTICATED, "unauthorized", "bearer token needed"
            )
        if not receiver.ready():
            return await self._refuse(
                context, grpc.StatusCode.UNAVAILABLE, "", "starting: the cluster is not synced"
            )
        if receiver.in_flight >= MAX_IN_FLIGHT:
            return await self._refuse(
                context, grpc.StatusCode.RESOURCE_EXHAUSTED, "", "too many in flight"
            )
        receiver.in_flight += 1
        try:
            now = receiver.clock()
            batch = await asyncio.to_thread(map_request, request, receiver.apps, now)
        finally:
            receiver.in_flight -= 1
        receiver.apply(batch, now)
        response = ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_spans = batch.rejected
            response.partial_success.error_message = batch.error_message
        receiver.requests["grpc_ok"] += 1
        return response


async def serve_grpc(receiver: OtlpReceiver, listen: str) -> grpc.aio.Server:
    """Start the gRPC server on ``listen`` (HOST:PORT); stop it with ``await server.stop(1)``."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", receiver.max_body),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
    add(_TraceService(receiver), server)  # type: ignore[no-untyped-call]  # generated code
    if server.add_insecure_port(listen) == 0:
        raise OSError(f"cannot bind {listen}")
    await server.start()
    return server
