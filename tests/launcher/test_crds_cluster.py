"""The Keptn-compatible CRDs are accepted by the real API server, default like Keptn's, and
reject what Daylight could not run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cluster.controlplane import ControlPlane

pytestmark = pytest.mark.cluster

EXAMPLES: list[dict[str, Any]] = [
    {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnApp",
        "metadata": {"name": "shop"},
        "spec": {
            "version": "1.4.0",
            "workloads": [{"name": "checkout", "version": "1.4.0"}],
            "postDeploymentTasks": ["smoke-test"],
            "postDeploymentEvaluations": ["error-budget"],
        },
    },
    {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": "smoke-test"},
        "spec": {
            "python": {
                "inline": {"code": "print('ok')"},
                "parameters": {"map": {"url": "http://checkout"}},
                "secureParameters": {"secret": "smoke-credentials"},
            }
        },
    },
    {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": "container-task"},
        "spec": {
            "container": {
                "name": "task",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "echo $KEPTN_CONTEXT"],
                "resources": {"limits": {"memory": "64Mi"}},
                "ports": [{"containerPort": 8080}],
            },
            "retries": 2,
            "timeout": "1h30m",
            "serviceAccount": {"name": "tasks"},
            "automountServiceAccountToken": {"type": False},
            "imagePullSecrets": [{"name": "registry"}],
            "ttlSecondsAfterFinished": 60,
        },
    },
    {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnEvaluationDefinition",
        "metadata": {"name": "error-budget"},
        "spec": {
            "objectives": [
                {"keptnMetricRef": {"name": "error-ratio"}, "evaluationTarget": "<0.01"},
                {
                    "name": "p99",
                    "query": "histogram_quantile(0.99, x)",
                    "evaluationTarget": "0..0.5",
                },
            ]
        },
    },
    {
        "apiVersion": "metrics.keptn.sh/v1",
        "kind": "KeptnMetric",
        "metadata": {"name": "error-ratio"},
        "spec": {
            "provider": {"name": "prometheus"},
            "query": "sum(rate(errors[5m])) / sum(rate(requests[5m]))",
            "range": {"interval": "10m", "aggregation": "p95"},
        },
    },
    {
        "apiVersion": "metrics.keptn.sh/v1",
        "kind": "KeptnMetricsProvider",
        "metadata": {"name": "prometheus"},
        "spec": {"type": "prometheus", "targetServer": "http://prometheus.monitoring:9090"},
    },
]

INVALID: list[tuple[str, dict[str, Any]]] = [
    ("KeptnApp", {"workloads": []}),  # no version
    ("KeptnTaskDefinition", {}),  # no runtime
    (
        "KeptnTaskDefinition",
        {"container": {"name": "a", "image": "b"}, "deno": {"inline": {"code": "x"}}},
    ),
    (
        "KeptnTaskDefinition",
        {"deno": {"inline": {"code": "x"}, "httpRef": {"url": "https://x.example/a.ts"}}},
    ),
    ("KeptnTaskDefinition", {"python": {"httpRef": {"url": "ftp://x"}}}),
    ("KeptnTaskDefinition", {"container": {"name": "a", "image": "b"}, "timeout": "soon"}),
    ("KeptnTaskDefinition", {"container": {"name": "a", "image": "b"}, "retries": -1}),
    ("KeptnEvaluationDefinition", {"objectives": []}),
    ("KeptnEvaluationDefinition", {"objectives": [{"query": "up", "evaluationTarget": "~4"}]}),
    ("KeptnEvaluationDefinition", {"objectives": [{"evaluationTarget": ">4"}]}),
    (
        "KeptnEvaluationDefinition",
        {
            "objectives": [
                {"query": "up", "evaluationTarget": ">4", "keptnMetricRef": {"name": "m"}}
            ]
        },
    ),
    ("KeptnMetric", {"query": "up"}),  # no provider
    ("KeptnMetric", {"provider": {"name": "p"}, "query": "up", "range": {"aggregation": "p50"}}),
    ("KeptnMetricsProvider", {"type": "graphite", "targetServer": "http://x"}),
    ("KeptnMetricsProvider", {"type": "prometheus"}),
]

GROUPS = {
    "KeptnApp": "lifecycle.keptn.sh/v1",
    "KeptnTaskDefinition": "lifecycle.keptn.sh/v1",
    "KeptnEvaluationDefinition": "lifecycle.keptn.sh/v1",
    "KeptnMetric": "metrics.keptn.sh/v1",
    "KeptnMetricsProvider": "metrics.keptn.sh/v1",
}


def test_crds_accept_an_example_of_each_kind(
    control_plane: ControlPlane, keptn_crds: list[str], namespace: str
) -> None:
    cp = control_plane
    for crd in keptn_crds:
        got = cp.kubectl_json("get", "crd", crd)
        conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
        assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
        assert [v["name"] for v in got["spec"]["versions"]] == ["v1"]
    for example in EXAMPLES:
        cp.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(example))
    kinds = {e["kind"]: e["metadata"]["name"] for e in EXAMPLES}
    for kind in GROUPS:
        items = cp.kubectl_json(
            "get", kind.lower() + "s." + GROUPS[kind].split("/")[0], "-n", namespace
        )["items"]
        assert kinds[kind] in {i["metadata"]["name"] for i in items}
    # Keptn's defaults
    app = cp.kubectl_json("get", "keptnapp", "shop", "-n", namespace)
    assert app["spec"]["revision"] == 1
    assert app["spec"]["postDeploymentTasks"] == ["smoke-test"]
    task = cp.kubectl_json("get", "keptntaskdefinition", "smoke-test", "-n", namespace)
    assert task["spec"]["retries"] == 10
    assert task["spec"]["timeout"] == "5m"
    assert task["spec"]["ttlSecondsAfterFinished"] == 300
    container = cp.kubectl_json("get", "keptntaskdefinition", "container-task", "-n", namespace)
    assert container["spec"]["container"]["ports"] == [{"containerPort": 8080}]  # kept whole
    assert container["spec"]["timeout"] == "1h30m"
    evaluation = cp.kubectl_json(
        "get", "keptnevaluationdefinition", "error-budget", "-n", namespace
    )
    assert evaluation["spec"]["retries"] == 10 and evaluation["spec"]["retryInterval"] == "5s"
    metric = cp.kubectl_json("get", "keptnmetric", "error-ratio", "-n", namespace)
    assert metric["spec"]["fetchIntervalSeconds"] == 10
    assert metric["spec"]["range"]["interval"] == "10m"
    provider = cp.kubectl_json("get", "keptnmetricsprovider", "prometheus", "-n", namespace)
    assert provider["spec"]["insecureSkipTlsVerify"] is False


@pytest.mark.parametrize(
    ("kind", "spec"), INVALID, ids=[f"{k}-{i}" for i, (k, _) in enumerate(INVALID)]
)
def test_crds_reject_what_cannot_run(
    control_plane: ControlPlane,
    keptn_crds: list[str],
    namespace: str,
    kind: str,
    spec: dict[str, Any],
) -> None:
    body = {"apiVersion": GROUPS[kind], "kind": kind, "metadata": {"name": "bad"}, "spec": spec}
    proc = control_plane.kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(body), check=False
    )
    assert proc.returncode != 0, f"{kind} {spec} was accepted"
    assert "invalid" in proc.stderr.lower(), proc.stderr
