"""KeptnTaskDefinition + deployment → Kubernetes Job (pure: no I/O, no clock).

Supported definitions (``lifecycle.keptn.sh/v1``): ``container`` (a full container spec),
``deno`` / ``python`` (and v1alpha3's ``function``) with ``inline.code``, ``configMapRef``,
``httpRef`` or ``functionRef`` (another definition supplying the code, whose parameters the
referring one overrides), ``parameters.map``, ``secureParameters.secret``,
``cmdParameters``, ``retries`` (→ ``backoffLimit``), ``timeout`` (→
``activeDeadlineSeconds``), ``ttlSecondsAfterFinished``, ``serviceAccount``,
``automountServiceAccountToken`` and ``imagePullSecrets``.

What the Job's container gets: ``KEPTN_CONTEXT`` (JSON: appName, appVersion, workloadName,
workloadVersion, taskType, objectType, traceparent, metadata), and for function runtimes
``DATA`` (the parameters as JSON), ``CMD_ARGS``, ``SCRIPT`` (the mounted code's path or the
httpRef URL) and ``SECURE_DATA`` as a ``secretKeyRef`` to the key ``SECURE_DATA`` of the named
Secret: the launcher never reads a Secret.

Safety: nothing is added that the definition did not ask for. Function runtimes (our
containers) run with a default-deny security context; a ``container`` task keeps its own,
and only gets ``allowPrivilegeEscalation: false`` when it did not say. The pod gets a
service-account token only when the definition asks for it (``automountServiceAccountToken``,
or a ``serviceAccount``). Invalid input raises :class:`InvalidTask` with a reason.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.checks.keptn import valid_object_name
from exporter.events import keys, urls
from exporter.events.objects import (
    InvalidSpec,
    KeptnObject,
    RuntimeSpec,
    TaskDefinitionSpec,
    decode_spec,
)
from exporter.events.timeutil import parse_go_duration
from exporter.events.urls import valid_http_url
from exporter.launcher import naming

JsonDict = dict[str, Any]

DEFAULT_RETRIES = 10
DEFAULT_TIMEOUT = "5m"
DEFAULT_TTL_S = 300
MAX_INLINE_CODE = 512 * 1024  # ConfigMaps stop at 1 MiB
RUNNER_CONTAINER = "keptn-function-runner"
CODE_KEY = "code"
SECURE_DATA_KEY = "SECURE_DATA"
MOUNT_DIR = "/var/data"
INVALID_IMAGE = "registry.invalid/daylight/task-not-run:0"
_SKIPPED_ANNOTATIONS = ("kubectl.kubernetes.io/", "meta.helm.sh/", "deployment.kubernetes.io/")


@dataclass(frozen=True, slots=True)
class RuntimeImages:
    python: str = "ghcr.io/keptn/python-runtime:v1.0.8"
    deno: str = "ghcr.io/keptn/deno-runtime:v3.0.1"


@dataclass(frozen=True, slots=True)
class Limits:
    max_timeout_s: float = 86400.0
    max_retries: int = 100
    max_ttl_s: int = 7 * 86400
    min_ttl_s: int = 300  # finished Jobs outlive the catch-up window: restarts stay idempotent


@dataclass(frozen=True, slots=True)
class TaskContext:
    app_name: str
    app_version: str
    workload_name: str
    workload_version: str
    task_type: str  # "pre" | "post"
    object_type: str  # "Workload" | "App"
    traceparent: str = ""
    metadata: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        metadata = dict(self.metadata)
        if self.traceparent:
            metadata["traceparent"] = self.traceparent
        return json.dumps(
            {
                "appName": self.app_name,
                "appVersion": self.app_version,
                "workloadName": self.workload_name,
                "workloadVersion": self.workload_version,
                "taskType": self.task_type,
                "objectType": self.object_type,
                "traceparent": self.traceparent,
                "metadata": metadata,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class Owner:
    api_version: str
    kind: str
    name: str
    uid: str

    def reference(self) -> JsonDict:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": False,
            "blockOwnerDeletion": False,
        }


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """One task to launch for one deployment (everything but the definition)."""

    namespace: str
    task: str
    phase: str
    context: TaskContext
    owner: Owner
    identity: tuple[str, ...]  # what makes the launch unique (hashed into the name)
    workload_kind: str = ""
    revision: str = ""

    @property
    def job_name(self) -> str:
        return naming.job_name(self.phase, self.task, self.owner.name, self.identity)


class InvalidTask(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class Rendered:
    job: JsonDict
    config_map: JsonDict | None = None  # inline code: create before the Job
    config_map_ref: str | None = None  # the user's ConfigMap the Job mounts (must exist)
    secret: str | None = None  # the Secret SECURE_DATA refers to (existence only)
    definition_chain: list[str] = field(default_factory=list)


Lookup = Callable[[str], KeptnObject | None]


def labels_for(request: TaskRequest, invalid: bool = False) -> dict[str, str]:
    ctx = request.context
    labels = {
        keys.MANAGED_BY: keys.LAUNCHER,
        keys.APP_KEY: naming.label_value(ctx.app_name),
        keys.TASK_NAME_KEY: naming.label_value(request.task),
        keys.PHASE_LABEL: request.phase,
        keys.OBJECT_LABEL: "app" if ctx.object_type == "App" else "workload",
    }
    if ctx.workload_name:
        labels[keys.WORKLOAD_KEY] = naming.label_value(ctx.workload_name)
    version = ctx.workload_version or ctx.app_version
    if version:
        labels[keys.VERSION_KEY] = naming.label_value(version)
    if invalid:
        labels[keys.RESULT_LABEL] = "invalid"
    return labels


def annotations_for(request: TaskRequest) -> dict[str, str]:
    ctx = request.context
    annotations = {
        keys.APP_KEY: ctx.app_name,
        keys.TASK_NAME_KEY: request.task,
        keys.VERSION_KEY: ctx.workload_version or ctx.app_version,
    }
    if ctx.workload_name:
        annotations[keys.WORKLOAD_KEY] = ctx.workload_name
    if request.workload_kind:
        annotations[keys.KIND_ANNOTATION] = request.workload_kind
    if request.revision:
        annotations[keys.TASK_REVISION_ANNOTATION] = request.revision
    if ctx.traceparent:
        annotations[keys.TRACEPARENT_ANNOTATION] = ctx.traceparent
    return annotations


def _metadata(
    request: TaskRequest, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> JsonDict:
    return {
        "name": request.job_name,
        "namespace": request.namespace,
        "labels": dict(labels),
        "annotations": dict(annotations),
        "ownerReferences": [request.owner.reference()],
    }


# --------------------------------------------------------------------------- definitions


def _spec(definition: KeptnObject) -> TaskDefinitionSpec:
    try:
        return decode_spec(definition.spec, TaskDefinitionSpec)
    except InvalidSpec as exc:
        name = f"{definition.metadata.namespace}/{definition.metadata.name}"
        raise InvalidTask("invalid_definition", f"KeptnTaskDefinition {name}: {exc}") from None


def _runtime_of(spec: TaskDefinitionSpec) -> tuple[str, RuntimeSpec | None]:
    present = [
        (kind, value)
        for kind, value in (
            ("container", spec.container),
            ("deno", spec.deno),
            ("python", spec.python),
            ("deno", spec.function),
        )
        if value is not None
    ]
    if len(present) != 1:
        raise InvalidTask(
            "invalid_runtime",
            "a KeptnTaskDefinition needs exactly one of container, deno or python "
            f"(found {len(present) or 'none'})",
        )
    kind, value = present[0]
    return kind, value if isinstance(value, RuntimeSpec) else None


@dataclass(slots=True)
class _Function:
    kind: str  # deno | python
    holder: KeptnObject  # the definition that holds the code
    source: RuntimeSpec  # the runtime spec with the code (inline/httpRef/configMapRef)
    parameters: dict[str, str]
    secret: str
    cmd: str
    chain: list[str]


def _resolve_function(
    definition: KeptnObject, kind: str, runtime: RuntimeSpec, lookup: Lookup
) -> _Function:
    """Follow functionRef to the definition holding the code; the referring one's
    parameters, secret and command line win over those it refers to."""
    chain = [definition.metadata.name]
    parameters = dict(runtime.parameters.map)
    secret = runtime.secure_parameters.secret
    cmd = runtime.cmd_parameters
    holder, current = definition, runtime
    for _ in range(4):
        sources = [
            s
            for s in (
                current.inline,
                current.http_ref,
                current.config_map_ref,
                current.function_ref,
            )
            if s is not None
        ]
        if len(sources) != 1:
            raise InvalidTask(
                "invalid_runtime",
                f"{kind} runtime of {holder.metadata.name} needs exactly one of inline, "
                f"httpRef, configMapRef or functionRef (found {len(sources) or 'none'})",
            )
        ref = current.function_ref
        if ref is None:
            return _Function(kind, holder, current, parameters, secret, cmd, chain)
        if ref.name in chain or not valid_object_name(ref.name):
            raise InvalidTask(
                "invalid_runtime",
                f"functionRef {ref.name!r} of "
                f"{holder.metadata.name} is a cycle or not a valid name",
            )
        parent = lookup(ref.name)
        if parent is None:
            raise InvalidTask(
                "unknown_definition",
                f"functionRef {ref.name!r} of {holder.metadata.name}: no such "
                "KeptnTaskDefinition in the namespace",
            )
        parent_kind, parent_runtime = _runtime_of(_spec(parent))
        if parent_runtime is None:
            raise InvalidTask(
                "invalid_runtime", f"functionRef {ref.name!r} is a container task, not a function"
            )
        kind = parent_kind
        merged = dict(parent_runtime.parameters.map)
        merged.update(parameters)
        parameters = merged
        secret = secret or parent_runtime.secure_parameters.secret
        cmd = cmd or parent_runtime.cmd_parameters
        chain.append(parent.metadata.name)
        holder, current = parent, parent_runtime
    raise InvalidTask("invalid_runtime", f"functionRef chain too long: {' -> '.join(chain)}")


# --------------------------------------------------------------------------- the Job


def _schedule(spec: TaskDefinitionSpec, limits: Limits) -> tuple[int, int, int]:
    retries = DEFAULT_RETRIES if spec.retries is None else spec.retries
    if not 0 <= retries <= limits.max_retries:
        raise InvalidTask(
            "invalid_retries", f"retries must be within 0..{limits.max_retries}, got {retries}"
        )
    text = spec.timeout if spec.timeout is not None else DEFAULT_TIMEOUT
    try:
        timeout = parse_go_duration(text)
    except ValueError as exc:
        raise InvalidTask("invalid_timeout", str(exc)) from None
    if not 1.0 <= timeout <= limits.max_timeout_s:
        raise InvalidTask(
            "invalid_timeout",
            f"timeout {text!r} must be between 1s and {limits.max_timeout_s:g}s",
        )
    ttl = (
        DEFAULT_TTL_S
        if spec.ttl_seconds_after_finished is None
        else spec.ttl_seconds_after_finished
    )
    if not 0 <= ttl <= limits.max_ttl_s:
        raise InvalidTask(
            "invalid_ttl",
            f"ttlSecondsAfterFinished must be within 0..{limits.max_ttl_s}, got {ttl}",
        )
    return retries, int(timeout), max(ttl, limits.min_ttl_s)


def _definition_labels(definition: KeptnObject) -> dict[str, str]:
    return dict(definition.metadata.labels)


def _definition_annotations(definition: KeptnObject) -> dict[str, str]:
    return {
        k: v
        for k, v in definition.metadata.annotations.items()
        if not k.startswith(_SKIPPED_ANNOTATIONS) and len(v) <= 4096
    }


def _runner_security() -> JsonDict:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env_value(name: str, value: str) -> JsonDict:
    return {"name": name, "value": value}


def render_task(
    request: TaskRequest,
    definition: KeptnObject,
    lookup: Lookup,
    images: RuntimeImages | None = None,
    limits: Limits | None = None,
) -> Rendered:
    """The Job (and inline-code ConfigMap) that run ``definition`` for ``request``."""
    images = images or RuntimeImages()
    limits = limits or Limits()
    if not valid_object_name(request.task):
        raise InvalidTask("invalid_name", f"not a valid task definition name: {request.task!r}")
    spec = _spec(definition)
    kind, runtime = _runtime_of(spec)
    retries, timeout, ttl = _schedule(spec, limits)
    labels = {**_definition_labels(definition), **labels_for(request)}
    annotations = annotations_for(request)
    pod_spec: JsonDict = {"restartPolicy": "Never"}
    rendered = Rendered(job={}, definition_chain=[definition.metadata.name])
    context = _env_value("KEPTN_CONTEXT", request.context.to_json())

    if runtime is None:
        container = _container_task(spec.container, context, pod_spec)
    else:
        function = _resolve_function(definition, kind, runtime, lookup)
        rendered.definition_chain = function.chain
        container = _function_task(function, images, context, pod_spec, rendered, request)

    if spec.service_account is not None and spec.service_account.name:
        if not valid_object_name(spec.service_account.name):
            raise InvalidTask("invalid_name", f"serviceAccount {spec.service_account.name!r}")
        pod_spec["serviceAccountName"] = spec.service_account.name
    automount = (
        spec.automount_service_account_token.type
        if spec.automount_service_account_token is not None
        else None
    )
    pod_spec["automountServiceAccountToken"] = (
        automount if automount is not None else "serviceAccountName" in pod_spec
    )
    secrets = [s.name for s in spec.image_pull_secrets if s.name]
    for name in secrets:
        if not valid_object_name(name):
            raise InvalidTask("invalid_name", f"imagePullSecrets entry {name!r}")
    if secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in secrets]
    pod_spec["containers"] = [container]
    pod_spec = {k: pod_spec[k] for k in sorted(pod_spec)}

    rendered.job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(request, labels, annotations),
        "spec": {
            "backoffLimit": retries,
            "activeDeadlineSeconds": timeout,
            "ttlSecondsAfterFinished": ttl,
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": _definition_annotations(definition),
                },
                "spec": pod_spec,
            },
        },
    }
    return rendered


def _container_task(raw: Any, context: JsonDict, pod_spec: JsonDict) -> JsonDict:
    if not isinstance(raw, dict):
        raise InvalidTask("invalid_container", "container must be a container spec")
    container = copy.deepcopy(raw)
    name, image = container.get("name"), container.get("image")
    if (
        not isinstance(name, str)
        or not naming.dns_label(name) == name
        or not isinstance(image, str)
        or not image.strip()
    ):
        raise InvalidTask("invalid_container", "container needs a name (DNS label) and an image")
    env = container.get("env") or []
    if not isinstance(env, list):
        raise InvalidTask("invalid_container", "container env must be a list")
    if not any(isinstance(e, dict) and e.get("name") == "KEPTN_CONTEXT" for e in env):
        env = [*env, context]
    container["env"] = env
    security = container.get("securityContext")
    if security is None:
        container["securityContext"] = {"allowPrivilegeEscalation": False}
    elif not isinstance(security, dict):
        raise InvalidTask("invalid_container", "securityContext must be an object")
    mounts = container.get("volumeMounts") or []
    if not isinstance(mounts, list):
        raise InvalidTask("invalid_container", "volumeMounts must be a list")
    names = sorted(
        {str(m["name"]) for m in mounts if isinstance(m, dict) and isinstance(m.get("name"), str)}
    )
    if names:  # the task's scratch space: one emptyDir per mounted volume name
        pod_spec["volumes"] = [{"name": n, "emptyDir": {"sizeLimit": "1Gi"}} for n in names]
    return container


def _function_task(
    function: _Function,
    images: RuntimeImages,
    context: JsonDict,
    pod_spec: JsonDict,
    rendered: Rendered,
    request: TaskRequest,
) -> JsonDict:
    source = function.source
    extension = "py" if function.kind == "python" else "ts"
    mount_path = f"{MOUNT_DIR}/function.{extension}"
    env = [
        context,
        _env_value("DATA", json.dumps(function.parameters, sort_keys=True, separators=(",", ":"))),
    ]
    if function.cmd:
        env.append(_env_value("CMD_ARGS", function.cmd))
    mounts: list[JsonDict] = []
    holder = function.holder
    if source.inline is not None:
        code = source.inline.code
        if not code.strip():
            raise InvalidTask("invalid_runtime", f"{holder.metadata.name}: inline.code is empty")
        if len(code.encode()) > MAX_INLINE_CODE:
            raise InvalidTask(
                "invalid_runtime",
                f"{holder.metadata.name}: inline.code is larger than {MAX_INLINE_CODE // 1024} KiB",
            )
        digest = hashlib.sha256(f"{function.kind}\x1f{code}".encode()).hexdigest()
        config_map = naming.function_config_map(holder.metadata.name, digest)
        rendered.config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": config_map,
                "namespace": request.namespace,
                "labels": {
                    keys.MANAGED_BY: keys.LAUNCHER,
                    keys.TASK_NAME_KEY: naming.label_value(holder.metadata.name),
                },
                "ownerReferences": [
                    Owner(
                        "lifecycle.keptn.sh/v1",
                        "KeptnTaskDefinition",
                        holder.metadata.name,
                        holder.metadata.uid,
                    ).reference()
                ],
            },
            "immutable": True,
            "data": {CODE_KEY: code},
        }
        _mount_code(config_map, mount_path, mounts, pod_spec, env)
    elif source.config_map_ref is not None:
        name = source.config_map_ref.name
        if not valid_object_name(name):
            raise InvalidTask("invalid_name", f"configMapRef {name!r}")
        rendered.config_map_ref = name
        _mount_code(name, mount_path, mounts, pod_spec, env)
    elif source.http_ref is not None:
        url = source.http_ref.url
        if not valid_http_url(url):
            raise InvalidTask(
                "invalid_runtime", f"httpRef {urls.redact(url)!r} is not an http(s) URL"
            )
        env.append(_env_value("SCRIPT", url))
    if function.secret:
        if not valid_object_name(function.secret):
            raise InvalidTask("invalid_name", f"secureParameters.secret {function.secret!r}")
        rendered.secret = function.secret
        env.append(
            {
                "name": "SECURE_DATA",
                "valueFrom": {"secretKeyRef": {"name": function.secret, "key": SECURE_DATA_KEY}},
            }
        )
    container: JsonDict = {
        "name": RUNNER_CONTAINER,
        "image": images.python if function.kind == "python" else images.deno,
        "env": env,
        "securityContext": _runner_security(),
    }
    if mounts:
        container["volumeMounts"] = mounts
    return container


def render_invalid(request: TaskRequest, reason: str, message: str) -> JsonDict:
    """A record of a task that could not run: a suspended Job that never creates a pod.

    It carries the failure (label ``daylight.dev/task-result: invalid``, annotation
    ``daylight.dev/task-failure: <reason>: <message>``), so the exporter learns of it through
    its Job watch like of any other task, and its name blocks a second attempt like a real
    Job's. If someone resumes it, it fails at once (an unpullable image, a 1 s deadline).
    """
    labels = labels_for(request, invalid=True)
    annotations = annotations_for(request)
    annotations[keys.FAILURE_ANNOTATION] = f"{reason}: {message}"[:1024]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(request, labels, annotations),
        "spec": {
            "suspend": True,
            "backoffLimit": 0,
            "activeDeadlineSeconds": 1,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "task-not-run",
                            "image": INVALID_IMAGE,
                            "securityContext": _runner_security(),
                        }
                    ],
                },
            },
        },
    }


def _mount_code(
    config_map: str,
    mount_path: str,
    mounts: list[dict[str, Any]],
    pod_spec: dict[str, Any],
    env: list[dict[str, Any]],
) -> None:
    """The function's code file, from a ConfigMap, at ``mount_path``; SCRIPT points at it."""
    mounts.append(
        {"name": "function-code", "mountPath": mount_path, "subPath": CODE_KEY, "readOnly": True}
    )
    pod_spec["volumes"] = [{"name": "function-code", "configMap": {"name": config_map}}]
    env.append(_env_value("SCRIPT", mount_path))
