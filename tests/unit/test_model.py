"""Model building blocks: identity, fingerprint, rollout rules, windows and levels."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.events.envelope import ObjectEvent
from exporter.events.objects import Container, Workload
from exporter.events.timeutil import parse_commit_time, parse_duration
from exporter.kube import eventlog
from exporter.model import identity
from exporter.model import rollout_status as rollout
from exporter.model.engine import DoraModel
from exporter.model.fingerprint import template_fingerprint
from exporter.model.records import AppDeployment, AppKey, Outcome
from exporter.model.windows import DAY, levels, window_keys
from exporter.outputs.report import build_report
from tests.scenario import Log, pod_template, ts
from tests.unit.test_replay_core import build_core_log


def sources(**kw: dict[str, str]) -> identity.Sources:
    return identity.Sources(kw.get("ta", {}), kw.get("tl", {}), kw.get("wa", {}), kw.get("wl", {}))


def test_identity_lookup_order_and_keptn_precedence() -> None:
    src = sources(
        ta={"app.kubernetes.io/name": "from-template-annotation"},
        tl={"keptn.sh/workload": "keptn-label"},
        wl={"app.kubernetes.io/name": "workload-label"},
    )
    ident = identity.resolve("obj", src, [Container("c", "img:2.0")], "f" * 64)
    assert ident.workload == "keptn-label"  # keptn.sh/* wins over app.kubernetes.io/*
    assert ident.app == "keptn-label"  # no app key: the workload name
    assert ident.version == "2.0"  # only container's tag


def test_version_falls_back_to_fingerprint_and_rejects_latest() -> None:
    ident = identity.resolve("web", sources(), [Container("c", "img:latest")], "ab" * 32)
    assert ident.version == "abababab" + "ab"
    two = [Container("a", "x:1"), Container("b", "y:2")]
    named = sources(ta={"keptn.sh/container": "b"})
    assert identity.resolve("web", named, two, "0" * 64).version == "2"


def test_hostile_label_values_are_rejected_not_used() -> None:
    src = sources(ta={"keptn.sh/app": 'bad"app\n{x}'}, wl={"app.kubernetes.io/part-of": "shop"})
    ident = identity.resolve("web", src, [], "0" * 64)
    assert ident.app == "shop"
    assert "app_name" in ident.invalid


def test_image_tag_parsing() -> None:
    assert identity.image_tag("registry:5000/team/web:1.2.3") == "1.2.3"
    assert identity.image_tag("registry:5000/team/web") is None
    assert identity.image_tag("web@sha256:" + "a" * 64) is None
    assert identity.image_tag("web:1.0@sha256:" + "a" * 64) == "1.0"


def test_fingerprint_ignores_controller_noise_but_not_real_changes() -> None:
    base = pod_template("web:1", {"app": "web"})
    with_hash = pod_template("web:1", {"app": "web", "pod-template-hash": "abc"})
    restarted = pod_template("web:1", {"app": "web"}, {"kubectl.kubernetes.io/restartedAt": "x"})
    changed = pod_template("web:2", {"app": "web"})
    fp = template_fingerprint(json.dumps(base).encode())
    assert fp == template_fingerprint(json.dumps(with_hash).encode())
    assert fp == template_fingerprint(json.dumps(restarted).encode())
    assert fp == template_fingerprint(json.dumps(base, sort_keys=True).encode())
    assert fp != template_fingerprint(json.dumps(changed).encode())


def workload(kind: str, spec: dict[str, Any], status: dict[str, Any], gen: int = 2) -> Workload:
    obj = {"kind": kind, "metadata": {"generation": gen}, "spec": spec, "status": status}
    return msgspec.json.decode(json.dumps(obj), type=Workload)


def test_rollout_status_rules_match_kubectl() -> None:
    done = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    assert rollout.rollout_complete(workload("Deployment", {"replicas": 3}, done))
    stale = {**done, "observedGeneration": 1}
    assert not rollout.rollout_complete(workload("Deployment", {"replicas": 3}, stale))
    old_pods = {**done, "replicas": 4}
    assert not rollout.rollout_complete(workload("Deployment", {"replicas": 3}, old_pods))
    sts = {"observedGeneration": 2, "currentRevision": "a", "updateRevision": "b",
           "updatedReplicas": 2, "readyReplicas": 2}  # fmt: skip  # a table
    assert not rollout.rollout_complete(workload("StatefulSet", {"replicas": 2}, sts))
    sts["currentRevision"] = "b"
    assert rollout.rollout_complete(workload("StatefulSet", {"replicas": 2}, sts))
    ds = {"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
          "numberAvailable": 2}  # fmt: skip  # a table
    assert not rollout.rollout_complete(workload("DaemonSet", {}, ds))
    dead = {
        "observedGeneration": 2,
        "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ],
    }
    assert rollout.progress_deadline_exceeded(workload("Deployment", {}, dead))


def app_deployment(start: float, end: float, outcome: Outcome, reasons: list[str]) -> AppDeployment:
    d = AppDeployment(app=AppKey("p", "ns", "a"), started_at=start)
    d.outcome, d.finished_at, d.failure_reasons = outcome, end, reasons
    return d


def test_window_keys_and_levels() -> None:
    now = 100 * DAY
    ok = Outcome.SUCCEEDED
    ds = [app_deployment(now - i * DAY - 60, now - i * DAY, ok, []) for i in range(20)]
    ds.append(app_deployment(now - 3 * DAY, now - 3 * DAY + 10, Outcome.FAILED, ["rollout_failed"]))
    ds.append(app_deployment(now - 40 * DAY, now - 40 * DAY, Outcome.SUCCEEDED, []))
    keys = window_keys(ds, now, 30 * DAY)
    assert keys.successful == 20
    assert keys.deployments == 21
    assert keys.failed_changes == 1
    assert keys.deployment_frequency_per_day == pytest.approx(20 / 30)
    assert keys.change_failure_rate == pytest.approx(1 / 21)
    lv = levels(keys, "2023")
    assert lv["deployment_frequency"] == "high"  # < 1/day, >= 1/week
    assert lv["change_failure_rate"] == "elite"  # 4.8% <= 5%
    assert lv["lead_time"] is None  # no commit times: unknown, not guessed
    assert levels(keys, "2021")["deployment_frequency"] == "high"


def test_durations_and_commit_times() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("15m") == 900
    assert parse_duration("24h") == 86400
    assert parse_duration("30d") == 30 * 86400
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert parse_commit_time("1767225600") == 1767225600.0
    assert parse_commit_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_commit_time("yesterday") is None


def replay(lines: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    path = Log(lines=lines).write(tmp / f"log-{random.random()}.jsonl")
    model = DoraModel()
    last = 0.0
    for event in eventlog.read(path):
        assert isinstance(event, ObjectEvent)
        model.apply(event)
        last = max(last, event.time)
    model.advance(last)
    return build_report(model, last)


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_same_time_events_of_different_objects_commute(rng: random.Random) -> None:
    """Watches of different resources race; events at the same second may come in any order."""
    import tempfile

    lines = build_core_log().lines
    shuffled: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j]["time"] == lines[i]["time"]:
            j += 1
        block = lines[i:j]
        by_object: dict[str, list[dict[str, Any]]] = {}
        for line in block:
            by_object.setdefault(line["object"]["metadata"]["uid"], []).append(line)
        groups = list(by_object.values())
        rng.shuffle(groups)  # keep each object's own order, mix objects
        shuffled.extend(line for group in groups for line in group)
        i = j
    with tempfile.TemporaryDirectory() as tmp:
        assert replay(shuffled, Path(tmp)) == replay(lines, Path(tmp))


def test_bad_event_log_lines_are_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"time": ts(0), "type": "ADDED", "object": {"kind": "Namespace",
                       "metadata": {"name": "x"}}})  # fmt: skip  # a table
    path.write_text(
        "not json\n"
        + json.dumps({"time": "yesterday", "type": "ADDED", "object": {}}) + "\n"
        + json.dumps({"time": ts(0), "type": "EXPLODED", "object": {}}) + "\n"
        + json.dumps({"time": ts(0), "type": "ADDED", "object": {"kind": "Deployment",
                      "metadata": {"name": []}}}) + "\n"
        + good + "\n"
    )  # fmt: skip  # a table
    events = list(eventlog.read(path))
    assert len(events) == 1
    with pytest.raises(eventlog.EventLogError, match=":1:"):
        list(eventlog.read(path, strict=True))
