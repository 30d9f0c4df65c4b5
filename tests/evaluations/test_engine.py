"""Evaluations against a scripted Prometheus: targets, retries, providers, and every way an
evaluation can go wrong ending as a failed verdict with a reason (never an exception)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from exporter.checks.keptn import NamespaceGate
from exporter.checks.records import CheckLedger, CheckOutcome, CheckStats
from exporter.evaluations.engine import EvaluationConfig, EvaluationRunner
from exporter.events.objects import KeptnObject
from exporter.model.engine import DoraModel
from tests.evaluations.fakeprom import FakePrometheus, error, matrix, vector

NS = "shop"


def obj(kind: str, name: str, spec: dict[str, Any], namespace: str = NS) -> KeptnObject:
    body = {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return msgspec.json.decode(json.dumps(body), type=KeptnObject)


def definition(name: str, objectives: list[dict[str, Any]], **spec: Any) -> KeptnObject:
    return obj(
        "KeptnEvaluationDefinition",
        name,
        {"objectives": objectives, "retries": 0, "retryInterval": "0", **spec},
    )


@pytest.fixture
async def prom() -> AsyncIterator[FakePrometheus]:
    fake = FakePrometheus()
    await fake.start()
    yield fake
    await fake.stop()


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def runner(prom: FakePrometheus, *objects: KeptnObject, **config: Any) -> EvaluationRunner:
    settings: dict[str, Any] = {"definition_grace_s": 0.0, "query_timeout_s": 2.0}
    settings.update(config)
    r = EvaluationRunner(
        DoraModel(),
        NamespaceGate([NS]),
        CheckLedger(),
        CheckStats(),
        EvaluationConfig(**settings),
        sleep=no_sleep,
    )
    r.observe(
        obj("KeptnMetricsProvider", "prom", {"type": "prometheus", "targetServer": prom.url}), False
    )
    for o in objects:
        r.observe(o, False)
    return r


def metric(name: str, query: str, **spec: Any) -> KeptnObject:
    return obj("KeptnMetric", name, {"provider": {"name": "prom"}, "query": query, **spec})


async def test_keptn_metric_objective_passes(prom: FakePrometheus) -> None:
    prom.answers["sum(up)"] = vector(3)
    r = runner(
        prom,
        metric("targets", "sum(up)"),
        definition("healthy", [{"keptnMetricRef": {"name": "targets"}, "evaluationTarget": ">=3"}]),
    )
    verdict = await r.evaluate(NS, "healthy")
    assert verdict.outcome == CheckOutcome.SUCCEEDED and verdict.values == {"targets": 3.0}
    assert r.stats.queries == {"ok": 1}


async def test_inline_queries_find_their_server(prom: FakePrometheus) -> None:
    prom.answers["errors"] = vector(0.001)
    by_source = definition(
        "by-source",
        [{"name": "err", "query": "errors", "evaluationTarget": "<0.01"}],
        source="prometheus",
    )
    by_ref = definition(
        "by-ref", [{"query": "errors", "provider": {"name": "prom"}, "evaluationTarget": "<0.01"}]
    )
    r = runner(prom, by_source, by_ref, default_server=prom.url)
    assert (await r.evaluate(NS, "by-source")).outcome == CheckOutcome.SUCCEEDED  # --prometheus-url
    assert (await r.evaluate(NS, "by-ref")).outcome == CheckOutcome.SUCCEEDED
    named = runner(prom, by_source)
    named.observe(obj("KeptnMetricsProvider", "prometheus", {"targetServer": prom.url}), False)
    assert (
        await named.evaluate(NS, "by-source")
    ).outcome == CheckOutcome.SUCCEEDED  # provider named so
    alone = runner(prom, by_source)
    verdict = await alone.evaluate(NS, "by-source")
    assert (verdict.outcome, verdict.reason) == (CheckOutcome.FAILED, "no_server")


async def test_retries_until_the_objective_is_met(prom: FakePrometheus) -> None:
    prom.answers["latency"] = lambda call: vector(0.9 if call < 3 else 0.2)
    r = runner(
        prom,
        definition("fast", [{"query": "latency", "evaluationTarget": "<0.5"}], retries=5),
        default_server=prom.url,
    )
    verdict = await r.evaluate(NS, "fast")
    assert verdict.outcome == CheckOutcome.SUCCEEDED and verdict.attempts == 3


async def test_retries_exhausted_fail_with_the_values(prom: FakePrometheus) -> None:
    prom.answers["latency"] = vector(0.9)
    r = runner(
        prom,
        definition(
            "fast", [{"name": "p99", "query": "latency", "evaluationTarget": "0..0.5"}], retries=2
        ),
        default_server=prom.url,
    )
    verdict = await r.evaluate(NS, "fast")
    assert (verdict.outcome, verdict.reason, verdict.attempts) == (
        CheckOutcome.FAILED,
        "objective_failed",
        3,
    )
    assert verdict.values == {"p99": 0.9}
    assert "0.9 does not meet 0..0.5" in verdict.message
    assert prom.calls["latency"] == 3


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (vector(), "no_data"),
        (error(), "query_error"),
        (vector(1, 2), "query_error"),
        ((500, {"oops": True}), "query_error"),
        (
            (200, {"status": "success", "data": {"resultType": "string", "result": "x"}}),
            "query_error",
        ),
    ],
)
async def test_bad_answers_fail_with_a_reason(
    prom: FakePrometheus, answer: tuple[int, dict[str, Any]], reason: str
) -> None:
    prom.answers["q"] = answer
    r = runner(
        prom,
        definition("d", [{"query": "q", "evaluationTarget": ">0"}], retries=1),
        default_server=prom.url,
    )
    verdict = await r.evaluate(NS, "d")
    assert (verdict.outcome, verdict.reason) == (CheckOutcome.FAILED, reason), verdict.message
    assert prom.calls["q"] == 2  # retried: the data may arrive


async def test_slow_and_unreachable_servers_time_out(prom: FakePrometheus) -> None:
    prom.delay_s = 1.0
    r = runner(
        prom,
        definition("d", [{"query": "q", "evaluationTarget": ">0"}]),
        default_server=prom.url,
        query_timeout_s=0.2,
    )
    verdict = await r.evaluate(NS, "d")
    assert verdict.reason == "query_error" and "timed out" in verdict.message
    gone = runner(
        prom,
        definition("d", [{"query": "q", "evaluationTarget": ">0"}]),
        default_server="http://127.0.0.1:9",
    )
    verdict = await gone.evaluate(NS, "d")
    assert verdict.reason == "query_error"


async def test_configuration_errors_fail_at_once(prom: FakePrometheus) -> None:
    cases = {
        "unknown-definition": ("nothing", None),
        "unknown-metric": (
            "m",
            definition(
                "m", [{"keptnMetricRef": {"name": "nope"}, "evaluationTarget": ">1"}], retries=3
            ),
        ),
        "invalid-target": ("t", definition("t", [{"query": "q", "evaluationTarget": "about 4"}])),
        "unsupported": (
            "u",
            definition("u", [{"query": "q", "evaluationTarget": ">1", "source": "datadog"}]),
        ),
        "no-objectives": ("e", obj("KeptnEvaluationDefinition", "e", {"objectives": []})),
        "bad-schedule": (
            "s",
            definition(
                "s", [{"query": "q", "evaluationTarget": ">1"}], retryInterval="every now and then"
            ),
        ),
        "wrong-types": ("w", obj("KeptnEvaluationDefinition", "w", {"objectives": "all"})),
    }
    expected = {
        "unknown-definition": "unknown_definition",
        "unknown-metric": "unknown_metric",
        "invalid-target": "invalid_target",
        "unsupported": "unsupported_provider",
        "no-objectives": "invalid_definition",
        "bad-schedule": "invalid_definition",
        "wrong-types": "invalid_definition",
    }
    for case, (name, spec) in cases.items():
        r = runner(prom, *([spec] if spec else []), default_server=prom.url)
        verdict = await r.evaluate(NS, name)
        assert (verdict.outcome, verdict.reason) == (CheckOutcome.FAILED, expected[case]), (
            case,
            verdict,
        )
        assert verdict.message
    # a provider Daylight cannot query is reported as such
    r = runner(
        prom,
        metric("m", "q"),
        definition("d", [{"keptnMetricRef": {"name": "m"}, "evaluationTarget": ">1"}]),
    )
    r.observe(
        obj("KeptnMetricsProvider", "prom", {"type": "dynatrace", "targetServer": "x"}), False
    )
    verdict = await r.evaluate(NS, "d")
    assert verdict.reason == "unsupported_provider"
    assert sum(prom.calls.values()) == 0


async def test_range_metrics_are_aggregated(prom: FakePrometheus) -> None:
    prom.answers["rate(x[1m])"] = matrix(1, 5, 3)
    r = runner(
        prom,
        metric(
            "peak", "rate(x[1m])", range={"interval": "10m", "step": "30s", "aggregation": "max"}
        ),
        definition("d", [{"keptnMetricRef": {"name": "peak"}, "evaluationTarget": "==5"}]),
    )
    verdict = await r.evaluate(NS, "d")
    assert verdict.outcome == CheckOutcome.SUCCEEDED
    (params,) = prom.ranges
    assert float(params["end"]) - float(params["start"]) == pytest.approx(600, abs=1)
    assert params["step"] == "30"


async def test_a_missing_definition_may_appear_within_the_grace(prom: FakePrometheus) -> None:
    prom.answers["q"] = vector(1)
    r = runner(prom, default_server=prom.url, definition_grace_s=5.0)
    r.sleep = asyncio.sleep
    task = asyncio.create_task(r.evaluate(NS, "late"))
    await asyncio.sleep(0.2)
    r.observe(definition("late", [{"query": "q", "evaluationTarget": ">0"}]), False)
    verdict = await asyncio.wait_for(task, 5)
    assert verdict.outcome == CheckOutcome.SUCCEEDED
