"""CI/CD traces shaped like the real emitters', made with the OpenTelemetry Python SDK.

Each function emits one pipeline run — its root span and a job span under it — through its own
``TracerProvider`` (the emitter's resource) into ``sink``, with the attributes where that
emitter puts them (facts from the emitters' sources, ../shared/reference/otel-cicd.md):

- ``github_receiver``: the Collector's GitHub receiver — everything on the resource, the run
  id an integer, the non-standard ``cicd.pipeline.run.status`` and ``vcs.ref.head``; no commit
  time.
- ``gitlab_receiver``: the Collector's GitLab receiver — the pipeline span carries the sha,
  ``vcs.ref.head.revision.timestamp`` in GitLab's ``2006-01-02 15:04:05 UTC`` format and
  ``vcs.repository.url.full``.
- ``otel_cicd_action``: the GitHub Action — ``github.head_sha``,
  ``github.head_commit.timestamp`` (ISO 8601), ``service.namespace`` = owner/repo.
- ``jenkins_legacy``: the Jenkins plugin's default ``ci.pipeline.*`` attributes, no sha.
- ``jenkins_otel``: the plugin in semantic-convention mode: ``cicd.*`` and
  ``vcs.ref.head.revision``, no commit time.

``extra`` adds attributes to the root span (what a pipeline may add: ``daylight.app``,
``k8s.namespace.name``, ``daylight.image.digest``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context
from opentelemetry.util.types import AttributeValue


@dataclass(frozen=True)
class Run:
    sha: str
    commit_time: float  # what the emitter knows (sent only by those that send it)
    repository: str  # owner/name
    run_id: int
    started: float
    finished: float
    extra: Mapping[str, AttributeValue] = field(default_factory=dict)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gitlab_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _emit(
    sink: SpanExporter,
    resource: Mapping[str, Any],
    root_name: str,
    root: Mapping[str, Any],
    run: Run,
    job: Mapping[str, Any],
    kind: SpanKind = SpanKind.SERVER,
) -> None:
    provider = TracerProvider(resource=Resource.create(dict(resource)))
    provider.add_span_processor(SimpleSpanProcessor(sink))
    tracer = provider.get_tracer("ci-emitter")
    attributes = {**root, **run.extra}
    span = tracer.start_span(
        root_name, kind=kind, attributes=attributes, start_time=_ns(run.started)
    )
    child = tracer.start_span(
        "job build",
        context=set_span_in_context(span),
        attributes=dict(job),
        start_time=_ns(run.started + 1),
    )
    child.end(_ns(run.finished - 1))
    span.end(_ns(run.finished))
    provider.force_flush()


def github_receiver(sink: SpanExporter, run: Run) -> None:
    resource = {
        "service.name": run.repository.split("/")[-1],
        "vcs.repository.name": run.repository.split("/")[-1],
        "vcs.vendor.name": "github",
        "vcs.ref.head": "main",
        "vcs.ref.head.type": "branch",
        "vcs.ref.head.revision": run.sha,
        "cicd.pipeline.name": "build",
        "cicd.pipeline.run.url.full": f"https://github.example/{run.repository}/actions/runs/{run.run_id}",
        "cicd.pipeline.run.id": run.run_id,
        "cicd.pipeline.run.status": "success",
    }
    _emit(sink, resource, "build", {}, run, {"cicd.pipeline.task.name": "build"})


def gitlab_receiver(sink: SpanExporter, run: Run) -> None:
    resource = {"service.name": run.repository.replace("/", "-"), "vcs.provider.name": "gitlab"}
    root = {
        "cicd.pipeline.name": "build",
        "cicd.pipeline.run.id": run.run_id,
        "cicd.pipeline.run.url.full": f"https://gitlab.example/{run.repository}/-/pipelines/{run.run_id}",
        "cicd.pipeline.result": "success",
        "vcs.ref.head.name": "main",
        "vcs.ref.head.revision": run.sha,
        "vcs.ref.head.revision.timestamp": _gitlab_time(run.commit_time),
        "vcs.repository.url.full": f"https://gitlab.example/{run.repository}",
        "vcs.repository.name": run.repository.split("/")[-1],
    }
    job = {"cicd.pipeline.task.name": "build", "cicd.pipeline.task.type": "build"}
    _emit(sink, resource, f"Pipeline: {run.repository} - build", root, run, job)


def otel_cicd_action(sink: SpanExporter, run: Run) -> None:
    resource = {
        "service.name": "build",
        "service.namespace": run.repository,
        "service.version": run.sha,
    }
    root = {
        "cicd.pipeline.action.name": "RUN",
        "cicd.pipeline.name": "build",
        "cicd.pipeline.result": "success",
        "cicd.pipeline.run.id": run.run_id,
        "cicd.pipeline.run.url.full": f"https://github.example/{run.repository}/actions/runs/{run.run_id}",
        "github.run_id": run.run_id,
        "github.run_attempt": 1,
        "github.html_url": f"https://github.example/{run.repository}/actions/runs/{run.run_id}",
        "github.head_sha": run.sha,
        "github.head_branch": "main",
        "github.head_commit.id": run.sha,
        "github.head_commit.timestamp": _iso(run.commit_time),
        "github.conclusion": "success",
    }
    job = {"cicd.pipeline.task.name": "build", "github.job.id": run.run_id * 10}
    _emit(sink, resource, "build", root, run, job, SpanKind.INTERNAL)


def jenkins_legacy(sink: SpanExporter, run: Run) -> None:
    resource = {"service.name": "jenkins", "service.namespace": "jenkins"}
    root = {
        "ci.pipeline.id": run.repository,
        "ci.pipeline.name": run.repository,
        "ci.pipeline.type": "workflow",
        "ci.pipeline.run.url": f"https://jenkins.example/job/{run.repository}/{run.run_id}/",
        "ci.pipeline.run.number": run.run_id,
        "ci.pipeline.run.result": "SUCCESS",
    }
    job = {"jenkins.pipeline.step.name": "sh", "jenkins.pipeline.step.type": "sh"}
    _emit(sink, resource, f"BUILD {run.repository}", root, run, job)


def jenkins_otel(sink: SpanExporter, run: Run) -> None:
    resource = {"service.name": "jenkins", "service.namespace": "jenkins"}
    root = {
        "cicd.pipeline.name": run.repository,
        "cicd.pipeline.run.id": f"{run.repository}#{run.run_id}",
        "cicd.pipeline.run.url.full": f"https://jenkins.example/job/{run.repository}/{run.run_id}/",
        "cicd.pipeline.result": "success",
        "vcs.ref.head.revision": run.sha,
        "vcs.ref.head.name": "main",
        "vcs.repository.url.full": f"https://git.example/{run.repository}.git",
    }
    job = {"cicd.pipeline.task.name": "sh", "cicd.pipeline.task.type": "build"}
    _emit(sink, resource, f"BUILD {run.repository}", root, run, job)


EMITTERS: dict[str, Callable[[SpanExporter, Run], None]] = {
    "github_receiver": github_receiver,
    "gitlab_receiver": gitlab_receiver,
    "otel_cicd_action": otel_cicd_action,
    "jenkins_legacy": jenkins_legacy,
    "jenkins_otel": jenkins_otel,
}
#: Which emitters send a commit time (the others leave lead time unknown).
SEND_COMMIT_TIME = {"gitlab_receiver", "otel_cicd_action"}
