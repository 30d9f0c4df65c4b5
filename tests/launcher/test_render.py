"""Rendered Jobs against golden files, and every way a task definition can be invalid.

Set DAYLIGHT_UPDATE_GOLDEN=1 to rewrite tests/launcher/golden/*.json after an intended change
(then review the diff: these files are what lands in users' clusters).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from exporter.events.objects import KeptnObject
from exporter.launcher.render import (
    InvalidTask,
    Limits,
    RuntimeImages,
    render_invalid,
    render_task,
)
from tests.launcher.helpers import definition, request

GOLDEN = Path(__file__).parent / "golden"
IMAGES = RuntimeImages(python="registry.example/python-runtime:1", deno="registry.example/deno:3")

PARENT = definition(
    "notify-base",
    {
        "python": {
            "inline": {"code": "import os\nprint(os.environ['DATA'])\n"},
            "parameters": {"map": {"channel": "#deploys", "level": "info"}},
            "cmdParameters": "--verbose",
        }
    },
)

CASES: dict[str, tuple[KeptnObject, str, str]] = {
    "container-post": (
        definition(
            "smoke-test",
            {
                "container": {
                    "name": "smoke",
                    "image": "registry.example/smoke:2.1",
                    "command": ["/bin/smoke", "--url", "http://checkout"],
                    "env": [{"name": "TARGET", "value": "checkout"}],
                    "volumeMounts": [{"name": "scratch", "mountPath": "/work"}],
                },
                "retries": 2,
                "timeout": "90s",
            },
            labels={"team": "payments"},
            annotations={
                "daylight.sim/outcome": "succeed",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            },
        ),
        "post",
        "Workload",
    ),
    "python-inline-pre": (
        definition(
            "migrate-db",
            {
                "python": {
                    "inline": {"code": "print('migrating')\n"},
                    "parameters": {"map": {"database": "orders", "dry_run": "false"}},
                    "secureParameters": {"secret": "db-credentials"},
                    "cmdParameters": "--fast",
                },
                "timeout": "10m",
            },
        ),
        "pre",
        "Workload",
    ),
    "deno-configmap-post": (
        definition("check-links", {"deno": {"configMapRef": {"name": "link-checker"}}}),
        "post",
        "Workload",
    ),
    "deno-httpref-service-account": (
        definition(
            "warm-cache",
            {
                "deno": {"httpRef": {"url": "https://scripts.example/warm.ts"}},
                "serviceAccount": {"name": "cache-warmer"},
                "imagePullSecrets": [{"name": "registry-login"}],
                "ttlSecondsAfterFinished": 900,
                "retries": 0,
            },
        ),
        "post",
        "Workload",
    ),
    "function-ref-overrides-parameters": (
        definition(
            "notify",
            {
                "deno": {
                    "functionRef": {"name": "notify-base"},
                    "parameters": {"map": {"level": "warning"}},
                },
                "automountServiceAccountToken": {"type": True},
            },
        ),
        "post",
        "Workload",
    ),
    "app-level-pre": (
        definition("freeze-check", {"container": {"name": "check", "image": "busybox:1.36"}}),
        "pre",
        "App",
    ),
}


def lookup(name: str) -> KeptnObject | None:
    return {"notify-base": PARENT}.get(name)


def golden(name: str, rendered: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(rendered, indent=2, sort_keys=True) + "\n"
    if os.environ.get("DAYLIGHT_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with DAYLIGHT_UPDATE_GOLDEN=1"
    assert json.loads(path.read_text()) == json.loads(text), f"{name} differs from {path}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_jobs_match_golden_files(case: str) -> None:
    spec, phase, object_type = CASES[case]
    req = request(spec.metadata.name, phase=phase, object_type=object_type)
    rendered = render_task(req, spec, lookup, IMAGES, Limits())
    golden(
        case,
        {
            "job": rendered.job,
            "configMap": rendered.config_map,
            "configMapRef": rendered.config_map_ref,
            "secret": rendered.secret,
        },
    )


def test_invalid_task_record_matches_golden_file() -> None:
    req = request("smoke-test")
    golden("invalid-record", {"job": render_invalid(req, "invalid_timeout", "too long")})


def test_rendering_is_deterministic_and_names_fit() -> None:
    spec, _, _ = CASES["python-inline-pre"]
    first = render_task(request("migrate-db", phase="pre"), spec, lookup, IMAGES)
    second = render_task(request("migrate-db", phase="pre"), spec, lookup, IMAGES)
    assert first.job == second.job and first.config_map == second.config_map
    name = first.job["metadata"]["name"]
    assert len(name) <= 63 and name.startswith("pre-migrate-db-checkout-")
    assert first.config_map is not None
    assert first.config_map["immutable"] is True
    # the code's ConfigMap is named after its content: changed code, new ConfigMap
    changed = definition("migrate-db", {"python": {"inline": {"code": "print(2)\n"}}})
    other = render_task(request("migrate-db", phase="pre"), changed, lookup, IMAGES)
    assert other.config_map is not None
    assert other.config_map["metadata"]["name"] != first.config_map["metadata"]["name"]
    # a rollback to the same version is a new deployment attempt: another revision, another Job
    again = render_task(request("migrate-db", phase="pre", revision="5"), spec, lookup, IMAGES)
    assert again.job["metadata"]["name"] != name


def test_secrets_only_by_reference_and_no_added_privileges() -> None:
    spec, _, _ = CASES["python-inline-pre"]
    job = render_task(request("migrate-db", phase="pre"), spec, lookup, IMAGES).job
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SECURE_DATA"] == {
        "name": "SECURE_DATA",
        "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "SECURE_DATA"}},
    }
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    text = json.dumps(job)
    assert "hostPath" not in text and "hostNetwork" not in text and 'privileged": true' not in text
    context = json.loads(env["KEPTN_CONTEXT"]["value"])
    assert context == {
        "appName": "shop",
        "appVersion": "1.4.0",
        "workloadName": "checkout",
        "workloadVersion": "1.4.0",
        "taskType": "pre",
        "objectType": "Workload",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "metadata": {
            "team": "payments",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
    }
    assert json.loads(env["DATA"]["value"]) == {"database": "orders", "dry_run": "false"}


def test_a_container_task_keeps_what_it_asked_for() -> None:
    spec = definition(
        "privileged-on-purpose",
        {
            "container": {
                "name": "t",
                "image": "busybox:1.36",
                "securityContext": {"privileged": True},
                "env": [{"name": "KEPTN_CONTEXT", "value": "mine"}],
            }
        },
    )
    job = render_task(request("privileged-on-purpose"), spec, lookup, IMAGES).job
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"] == {"privileged": True}  # asked for, not added
    assert container["env"] == [{"name": "KEPTN_CONTEXT", "value": "mine"}]


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-runtime", {"retries": 1}, "invalid_runtime"),
    (
        "two-runtimes",
        {"container": {"name": "a", "image": "b"}, "deno": {"inline": {"code": "x"}}},
        "invalid_runtime",
    ),
    ("no-code", {"python": {"parameters": {"map": {"a": "b"}}}}, "invalid_runtime"),
    (
        "two-codes",
        {"python": {"inline": {"code": "x"}, "httpRef": {"url": "https://x.example/a.py"}}},
        "invalid_runtime",
    ),
    ("empty-code", {"deno": {"inline": {"code": "  \n"}}}, "invalid_runtime"),
    ("bad-url", {"deno": {"httpRef": {"url": "file:///etc/passwd"}}}, "invalid_runtime"),
    (
        "wrong-types",
        {"retries": "ten", "container": {"name": "a", "image": "b"}},
        "invalid_definition",
    ),
    ("no-image", {"container": {"name": "a"}}, "invalid_container"),
    ("bad-container-name", {"container": {"name": "Not_DNS", "image": "b"}}, "invalid_container"),
    (
        "absurd-timeout",
        {"container": {"name": "a", "image": "b"}, "timeout": "9999h"},
        "invalid_timeout",
    ),
    ("zero-timeout", {"container": {"name": "a", "image": "b"}, "timeout": "0"}, "invalid_timeout"),
    (
        "garbage-timeout",
        {"container": {"name": "a", "image": "b"}, "timeout": "soon"},
        "invalid_timeout",
    ),
    (
        "negative-retries",
        {"container": {"name": "a", "image": "b"}, "retries": -1},
        "invalid_retries",
    ),
    (
        "many-retries",
        {"container": {"name": "a", "image": "b"}, "retries": 100000},
        "invalid_retries",
    ),
    (
        "negative-ttl",
        {"container": {"name": "a", "image": "b"}, "ttlSecondsAfterFinished": -5},
        "invalid_ttl",
    ),
    ("missing-parent", {"deno": {"functionRef": {"name": "nowhere"}}}, "unknown_definition"),
    ("self-reference", {"deno": {"functionRef": {"name": "self-reference"}}}, "invalid_runtime"),
    (
        "bad-secret-name",
        {"deno": {"inline": {"code": "x"}, "secureParameters": {"secret": "Bad Name"}}},
        "invalid_name",
    ),
]


@pytest.mark.parametrize(("name", "spec", "reason"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_definitions_fail_with_a_reason(
    name: str, spec: dict[str, Any], reason: str
) -> None:
    bad = definition(name, spec)
    with pytest.raises(InvalidTask) as caught:
        render_task(request(name), bad, lambda n: bad if n == name else None, IMAGES)
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.message


def test_ttl_is_kept_at_least_the_catch_up_window() -> None:
    spec = definition(
        "quick", {"container": {"name": "a", "image": "b"}, "ttlSecondsAfterFinished": 0}
    )
    job = render_task(request("quick"), spec, lookup, IMAGES, Limits(min_ttl_s=600)).job
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
