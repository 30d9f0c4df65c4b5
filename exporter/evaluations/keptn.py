"""The Keptn vocabulary Daylight's checks read: objects, annotations, labels (read-only).

Pre/post-deployment *checks* are Keptn tasks (run as Jobs by the launcher) and Keptn
evaluations (queries run by the exporter). Both sides need the same words: which checks a
workload asks for (DESIGN §2 annotations), what a KeptnTaskDefinition or a
KeptnEvaluationDefinition says, and how a task Job is labelled. This module holds them and
does no I/O, so the read-only exporter and the writing launcher can share it.

The custom resources are decoded leniently: the informer keeps ``spec`` as raw JSON and the
typed view is decoded on use, so one malformed definition becomes a clear "invalid
definition" failure with the decoder's message instead of silently vanishing from the cache.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from exporter.kube import resources as kube_resources
from exporter.kube.resources import Resource
from exporter.kube.schema import KeptnApp, KeptnAppSpec, ObjectMeta, PodTemplate, Workload

# --- annotations and labels (DESIGN §2) ---------------------------------------------------

PRE_TASKS = ("keptn.sh/pre-deployment-tasks", "keptn.sh/pre-tasks")
POST_TASKS = ("keptn.sh/post-deployment-tasks", "keptn.sh/post-tasks")
PRE_EVALUATIONS = ("keptn.sh/pre-deployment-evaluations", "keptn.sh/pre-eval")
POST_EVALUATIONS = ("keptn.sh/post-deployment-evaluations", "keptn.sh/post-eval")
METADATA_KEY = "keptn.sh/metadata"
NAMESPACE_ENABLED = "keptn.sh/lifecycle-toolkit"

# Labels and annotations of task Jobs (the launcher writes them, the exporter reads them).
APP_KEY = "keptn.sh/app"
WORKLOAD_KEY = "keptn.sh/workload"
VERSION_KEY = "keptn.sh/version"
TASK_NAME_KEY = "keptn.sh/task-name"
MANAGED_BY = "app.kubernetes.io/managed-by"
LAUNCHER = "daylight-launcher"
PHASE_LABEL = "daylight.dev/task-phase"  # pre | post
OBJECT_LABEL = "daylight.dev/task-object"  # workload | app
RESULT_LABEL = "daylight.dev/task-result"  # "invalid" on a record of a task that never ran
FAILURE_ANNOTATION = "daylight.dev/task-failure"  # "<reason>: <message>" on such a record
KIND_ANNOTATION = "daylight.dev/workload-kind"
REVISION_ANNOTATION = "daylight.dev/workload-revision"
TRACEPARENT_ANNOTATION = "daylight.dev/traceparent"

PHASES = ("pre", "post")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def valid_object_name(name: str) -> bool:
    """A DNS-1123 subdomain, as Kubernetes requires of most object names."""
    return bool(_NAME.match(name))


# --- the checks a workload or app asks for ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checks:
    pre_tasks: tuple[str, ...] = ()
    post_tasks: tuple[str, ...] = ()
    pre_evaluations: tuple[str, ...] = ()
    post_evaluations: tuple[str, ...] = ()

    def tasks(self, phase: str) -> tuple[str, ...]:
        return self.pre_tasks if phase == "pre" else self.post_tasks

    def evaluations(self, phase: str) -> tuple[str, ...]:
        return self.pre_evaluations if phase == "pre" else self.post_evaluations

    def __bool__(self) -> bool:
        return bool(
            self.pre_tasks or self.post_tasks or self.pre_evaluations or self.post_evaluations
        )


NO_CHECKS = Checks()


def split_list(value: str) -> tuple[str, ...]:
    """``a, b,,c`` → ``("a", "b", "c")``; duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for part in value.split(","):
        name = part.strip()
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


def _first(sources: Sequence[Mapping[str, str]], keys: Sequence[str]) -> str | None:
    """Lookup order of DESIGN §2: source by source, the long key before its short alias."""
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value is not None:
                return value
    return None


_template_decoder = msgspec.json.Decoder(PodTemplate)


def template_of(workload: Workload) -> PodTemplate:
    try:
        return _template_decoder.decode(bytes(workload.spec.template))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return PodTemplate()


def workload_sources(workload: Workload) -> tuple[Mapping[str, str], ...]:
    """Pod-template annotations, pod-template labels, workload annotations, workload labels."""
    template = template_of(workload)
    meta = workload.metadata
    return (template.metadata.annotations, template.metadata.labels, meta.annotations, meta.labels)


def workload_checks(workload: Workload) -> Checks:
    sources = workload_sources(workload)

    def names(keys: Sequence[str]) -> tuple[str, ...]:
        value = _first(sources, keys)
        return split_list(value) if value else ()

    return Checks(
        names(PRE_TASKS), names(POST_TASKS), names(PRE_EVALUATIONS), names(POST_EVALUATIONS)
    )


def workload_metadata(workload: Workload) -> dict[str, str]:
    """``keptn.sh/metadata: k=v,k2=v2`` (Keptn's format), bounded."""
    value = _first(workload_sources(workload), (METADATA_KEY,))
    return parse_metadata(value or "")


def parse_metadata(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if sep and key and len(out) < 32:
            out[key[:128]] = val.strip()[:512]
    return out


# --- lenient typed views of the custom resources -------------------------------------------


class _Keptn(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of the Keptn spec views: camelCase on the wire, unknown fields ignored."""


class Reference(_Keptn):
    name: str = ""
    namespace: str = ""


class Inline(_Keptn):
    code: str = ""


class HttpRef(_Keptn):
    url: str = ""


class Parameters(_Keptn):
    map: dict[str, str] = {}


class SecureParameters(_Keptn):
    secret: str = ""


class RuntimeSpec(_Keptn):
    """A Deno or Python function: exactly one of the four code sources."""

    function_ref: Reference | None = None
    inline: Inline | None = None
    http_ref: HttpRef | None = None
    config_map_ref: Reference | None = None
    parameters: Parameters = msgspec.field(default_factory=Parameters)
    secure_parameters: SecureParameters = msgspec.field(default_factory=SecureParameters)
    cmd_parameters: str = ""


class ServiceAccountSpec(_Keptn):
    name: str = ""


class AutomountSpec(_Keptn):
    type: bool | None = None


class TaskDefinitionSpec(_Keptn):
    container: dict[str, Any] | None = None
    deno: RuntimeSpec | None = None
    python: RuntimeSpec | None = None
    function: RuntimeSpec | None = None  # v1alpha3's name for the Deno runtime
    retries: int | None = None
    timeout: str | None = None
    service_account: ServiceAccountSpec | None = None
    automount_service_account_token: AutomountSpec | None = None
    ttl_seconds_after_finished: int | None = None
    image_pull_secrets: list[Reference] = []


class Objective(_Keptn):
    """One objective: a KeptnMetric reference, or (Daylight/v1alpha1 style) an inline query."""

    keptn_metric_ref: Reference | None = None
    evaluation_target: str = ""
    name: str = ""
    query: str = ""
    source: str = ""
    provider: Reference | None = None


class EvaluationDefinitionSpec(_Keptn):
    objectives: list[Objective] = []
    retries: int = 10
    retry_interval: str = "5s"
    source: str = ""  # v1alpha1: the provider of every inline query


class MetricRange(_Keptn):
    interval: str = "5m"
    step: str = ""
    aggregation: str = ""
    stored_results: int = 0


class MetricSpec(_Keptn):
    provider: Reference = msgspec.field(default_factory=Reference)
    query: str = ""
    fetch_interval_seconds: int = 0
    range: MetricRange | None = None


class SecretKeyRef(_Keptn):
    name: str = ""
    key: str = ""


class ProviderSpec(_Keptn):
    type: str = ""
    target_server: str = ""
    secret_key_ref: SecretKeyRef | None = None
    insecure_skip_tls_verify: bool = False


S = TypeVar("S", bound=msgspec.Struct)


class InvalidSpec(Exception):
    """A custom resource whose spec does not fit the schema; the message says where."""


def decode_spec(raw: msgspec.Raw, spec_type: type[S]) -> S:
    try:
        return msgspec.json.decode(bytes(raw), type=spec_type)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidSpec(str(exc)) from None


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    pass


class KeptnObject(_Wire):
    """A Keptn custom resource with its spec kept raw (decode with :func:`decode_spec`)."""

    kind: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: msgspec.Raw = msgspec.Raw(b"{}")


class KeptnAppChecksSpec(KeptnAppSpec):
    """KeptnApp spec plus its app-level checks (raw: a bad list must not drop the app)."""

    pre_deployment_tasks: msgspec.Raw = msgspec.Raw(b"[]")
    post_deployment_tasks: msgspec.Raw = msgspec.Raw(b"[]")
    pre_deployment_evaluations: msgspec.Raw = msgspec.Raw(b"[]")
    post_deployment_evaluations: msgspec.Raw = msgspec.Raw(b"[]")


class KeptnAppWithChecks(KeptnApp):
    """A KeptnApp the model understands (it is one) that also carries app-level checks."""

    spec: KeptnAppChecksSpec = msgspec.field(default_factory=KeptnAppChecksSpec)


_names = msgspec.json.Decoder(list[str])


def _raw_names(raw: msgspec.Raw) -> tuple[str, ...]:
    try:
        return split_list(",".join(_names.decode(bytes(raw))))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ()


def app_checks(app: KeptnApp) -> Checks:
    spec = app.spec
    if not isinstance(spec, KeptnAppChecksSpec):
        return NO_CHECKS
    return Checks(
        _raw_names(spec.pre_deployment_tasks),
        _raw_names(spec.post_deployment_tasks),
        _raw_names(spec.pre_deployment_evaluations),
        _raw_names(spec.post_deployment_evaluations),
    )


def _rich(base: Resource, item_type: type[msgspec.Struct]) -> Resource:
    return Resource(
        base.plural, base.kind, base.group, base.version, item_type, base.namespaced, base.optional
    )


KEPTN_APPS = _rich(kube_resources.KEPTN_APPS, KeptnAppWithChecks)
KEPTN_TASK_DEFINITIONS = _rich(kube_resources.KEPTN_TASK_DEFINITIONS, KeptnObject)
KEPTN_EVALUATION_DEFINITIONS = _rich(kube_resources.KEPTN_EVALUATION_DEFINITIONS, KeptnObject)
KEPTN_METRICS = _rich(kube_resources.KEPTN_METRICS, KeptnObject)
KEPTN_METRICS_PROVIDERS = _rich(kube_resources.KEPTN_METRICS_PROVIDERS, KeptnObject)
RICH: dict[str, Resource] = {
    r.plural: r
    for r in (
        KEPTN_APPS,
        KEPTN_TASK_DEFINITIONS,
        KEPTN_EVALUATION_DEFINITIONS,
        KEPTN_METRICS,
        KEPTN_METRICS_PROVIDERS,
    )
}


def with_checks(resources: Sequence[Resource]) -> tuple[Resource, ...]:
    """The same resources, with the Keptn ones decoded into the richer views above."""
    return tuple(RICH.get(r.plural, r) for r in resources)


# --- namespaces where checks may act ---------------------------------------------------------


class NamespaceGate:
    """Checks run only in namespaces listed by ``--allowed-namespaces`` or annotated
    ``keptn.sh/lifecycle-toolkit: enabled`` (Keptn's opt-in); nothing else, by default."""

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        self.listed = frozenset(allowed)
        self.annotated: set[str] = set()

    def observe(self, meta: ObjectMeta, deleted: bool) -> None:
        name = meta.name
        if not deleted and meta.annotations.get(NAMESPACE_ENABLED, "").lower() == "enabled":
            self.annotated.add(name)
        else:
            self.annotated.discard(name)

    def allowed(self, namespace: str) -> bool:
        return namespace in self.listed or namespace in self.annotated


# --- Go-style durations (Keptn's timeout and retryInterval fields) -----------------------

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """``5m``, ``1h30m``, ``500ms`` or ``0``; ValueError otherwise (also for bare numbers)."""
    value = text.strip()
    if value == "0":
        return 0.0
    if not value or len(value) > 32:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    total = 0.0
    position = 0
    for match in _GO_DURATION.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return total
