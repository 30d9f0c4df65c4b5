"""CI/CD spans to changes: the documented mapping (design §5, README "Lead time without
changing a pipeline").

Pure: attributes in, a :class:`~exporter.events.external.Change` (or why not) out. Resource
and span attributes are read as one map, the span's winning, because the emitters disagree on
where they put things (the Collector's GitHub receiver puts everything on the resource).

Only the span of a pipeline *run* becomes a change: it carries a pipeline attribute
(``cicd.pipeline.name``/``run.id``/``run.url.full``, Jenkins' legacy ``ci.pipeline.*``,
otel-cicd-action's ``github.head_sha``), no task attribute (jobs and steps carry
``cicd.pipeline.task.*``), and is a root span or a SERVER span. Everything else — jobs, steps,
queue spans, application traces — is accepted and ignored. Daylight's own deployment spans
(scope ``daylight.deployments``) are ignored by name, so a Collector that sends our traces
back to us closes no loop.

| what | attributes, first found wins |
|---|---|
| commit sha | ``vcs.ref.head.revision``, ``github.head_sha``, ``vcs.repository.ref.revision`` |
| commit time | ``vcs.ref.head.revision.timestamp`` (GitLab receiver), ``github.head_commit.timestamp`` (otel-cicd-action), ``daylight.commit.time``; never guessed |
| repository | ``vcs.repository.url.full``, ``vcs.repository.name``, ``service.namespace`` (otel-cicd-action), ``git.repository`` (Jenkins) |
| ref | ``vcs.ref.head.name``, ``vcs.ref.head`` (GitHub receiver), ``github.head_branch`` |
| run | ``cicd.pipeline.run.id``, ``github.run_id``, ``ci.pipeline.id`` + ``ci.pipeline.run.number``; else the run URL |
| run URL | ``cicd.pipeline.run.url.full``, ``github.html_url``, ``ci.pipeline.run.url`` |
| image digest | ``daylight.image.digest``, ``oci.manifest.digest``, ``container.image.repo_digests`` |
| version | ``daylight.version`` |
| namespace, app | ``k8s.namespace.name``; ``daylight.app``, else the app map by ``service.name`` or repository |
"""  # noqa: E501 - a table

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exporter.events.external import DIGEST_RE, SHA_RE, SOURCE_OTLP, Change
from exporter.events.names import valid_name
from exporter.events.timeutil import MIN_PLAUSIBLE, parse_ci_time
from exporter.events.urls import without_credentials

OWN_SCOPE = "daylight.deployments"
SPAN_KIND_SERVER = 2

PIPELINE_KEYS = frozenset(
    (
        "cicd.pipeline.name",
        "cicd.pipeline.run.id",
        "cicd.pipeline.run.url.full",
        "ci.pipeline.id",
        "ci.pipeline.name",
        "ci.pipeline.run.url",
        "github.head_sha",
    )
)
TASK_KEYS = frozenset(
    ("cicd.pipeline.task.name", "cicd.pipeline.task.run.id", "cicd.pipeline.task.type")
)
SHA_KEYS = ("vcs.ref.head.revision", "github.head_sha", "vcs.repository.ref.revision")
TIME_KEYS = (
    "vcs.ref.head.revision.timestamp",
    "github.head_commit.timestamp",
    "daylight.commit.time",
)
REPOSITORY_KEYS = (
    "vcs.repository.url.full",
    "vcs.repository.name",
    "service.namespace",
    "git.repository",
)
REF_KEYS = ("vcs.ref.head.name", "vcs.ref.head", "github.head_branch", "vcs.repository.ref.name")
RUN_URL_KEYS = ("cicd.pipeline.run.url.full", "github.html_url", "ci.pipeline.run.url")
DIGEST_KEYS = ("daylight.image.digest", "oci.manifest.digest", "container.image.repo_digests")
MAX_FUTURE_S = 300.0
MAX_TEXT = 1024

Attributes = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class AppMap:
    """``service.name`` or repository (URL or name) to ``app`` or ``namespace/app``
    (``--ci-app-map``), for pipelines that name neither."""

    entries: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Sequence[str]) -> AppMap:
        """``KEY=APP`` or ``KEY=NAMESPACE/APP`` items; ValueError names a bad one."""
        entries: dict[str, tuple[str | None, str]] = {}
        for item in items:
            key, sep, target = item.partition("=")
            namespace, slash, app = target.rpartition("/")
            if not sep or not key.strip() or not valid_name(app) or (slash and not namespace):
                raise ValueError(f"not KEY=APP or KEY=NAMESPACE/APP: {item!r}")
            entries[_normal_repository(key.strip())] = (namespace or None, app)
        return cls(entries)

    def lookup(self, *keys: str | None) -> tuple[str | None, str] | None:
        for key in keys:
            if key:
                found = self.entries.get(_normal_repository(key))
                if found is not None:
                    return found
        return None


@dataclass(frozen=True, slots=True)
class SpanView:
    """What the mapping reads of one span (ids already checked by the receiver)."""

    resource: Attributes
    attributes: Attributes
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent: bool
    kind: int
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Not a pipeline run (a job, a step, an application span, our own): accepted."""

    why: str  # "own" | "not_cicd"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A pipeline run that cannot become a change: counted in ``rejected_spans``."""

    reason: str  # a bounded label for daylight_invalid_input_total
    message: str


Mapped = Change | Skipped | Rejected


def _first(attrs: Attributes, keys: Sequence[str]) -> object:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _text(attrs: Attributes, keys: Sequence[str]) -> str | None:
    value = _first(attrs, keys)
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text if text and len(text) <= MAX_TEXT else None


def _normal_repository(value: str) -> str:
    text = value.strip().rstrip("/")
    text = text[:-4] if text.endswith(".git") else text
    return re.sub(r"(?<=://)[^/@]*@", "", text).lower()  # no credentials, ever


def is_pipeline_run(span: SpanView, attrs: Attributes) -> bool:
    if PIPELINE_KEYS.isdisjoint(attrs) or not TASK_KEYS.isdisjoint(attrs):
        return False
    return not span.parent or span.kind == SPAN_KIND_SERVER


def provider_of(attrs: Attributes) -> str:
    named = _text(attrs, ("vcs.provider.name", "vcs.vendor.name", "cicd.system.component"))
    if named is not None and valid_name(named):
        return named.lower()
    if any(key.startswith("github.") for key in attrs):
        return "github"
    if any(key.startswith("ci.pipeline.") for key in attrs):
        return "jenkins"
    if any(key.startswith("gitlab.") for key in attrs):
        return "gitlab"
    return "ci"


def _run_id(attrs: Attributes, provider: str, run_url: str | None) -> str | None:
    run = _text(attrs, ("cicd.pipeline.run.id", "github.run_id"))
    if run is None:
        job, number = _text(attrs, ("ci.pipeline.id",)), _text(attrs, ("ci.pipeline.run.number",))
        run = f"{job}#{number}" if job and number else None
    if run is None:
        run = run_url
    return f"{provider}/{run}" if run else None


def _digest(attrs: Attributes) -> str | None:
    for key in DIGEST_KEYS:
        value = attrs.get(key)
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            found = DIGEST_RE.search(item) if isinstance(item, str) else None
            if found is not None:
                return found.group(0)
    return None


def _commit_time(attrs: Attributes, now: float) -> tuple[float | None, str | None]:
    """(the commit time, or None; the invalid-input reason when one was present but bad)."""
    raw = _first(attrs, TIME_KEYS)
    if raw is None:
        return None, None
    parsed = parse_ci_time(raw)
    if parsed is None:
        return None, "otlp_commit_time"
    if parsed < MIN_PLAUSIBLE or parsed > now + MAX_FUTURE_S:
        return None, "otlp_commit_time_implausible"
    return parsed, None


def _placement(
    attrs: Attributes, apps: AppMap, repository: str | None
) -> tuple[str | None, str | None]:
    namespace = _text(attrs, ("k8s.namespace.name",))
    app = _text(attrs, ("daylight.app",))
    if app is None:
        mapped = apps.lookup(_text(attrs, ("service.name",)), repository)
        if mapped is not None:
            namespace = namespace or mapped[0]
            app = mapped[1]
    return (
        namespace if namespace is not None and valid_name(namespace) else None,
        app if app is not None and valid_name(app) else None,
    )


def map_span(span: SpanView, apps: AppMap, now: float) -> tuple[Mapped, str | None]:
    """The change a span says, or why not; plus an invalid-input reason to count (a commit
    time present but unreadable: the change is kept, without a time)."""
    if span.scope == OWN_SCOPE:
        return Skipped("own"), None
    attrs = {**span.resource, **span.attributes}
    if not is_pipeline_run(span, attrs):
        return Skipped("not_cicd"), None
    sha = _text(attrs, SHA_KEYS)
    if sha is not None and not SHA_RE.match(sha):
        return Rejected("otlp_commit_sha", f"commit sha {sha[:80]!r} is not 7-64 hex"), None
    digest = _digest(attrs)
    version = _text(attrs, ("daylight.version",))
    if version is not None and not valid_name(version):
        version = None
    if sha is None and digest is None and version is None:
        return (
            Rejected(
                "otlp_no_commit",
                "a pipeline run without vcs.ref.head.revision, an image digest or "
                "daylight.version matches no deployment",
            ),
            None,
        )
    commit_time, bad_time = _commit_time(attrs, now)
    raw_repository = _text(attrs, REPOSITORY_KEYS)
    repository = _normal_repository(raw_repository) if raw_repository else None
    raw_url = _text(attrs, RUN_URL_KEYS)
    run_url = without_credentials(raw_url) if raw_url is not None else None
    namespace, app = _placement(attrs, apps, repository)
    provider = provider_of(attrs)
    change = Change(
        commit_sha=(sha or "").lower(),
        commit_time=commit_time,
        image_digest=digest,
        version=version,
        namespace=namespace,
        app=app,
        source=SOURCE_OTLP,
        repository=repository,
        ref=_text(attrs, REF_KEYS),
        run_id=_run_id(attrs, provider, run_url),
        run_url=run_url,
        trace_id=span.trace_id,
        span_id=span.span_id,
        image_name=_text(attrs, ("container.image.name",)),
    )
    return change, bad_time
