"""POST /api/v1/changes and /api/v1/alerts through a real aiohttp server."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from exporter.events.envelope import ObjectEvent
from exporter.intake.endpoints import Intake, TokenFile
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from tests.scenario import T0, ts
from tests.unit.test_failures import build_failure_log

Served = tuple[TestClient[web.Request, web.Application], DoraModel, Path]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    model = DoraModel()
    path = build_failure_log().write(tmp_path / "log.jsonl")
    for event in eventlog.read(path):
        if isinstance(event, ObjectEvent):
            model.apply(event)
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    app = web.Application(client_max_size=2 * 1024 * 1024)
    now = T0.timestamp() + 4000
    Intake(model, TokenFile(token), clock=lambda: now).register(app)
    async with TestClient(TestServer(app)) as client:
        yield client, model, token


AUTH = {"Authorization": "Bearer s3cret"}


async def test_token_is_required_and_rotation_is_honoured(served: Served) -> None:
    client, model, token = served
    body = {"commit_sha": "abcdef1", "commit_time": ts(10), "version": "1.2"}
    response = await client.post("/api/v1/changes", json=body)
    assert response.status == 401
    assert model.stats.invalid["unauthorized"] == 1
    token.write_text("rotated")
    os.utime(token, (1, 1))
    assert (await client.post("/api/v1/changes", json=body, headers=AUTH)).status == 401
    ok = await client.post(
        "/api/v1/changes", json=body, headers={"Authorization": "Bearer rotated"}
    )
    assert ok.status == 202
    assert (await ok.json())["matched"] == 1  # the 1.2 deployment had no commit time


async def test_bad_payloads_get_400_with_a_reason(served: Served) -> None:
    client, model, _ = served
    cases = [
        (b"{not json", "malformed_json"),
        (json.dumps({"commit_sha": "zz", "commit_time": ts(0)}).encode(), "commit_sha"),
        (json.dumps({"commit_sha": "abcdef1", "commit_time": "2199-01-01T00:00:00Z"}).encode(),
         "commit_time_future"),
        (json.dumps({"commit_sha": "abcdef1", "commit_time": 12}).encode(), "commit_time_too_old"),
        (json.dumps({"commit_sha": "abcdef1", "commit_time": ts(0), "app": "a\"b"}).encode(),
         "change_field"),
        (json.dumps([1, 2]).encode(), "change_body"),
    ]  # fmt: skip  # a table
    for raw, reason in cases:
        response = await client.post("/api/v1/changes", data=raw, headers=AUTH)
        assert response.status == 400, reason
        assert (await response.json())["reason"] == reason
        assert model.stats.invalid[reason] == 1
    big = b'{"commit_sha": "' + b"a" * (1024 * 1024) + b'"}'
    assert (await client.post("/api/v1/changes", data=big, headers=AUTH)).status == 413


async def test_alertmanager_webhook(served: Served) -> None:
    client, model, _ = served
    payload = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "Down", "namespace": "shop",
                                        "app_kubernetes_io_name": "api"}, "fingerprint": "aa"},
        {"status": "firing", "labels": {"alertname": "Other", "namespace": "nowhere",
                                        "app": "ghost"}, "fingerprint": "bb"},
    ]}  # fmt: skip  # a table
    response = await client.post("/api/v1/alerts", json=payload, headers=AUTH)
    assert response.status == 202
    assert (await response.json())["matched"] == 1
    assert model.stats.invalid["unmatched_alert"] == 1
    bad = await client.post("/api/v1/alerts", json={"alerts": [{"status": "maybe"}]}, headers=AUTH)
    assert bad.status == 400
