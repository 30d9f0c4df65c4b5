"""alerts/: promtool's own checks and unit tests, and the conventions every rule follows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus.contract import ROOT, RULE_FILES, known_metrics, metric_names, names_a_job

TEST_FILES = sorted((ROOT / "alerts" / "tests").glob("*.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"
SEVERITIES = {"critical", "warning", "info"}


def promtool() -> str:
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).exists():
        pytest.fail(
            "promtool not found: install Debian's prometheus package (tests/run-all.sh does)"
        )
    return path


def all_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


ALERTS = [rule for rule in all_rules() if "alert" in rule]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules() -> None:
    result = run("check", "rules", *(str(p.relative_to(ROOT)) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_test_rules() -> None:
    assert TEST_FILES
    result = run("test", "rules", *(str(p.relative_to(ROOT)) for p in TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    loaded: set[Path] = set()
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text())
        loaded |= {(path.parent / f).resolve() for f in doc["rule_files"]}
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert loaded == {p.resolve() for p in RULE_FILES}, "every rule file needs unit tests"
    names = {rule["alert"] for rule in ALERTS}
    assert names - firing == set(), "alerts without a firing test case"
    assert names - quiet == set(), "alerts without a not-firing test case"
    assert (firing | quiet) - names == set(), "tests of alerts that do not exist"


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for line in markdown.splitlines():
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


@pytest.mark.parametrize("rule", ALERTS, ids=[rule["alert"] for rule in ALERTS])
def test_alert_carries_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary", "").strip()
    assert annotations.get("description", "").strip()
    url = annotations.get("runbook_url", "")
    page, _, anchor = url.partition("#")
    assert page == "docs/runbooks.md", url
    assert anchor == rule["alert"].lower()
    assert anchor in anchors(RUNBOOKS.read_text()), f"no section {rule['alert']} in {page}"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.get("alert") or r["record"])
def test_rule_uses_contract_metrics_and_no_job_name(rule: dict[str, Any]) -> None:
    expr = rule["expr"]
    assert not names_a_job(expr), "no rule may assume a scrape job name"
    unknown = metric_names(expr) - known_metrics()
    assert not unknown, f"not in design §4 nor recorded here: {unknown}"
    if "up" in metric_names(expr):
        # `up` is every target's; only its join with daylight_build_info makes it Daylight's
        assert re.search(r"up == 0 and on \(job, instance\)[^)]*daylight_build_info", expr)


def test_recording_rule_names_follow_the_convention() -> None:
    """level:metric:operations, as the Prometheus documentation recommends."""
    for rule in all_rules():
        if "record" in rule:
            level, metric, operation = rule["record"].split(":")
            assert level and operation
            assert metric.startswith("dora_")
