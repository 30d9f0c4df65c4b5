"""/metrics exposition and the CLI surface."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from exporter.app.cli import build_parser, main
from exporter.events.envelope import ObjectEvent
from exporter.kube import eventlog
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.selfmetrics import build_registry, exporter_collectors, render_self
from tests.unit.test_replay_core import build_core_log


def core_model(tmp_path: Path) -> tuple[DoraModel, float]:
    path = build_core_log().write(tmp_path / "core.jsonl")
    model = DoraModel()
    last = 0.0
    for event in eventlog.read(path):
        assert isinstance(event, ObjectEvent)
        model.apply(event)
        last = event.time
    return model, last


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_count_what_happened(tmp_path: Path) -> None:
    model, now = core_model(tmp_path)
    text = MetricsRenderer(model).render(now).decode()
    web = {"app": "shop", "workload": "web", "kind": "Deployment"}
    assert sample(text, "dora_deployments_total", outcome="succeeded", **web) == 4
    assert sample(text, "dora_deployments_total", outcome="failed", **web) == 1
    assert sample(text, "dora_app_deployments_total", app="shop", outcome="succeeded") == 5
    assert sample(text, "dora_app_deployments_total", app="shop", outcome="failed") == 1
    assert sample(text, "dora_change_failures_total", app="shop", reason="rollout_failed") == 1
    frequency = sample(text, "dora_deployment_frequency_per_day", window="30d")
    assert frequency == pytest.approx(5 / 30, abs=1e-5)
    assert sample(text, "dora_workload_info", workload="web", version="1.3") == 1
    assert sample(text, "dora_deployment_duration_seconds_count", **web) == 4
    # one series per current version only
    assert len(re.findall(r"^dora_workload_info\{", text, re.M)) == 2


def test_exposition_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: tests/run-all.sh installs Debian's prometheus package"
    model, now = core_model(tmp_path)
    renderer = MetricsRenderer(model)
    registry = build_registry(exporter_collectors(model, renderer, mode="run"))
    body = renderer.render(now) + render_self(registry)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    # promtool lints too (e.g. counters should end in _total); only hard errors fail it
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_cached_render_is_reused_until_the_app_changes(tmp_path: Path) -> None:
    model, now = core_model(tmp_path)
    renderer = MetricsRenderer(model)
    first = renderer.render(now)
    cached = dict(renderer.cache)
    assert renderer.render(now + 3600) == first  # an hour later nothing left a window
    assert all(renderer.cache[k] is v for k, v in cached.items())
    # the first deployment finished at t=20s; one day later it leaves the 1d window
    first_finish = min(d.finished_at or 0 for d in model.apps[next(iter(model.apps))].deployments)
    before = renderer.render(first_finish + 86400 - 1).decode()
    after = renderer.render(first_finish + 86400).decode()
    daily = 'dora_deployment_frequency_per_day{environment="production",namespace="shop",'
    daily += 'app="shop",window="1d"}'
    assert f"{daily} 5" in before and f"{daily} 4" in after


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "demo", "report", "replay", "record"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command


def test_environment_variables_set_flag_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYLIGHT_DEFAULT_ENVIRONMENT", "staging")
    monkeypatch.setenv("DAYLIGHT_APP_GROUPING_WINDOW", "2m")
    args = build_parser().parse_args(["report", "--replay", "x"])
    assert args.default_environment == "staging"
    assert args.app_grouping_window == 120
    args = build_parser().parse_args(["report", "--replay", "x", "--default-environment", "p"])
    assert args.default_environment == "p"


def test_bad_input_gives_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such event log" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--window", "forever"])
    assert "not a duration" in capsys.readouterr().err
    assert main(["report", "--kubeconfig", str(tmp_path / "nope"), "--format", "json"]) == 2
    assert "no kubeconfig" in capsys.readouterr().err
