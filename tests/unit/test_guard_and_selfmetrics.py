"""The supervisor restarts what ends or crashes; a family declared twice fails at start-up."""

from __future__ import annotations

import asyncio

import pytest

from exporter.app.guard import Supervisor
from exporter.model.engine import DoraModel
from exporter.outputs import selfmetrics
from exporter.outputs.metrics import MetricsRenderer


async def test_a_task_that_ends_or_crashes_is_restarted_until_stopped() -> None:
    supervisor = Supervisor(base_s=0.01, cap_s=0.02)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) % 2:
            raise ValueError("odd run")

    supervisor.start("flaky", flaky)
    while len(runs) < 5:
        await asyncio.sleep(0.01)
    await supervisor.stop()
    assert supervisor.crashes["flaky"] >= 4
    assert supervisor.ready() == []  # stopped: nothing left down
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.start("dup", flaky)
        supervisor.start("dup", flaky)
    await supervisor.stop()


def test_a_family_declared_by_two_collectors_is_refused_at_registration() -> None:
    model = DoraModel()
    collectors = selfmetrics.exporter_collectors(model, MetricsRenderer(model), mode="run")
    selfmetrics.build_registry(collectors)  # the real set registers fine
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        selfmetrics.build_registry([*collectors, selfmetrics.ModelSize(model)])


def test_every_declared_family_is_described_without_reading_its_source() -> None:
    model = DoraModel()
    collectors = selfmetrics.exporter_collectors(model, MetricsRenderer(model), mode="run")
    names = list(selfmetrics.families_of(collectors))
    assert len(names) == len(set(names))
    assert "daylight_invalid_input" in names and "daylight_trace_spans" in names
