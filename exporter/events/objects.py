"""Slim typed projections of Kubernetes and Keptn objects, decoded straight from the wire.

Only the fields the model reads are declared: msgspec skips everything else without building
Python objects for it, which is what makes decoding several times cheaper than ``json.loads``
and keeps a cached Pod to a few hundred bytes. Field names follow the API (camelCase) through
``rename="camel"``. These types carry no behaviour and do no I/O: they are the vocabulary
every layer shares (``kube`` decodes into them, the model and the checks read them).

The Keptn custom resources are decoded leniently: ``spec`` stays raw JSON and the typed view
is decoded on use (:func:`decode_spec`), so one malformed definition becomes a clear "invalid
definition" failure with the decoder's message instead of silently vanishing from the cache.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """Base for wire projections: camelCase names, no GC tracking (they hold no cycles)."""


class OwnerReference(_Wire):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(_Wire):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: list[OwnerReference] = []


class ManagedFields(_Wire):
    """Who last wrote an object and when: ``time`` moves whenever that manager changes it."""

    manager: str = ""
    operation: str = ""
    subresource: str = ""
    time: str | None = None


class RevisionMeta(ObjectMeta):
    """A ReplicaSet's metadata with its writers: the controller's last write to a replaced
    ReplicaSet is when it was scaled away, which dates a recovery the history keeps."""

    managed_fields: list[ManagedFields] = []


class PodMeta(_Wire):
    """Pods are the bulk of a cluster; their annotations are never read, so never kept."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    labels: dict[str, str] = {}
    owner_references: list[OwnerReference] = []


class Condition(_Wire):
    type: str = ""
    status: str = ""
    reason: str = ""
    last_update_time: str | None = None
    last_transition_time: str | None = None


class Container(_Wire):
    name: str = ""
    image: str = ""


class TemplateMeta(_Wire):
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class TemplateSpec(_Wire):
    containers: list[Container] = []


class PodTemplate(_Wire):
    """The parts of a pod template identity needs; the fingerprint uses the raw bytes."""

    metadata: TemplateMeta = msgspec.field(default_factory=TemplateMeta)
    spec: TemplateSpec = msgspec.field(default_factory=TemplateSpec)


class RollingUpdate(_Wire):
    max_unavailable: int | str | None = None
    max_surge: int | str | None = None


class Strategy(_Wire):
    type: str = ""
    rolling_update: RollingUpdate | None = None


class WorkloadSpec(_Wire):
    replicas: int | None = None
    template: msgspec.Raw = msgspec.Raw(b"{}")
    progress_deadline_seconds: int | None = None
    paused: bool = False
    strategy: Strategy | None = None  # Deployments (StatefulSets call it updateStrategy)


class WorkloadStatus(_Wire):
    observed_generation: int = 0
    # Deployment / StatefulSet
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    # StatefulSet
    current_revision: str = ""
    update_revision: str = ""
    # DaemonSet
    desired_number_scheduled: int = 0
    updated_number_scheduled: int = 0
    number_available: int = 0
    number_ready: int = 0
    conditions: list[Condition] = []


class Workload(_Wire):
    """Deployment, StatefulSet or DaemonSet: the three kinds whose rollouts are deployments."""

    kind: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: WorkloadSpec = msgspec.field(default_factory=WorkloadSpec)
    status: WorkloadStatus = msgspec.field(default_factory=WorkloadStatus)


class ReplicaSetSpec(_Wire):
    replicas: int | None = None
    template: msgspec.Raw = msgspec.Raw(b"{}")


class ReplicaSet(_Wire):
    kind: str = "ReplicaSet"
    metadata: RevisionMeta = msgspec.field(default_factory=RevisionMeta)
    spec: ReplicaSetSpec = msgspec.field(default_factory=ReplicaSetSpec)


class ControllerRevision(_Wire):
    kind: str = "ControllerRevision"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    revision: int = 0
    data: msgspec.Raw = msgspec.Raw(b"{}")


class ContainerStateWaiting(_Wire):
    reason: str = ""


class ContainerState(_Wire):
    waiting: ContainerStateWaiting | None = None


class ContainerStatus(_Wire):
    name: str = ""
    image_id: str = msgspec.field(default="", name="imageID")
    ready: bool = False
    restart_count: int = 0
    state: ContainerState = msgspec.field(default_factory=ContainerState)


class PodStatus(_Wire):
    phase: str = ""
    container_statuses: list[ContainerStatus] = []


class Pod(_Wire):
    kind: str = "Pod"
    metadata: PodMeta = msgspec.field(default_factory=PodMeta)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


class Namespace(_Wire):
    kind: str = "Namespace"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


class JobStatus(_Wire):
    succeeded: int = 0
    failed: int = 0
    conditions: list[Condition] = []


class Job(_Wire):
    kind: str = "Job"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    status: JobStatus = msgspec.field(default_factory=JobStatus)


class KeptnAppWorkload(_Wire):
    name: str = ""
    version: str = ""


class KeptnAppSpec(_Wire):
    version: str = ""
    revision: int = 1
    workloads: list[KeptnAppWorkload] = []


class KeptnApp(_Wire):
    kind: str = "KeptnApp"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: KeptnAppSpec = msgspec.field(default_factory=KeptnAppSpec)


class Status(_Wire):
    """A Kubernetes Status (errors, and the object of a watch ERROR event)."""

    kind: str = "Status"
    status: str = ""
    message: str = ""
    reason: str = ""
    code: int = 0


class ListMeta(_Wire):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class BookmarkObject(_Wire):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


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


AnyObject = (
    Workload | ReplicaSet | ControllerRevision | Pod | Namespace | Job | KeptnApp | KeptnObject
)


# --- typed views of Keptn specs (decoded on use) -----------------------------------------


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


_template_decoder = msgspec.json.Decoder(PodTemplate)


def template_of(workload: Workload) -> PodTemplate:
    """The identity-relevant view of a workload's pod template (empty when undecodable)."""
    try:
        return _template_decoder.decode(bytes(workload.spec.template))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return PodTemplate()
