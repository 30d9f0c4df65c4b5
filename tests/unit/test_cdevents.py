"""POST /api/v1/cdevents, fed by the cloudevents package's own encoders (binary and structured
mode): each CDEvent type changes the report as the README says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from exporter.events.envelope import ObjectEvent
from exporter.intake.cdevents import CdEventsIntake
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from exporter.outputs.report import build_report
from tests.scenario import T0, Deployment, Log, namespace, pod_of, pod_template

SHA = "3f2a9c1d5e6b7a8f90123456789abcdef0123456"
FN_SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
FN_DIGEST = "sha256:" + "cd" * 32
LABELS = {"app": "api", "app.kubernetes.io/name": "api"}

Served = tuple[TestClient[web.Request, web.Application], DoraModel]


def at(seconds: float) -> float:
    return T0.timestamp() + seconds


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A cluster where api 1.0 rolled out (pods with DIGEST) at 100-130 s; now is 400 s."""
    log = Log()
    log.emit(0, "ADDED", namespace("shop", 0, "production"))
    d = Deployment(log, "shop", "api", {}, at=0)
    d.set_template(0, pod_template("registry.example/api:0.9", LABELS))
    d.controller_rolls(1, "a000000001")
    d.complete(20)
    d.set_template(100, pod_template("registry.example/api:1.0", LABELS))
    d.controller_rolls(101, "a000000002")
    log.emit(105, "ADDED", pod_of(d, "a000000002", 0, 105, digest=DIGEST))
    d.complete(130)
    model = DoraModel()
    for event in eventlog.read(log.write(tmp_path / "log.jsonl")):
        if isinstance(event, ObjectEvent):
            model.apply(event)
    app = web.Application()
    CdEventsIntake(model, clock=lambda: at(400)).register(app)
    async with TestClient(TestServer(app)) as client:
        yield client, model


def cdevent(kind: str, seconds: float, subject: dict[str, Any], event_id: str) -> CloudEvent:
    """A CDEvent (spec 0.4) as a CloudEvent: the type's version, context and subject."""
    ce_type = f"dev.cdevents.{kind}.0.2.0"
    when = datetime.fromtimestamp(at(seconds), tz=UTC)
    data = {
        "context": {
            "version": "0.4.1",
            "id": event_id,
            "source": "/ci",
            "type": ce_type,
            "timestamp": when.isoformat(),
        },
        "subject": subject,
    }  # fmt: skip - nested
    attributes = {
        "type": ce_type,
        "source": "/ci",
        "id": event_id,
        "time": when,
        "datacontenttype": "application/json",
    }  # fmt: skip - one per attribute
    return CloudEvent(attributes, data)


async def send(
    client: TestClient[web.Request, web.Application], message: HTTPMessage
) -> tuple[int, dict[str, Any]]:
    async with client.post("/api/v1/cdevents", data=message.body, headers=message.headers) as r:
        return r.status, await r.json()


def deployments(model: DoraModel, app: str) -> list[dict[str, Any]]:
    report = build_report(model, at(4000))
    return [d for d in report["app_deployments"] if d["app"] == app]


async def test_merged_and_published_give_the_lead_time_of_a_cluster_deployment(
    served: Served,
) -> None:
    client, model = served
    fmt = JSONFormat()
    published = cdevent(
        "artifact.published",
        90,
        {
            "id": f"pkg:oci/api@{DIGEST}",
            "content": {"change": {"id": SHA, "source": "git.example/acme/api"}},
        },
        "e1",
    )  # fmt: skip - nested
    status, body = await send(client, to_binary(published, fmt))  # binary mode
    assert (status, body["matched"]) == (202, 0)  # matched by digest, but no commit time yet
    assert deployments(model, "api")[-1]["lead_time_seconds"] is None
    merged = cdevent(
        "change.merged",
        30,
        {
            "id": SHA,
            "content": {"repository": {"id": "acme/api", "source": "git.example/acme/api"}},
        },
        "e2",
    )  # fmt: skip - nested
    status, body = await send(client, to_structured(merged, fmt))  # structured mode
    assert (status, body["matched"]) == (202, 1)
    (_, latest) = deployments(model, "api")
    assert latest["lead_time_seconds"] == 100.0  # finished 130 s, merged 30 s
    assert latest["workloads"][0]["commit_sha"] == SHA
    assert dict(model.stats.apps[next(iter(model.apps))].lead_time_sources) == {"cdevents": 1}
    # the same CloudEvent delivered again is one change
    assert (await send(client, to_structured(merged, fmt)))[0] == 202
    assert model.stats.ci_changes[("cdevents", "duplicate")] == 1


async def test_services_outside_the_cluster_count_as_app_deployments(served: Served) -> None:
    client, model = served
    fmt = JSONFormat()
    env = {"id": "production", "source": "/envs"}
    merged = cdevent("change.merged", 200, {"id": FN_SHA}, "m1")
    await send(client, to_binary(merged, fmt))
    await send(
        client,
        to_binary(
            cdevent(
                "artifact.packaged",
                240,
                {"id": f"pkg:oci/billing@{FN_DIGEST}", "content": {"change": {"id": FN_SHA}}},
                "p1",
            ),
            fmt,
        ),
    )
    deployed = cdevent(
        "service.deployed",
        300,
        {
            "id": "service/billing",
            "content": {"environment": env, "artifactId": f"pkg:oci/billing@{FN_DIGEST}?tag=2.0"},
        },
        "d1",
    )
    status, body = await send(client, to_structured(deployed, fmt))
    assert (status, body["matched"]) == (202, 1)
    upgraded = cdevent(
        "service.upgraded",
        320,
        {
            "id": "service/billing",
            "content": {
                "environment": env,
                "artifactId": "pkg:oci/billing@sha256%3A" + "ef" * 32 + "?tag=2.1",
            },
        },
        "d2",
    )
    await send(client, to_binary(upgraded, fmt))
    undo = cdevent(
        "service.rolledback",
        350,
        {
            "id": "service/billing",
            "content": {"environment": env, "artifactId": f"pkg:oci/billing@{FN_DIGEST}?tag=2.0"},
        },
        "d3",
    )
    await send(client, to_binary(undo, fmt))  # fmt: skip - nested CDEvent subjects above
    first, second, third = deployments(model, "billing")
    assert (first["environment"], first["namespace"], first["version"]) == ("production", "", "2.0")
    assert first["outcome"] == "succeeded" and first["lead_time_seconds"] == 100.0
    assert first["workloads"][0]["kind"] == "Service"
    assert second["version"] == "2.1" and second["failure_reasons"] == ["rollback"]
    assert second["failed_change"] and second["restored_at"] is not None
    assert third["rollback"] and third["lead_time_seconds"] is None


async def test_incidents_fail_and_restore_like_alerts(served: Served) -> None:
    client, model = served
    fmt = JSONFormat()
    content = {"environment": {"id": "production"}, "service": {"id": "service/api"}}
    detected = cdevent("incident.detected", 200, {"id": "inc-1", "content": content}, "i1")
    status, body = await send(client, to_binary(detected, fmt))
    assert (status, body["matched"]) == (202, 1)
    resolved = cdevent("incident.resolved", 300, {"id": "inc-1", "content": content}, "i2")
    await send(client, to_binary(resolved, fmt))
    latest = deployments(model, "api")[-1]
    assert latest["failure_reasons"] == ["incident"] and latest["restored_at"] is not None
    elsewhere = {"environment": {"id": "staging"}, "service": {"id": "api"}}
    other = cdevent("incident.detected", 310, {"id": "inc-2", "content": elsewhere}, "i3")
    assert (await send(client, to_binary(other, fmt)))[1]["matched"] == 0
    assert model.stats.invalid["unmatched_incident"] == 1


async def test_other_types_are_ignored_and_bad_events_get_400(served: Served) -> None:
    client, model = served
    fmt = JSONFormat()
    started = cdevent("pipelinerun.started", 10, {"id": "run-1"}, "x1")
    status, body = await send(client, to_binary(started, fmt))
    assert (status, body["ignored"]) == (202, "pipelinerun.started")
    bad = cdevent("change.merged", 10, {"id": "not-a-sha"}, "x2")
    status, body = await send(client, to_binary(bad, fmt))
    assert (status, body["reason"]) == (400, "cdevents_sha")
    not_ce = HTTPMessage({"Content-Type": "application/cloudevents+json"}, b'{"x": 1}')
    assert (await send(client, not_ce))[0] == 400
    not_cd = CloudEvent({"type": "com.example.other", "source": "/x", "id": "x3"}, {"a": 1})
    status, body = await send(client, to_binary(not_cd, fmt))
    assert (status, body["reason"]) == (400, "cdevents_type")
    assert model.stats.invalid["cloudevent"] == 1 and model.stats.invalid["cdevents_sha"] == 1
