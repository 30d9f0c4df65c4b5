"""Every attribute name our traces carry is a semantic-conventions registry name, Keptn's own,
or under our own ``daylight.`` prefix; so a typo fails here, not in someone's backend.

The registry names below are facts from open-telemetry/semantic-conventions ``model/`` (v1.44)
and Keptn's trace attributes, kept here on purpose: the product must not be its own oracle.
"""

from __future__ import annotations

from collections.abc import Sequence

from exporter.checks.phases import Phase, rollout_phases
from exporter.checks.records import CheckOutcome, CheckRecord
from exporter.events.external import Change
from exporter.model.records import (
    AppDeployment,
    AppKey,
    FailureReason,
    Outcome,
    WorkloadDeployment,
    WorkloadKey,
)
from exporter.outputs.traces import SCHEMA_URL, SCOPE, build_resource, build_spans

REGISTRY = {
    # deployment/registry.yaml
    "deployment.name",
    "deployment.id",
    "deployment.status",
    "deployment.environment.name",
    # k8s/registry.yaml
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.replicaset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
    # container/registry.yaml, oci/registry.yaml
    "container.image.name",
    "container.image.tags",
    "container.image.repo_digests",
    "oci.manifest.digest",
    # vcs/registry.yaml, cicd/registry.yaml
    "vcs.repository.url.full",
    "vcs.repository.name",
    "vcs.ref.head.name",
    "vcs.ref.head.revision",
    "cicd.pipeline.run.url.full",
    # error/registry.yaml, service/, telemetry/
    "error.type",
    "service.name",
    "service.version",
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
}  # fmt: skip - a table of facts
KEPTN = {
    "keptn.deployment.app.name",
    "keptn.deployment.app.version",
    "keptn.deployment.app.namespace",
    "keptn.deployment.workload.name",
    "keptn.deployment.workload.version",
    "keptn.deployment.task.name",
    "keptn.deployment.task.type",
    "keptn.deployment.evaluation.name",
    "keptn.deployment.evaluation.type",
}  # fmt: skip - a table of facts
SHA = "3f2a9c1d5e6b7a8f90123456789abcdef0123456"
DIGEST = "sha256:" + "ab" * 32


def rich_group() -> AppDeployment:
    """An app deployment that fills every attribute we know how to send."""
    app = AppKey("production", "shop", "web")
    change = Change(
        SHA,
        1000.0,
        repository="https://git.example/acme/web",
        ref="main",
        run_url="https://ci.example/acme/web/runs/7",
        trace_id="a" * 32,
        span_id="b" * 16,
        source="otlp",
    )  # fmt: skip - one value per field
    web = WorkloadDeployment(
        WorkloadKey("shop", "Deployment", "web"),
        "web",
        app,
        "1.2",
        "f" * 64,
        "7",
        2000.0,
        False,
        finished_at=2100.0,
        outcome=Outcome.SUCCEEDED,
        commit_time=1000.0,
        commit_sha=SHA,
        traceparent=f"00-{'c' * 32}-{'d' * 16}-01",
        image_digests={DIGEST},
        repo_digests={f"registry.example/acme/web@{DIGEST}"},
        images=("registry.example/acme/web:1.2",),
        change=change,
    )  # fmt: skip - one field a line
    db = WorkloadDeployment(
        WorkloadKey("shop", "StatefulSet", "db"),
        "db",
        app,
        "9",
        "e" * 64,
        "3",
        2000.0,
        True,
        finished_at=2050.0,
        outcome=Outcome.FAILED,
        failure_reason="rollout_timeout",
    )  # fmt: skip - one field a line
    group = AppDeployment(
        app,
        2000.0,
        keptn_app=("1.2", 4),
        workloads=[web, db],
        outcome=Outcome.FAILED,
        finished_at=2100.0,
        failure_reasons=[FailureReason.ROLLOUT_FAILED, FailureReason.INCIDENT],
        failed_change_at=2100.0,
        restored_at=2500.0,
        rework=False,
    )  # fmt: skip - one field a line
    for wd in group.workloads:
        wd.group = group
    return group


def phases(group: AppDeployment) -> list[Phase]:
    checks = [
        CheckRecord(
            "task",
            "post",
            "smoke",
            "Workload",
            group.workloads[0].key,
            2100.0,
            2110.0,
            CheckOutcome.FAILED,
            "job_failed",
            "exit 1",
            "smoke-job",
        ),
        CheckRecord(
            "evaluation",
            "pre",
            "slo",
            "App",
            None,
            1990.0,
            1995.0,
            CheckOutcome.SUCCEEDED,
            values={"latency": 0.2},
        ),
    ]  # fmt: skip - one record per line
    return [*rollout_phases(group), *(c.phase_span() for c in checks)]


def test_every_attribute_we_send_is_a_registry_name_keptns_or_ours() -> None:
    group = rich_group()
    spans = build_spans(group, group.trace_facts, build_resource(cluster_name="c1"), phases)
    names: set[str] = set(build_resource(cluster_name="c1").attributes)
    for span in spans:
        names |= set(span.attributes or {})
        for event in span.events:
            names |= set(event.attributes or {})
        for link in span.links:
            names |= set(link.attributes or {})
    unknown = {n for n in names if n not in REGISTRY | KEPTN and not n.startswith("daylight.")}
    assert not unknown, f"not in the registry, not Keptn's, not ours: {sorted(unknown)}"
    # what the conventions want these values to look like
    (web,) = [s for s in spans if s.name == "deploy deployment/web"]
    attrs = web.attributes or {}
    digests, tags = attrs["container.image.repo_digests"], attrs["container.image.tags"]
    assert isinstance(digests, Sequence) and isinstance(tags, Sequence)
    assert tuple(digests) == (f"registry.example/acme/web@{DIGEST}",)
    assert attrs["oci.manifest.digest"] == DIGEST
    assert attrs["container.image.name"] == "registry.example/acme/web"
    assert tuple(tags) == ("1.2",)
    assert attrs["vcs.ref.head.revision"] == SHA  # the full sha, as CI sends it
    assert attrs["vcs.repository.url.full"] == "https://git.example/acme/web"
    assert attrs["vcs.ref.head.name"] == "main"
    assert attrs["cicd.pipeline.run.url.full"] == "https://ci.example/acme/web/runs/7"
    links = {(f"{link.context.trace_id:032x}", link.context.span_id) for link in web.links}
    assert ("a" * 32, int("b" * 16, 16)) in links  # the CI root span, no traceparent needed
    assert ("c" * 32, int("d" * 16, 16)) in links  # and the traceparent annotation's
    (root,) = [s for s in spans if s.parent is None]
    assert "keptn.deployment.app.revision" not in (root.attributes or {})
    assert (root.attributes or {})["daylight.keptn_app.revision"] == 4
    # the scope and the resource name the schema the names were checked against
    assert SCOPE.schema_url == SCHEMA_URL and all(
        s.instrumentation_scope is not None and s.instrumentation_scope.schema_url == SCHEMA_URL
        for s in spans
    )
    assert build_resource().schema_url == SCHEMA_URL
