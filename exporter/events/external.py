"""Input from outside the cluster: CI change registrations and Alertmanager alerts.

Both arrive as untrusted JSON (HTTP bodies or event-log lines). Parsing is strict and says
exactly what is wrong, so a bad payload gets a 400 with a reason instead of a guess.

A :class:`Change` is what any CI source says about a commit: ``POST /api/v1/changes``
(source ``api``), CI/CD spans over OTLP (``otlp``), CDEvents (``cdevents``). Only the API
requires a commit time; the others may know a sha and an image but no time, and such a
change waits for one (design §2: never guessed).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from exporter.events.names import valid_name
from exporter.events.timeutil import MIN_PLAUSIBLE, parse_commit_time, parse_rfc3339

MAX_FUTURE_S = 300.0  # clock skew we tolerate on commit times
SHA_RE = re.compile(r"^[0-9a-fA-F]{7,64}$")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
DEFAULT_APP_LABELS = (
    "app",
    "app_kubernetes_io_name",
    "service",
    "deployment",
    "statefulset",
    "daemonset",
    "workload",
)


class InvalidInput(ValueError):
    """Bad external input; ``reason`` is a short, bounded label for the self-metric."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# Where a deployment's commit time came from (dora_lead_time_sources_total{source}).
SOURCE_ANNOTATION = "annotation"
SOURCE_API = "api"
SOURCE_OTLP = "otlp"
SOURCE_CDEVENTS = "cdevents"
SOURCES = (SOURCE_ANNOTATION, SOURCE_API, SOURCE_OTLP, SOURCE_CDEVENTS)


@dataclass(frozen=True, slots=True)
class Change:
    """Commit metadata from CI. ``commit_sha`` is lowercase hex (7-64), or empty when only
    an image digest identifies the build; ``commit_time`` None means not known (yet)."""

    commit_sha: str
    commit_time: float | None
    image_digest: str | None = None
    version: str | None = None
    namespace: str | None = None
    app: str | None = None
    source: str = SOURCE_API
    repository: str | None = None  # vcs.repository.url.full, else vcs.repository.name
    ref: str | None = None  # vcs.ref.head.name (branch or tag)
    run_id: str | None = None  # "<provider>/<run id or run URL>": retries and duplicates
    run_url: str | None = None  # cicd.pipeline.run.url.full
    trace_id: str | None = None  # the CI root span (32 hex): a span link on our trace
    span_id: str | None = None  # 16 hex
    image_name: str | None = None  # container.image.name the pipeline built

    @property
    def dedup_key(self) -> tuple[str, str] | None:
        """Two changes with the same key are one delivery (a retry, a re-sent request)."""
        if self.run_id is None:
            return None
        return (self.run_id, self.commit_sha)

    @property
    def link(self) -> tuple[str, str] | None:
        if self.trace_id is None or self.span_id is None:
            return None
        return (self.trace_id, self.span_id)


_CHANGE_FIELDS = (
    "commit_sha",
    "commit_time",
    "image_digest",
    "version",
    "namespace",
    "app",
    "source",
    "repository",
    "ref",
    "run_id",
    "run_url",
    "trace_id",
    "span_id",
    "image_name",
)  # fmt: skip - a table


CHANGE_OPTIONAL_FIELDS = tuple(f for f in _CHANGE_FIELDS[2:] if f != "source")
"""The optional text fields of a Change (all but sha, time and source)."""


def change_to_dict(change: Change) -> dict[str, Any]:
    """For the state file: every field, unset ones left out."""
    out: dict[str, Any] = {"commit_sha": change.commit_sha, "commit_time": change.commit_time}
    for name in _CHANGE_FIELDS[2:]:
        value = getattr(change, name)
        if value is not None:
            out[name] = value
    return out


def change_from_dict(data: dict[str, Any]) -> Change:
    """The inverse of :func:`change_to_dict`; unknown keys (a newer version's) are ignored."""
    known = {k: data[k] for k in _CHANGE_FIELDS if k in data}
    known.setdefault("commit_time", None)
    return Change(**known)


def _optional_str(body: dict[str, Any], key: str, limit: int = 256) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput("change_field", f"{key} must be a non-empty string")
    return value


def parse_change(body: Any, now: float) -> Change:
    if not isinstance(body, dict):
        raise InvalidInput("change_body", "the body must be a JSON object")
    sha = body.get("commit_sha")
    if not isinstance(sha, str) or not SHA_RE.match(sha):
        raise InvalidInput("commit_sha", "commit_sha must be 7-64 hex characters")
    raw_time = body.get("commit_time")
    if isinstance(raw_time, int | float) and not isinstance(raw_time, bool):
        commit_time: float | None = float(raw_time)
    elif isinstance(raw_time, str):
        commit_time = parse_commit_time(raw_time)
    else:
        commit_time = None
    if commit_time is None:
        raise InvalidInput("commit_time", "commit_time must be RFC 3339 or Unix seconds")
    if commit_time < MIN_PLAUSIBLE:
        raise InvalidInput("commit_time_too_old", "commit_time is before 2000")
    if commit_time > now + MAX_FUTURE_S:
        raise InvalidInput("commit_time_future", "commit_time is in the future")
    image = _optional_str(body, "image", 1024)
    digest = _optional_str(body, "image_digest", 200)
    if digest is not None and not DIGEST_RE.fullmatch(digest):
        raise InvalidInput("image_digest", "image_digest must be sha256:<64 hex>")
    if digest is None and image is not None:
        found = DIGEST_RE.search(image)
        digest = found.group(0) if found else None
    version = _optional_str(body, "version")
    namespace = _optional_str(body, "namespace", 63)
    app = _optional_str(body, "app")
    for name, value in (("version", version), ("namespace", namespace), ("app", app)):
        if value is not None and not valid_name(value):
            raise InvalidInput("change_field", f"{name} has characters not allowed in a name")
    return Change(sha.lower(), commit_time, digest, version, namespace, app)


@dataclass(frozen=True, slots=True)
class ServiceDeployment:
    """A deployment outside the cluster, as a CDEvent reports it (names already valid)."""

    environment: str
    service: str  # the app, and its one "workload"
    version: str
    at: float
    rollback: bool = False
    image_digest: str | None = None
    commit_sha: str | None = None
    artifact: str | None = None  # the purl, kept as the image of the deployment


@dataclass(frozen=True, slots=True)
class Alert:
    firing: bool
    fingerprint: str
    namespace: str | None
    names: tuple[str, ...]
    starts_at: float | None
    ends_at: float | None


def parse_alerts(body: Any, app_labels: tuple[str, ...] = DEFAULT_APP_LABELS) -> list[Alert]:
    """An Alertmanager webhook payload (``{"alerts": [...]}``) or a single alert object."""
    if not isinstance(body, dict):
        raise InvalidInput("alert_body", "the body must be a JSON object")
    items = body.get("alerts", [body]) if "alerts" in body else [body]
    if not isinstance(items, list) or len(items) > 1000:
        raise InvalidInput("alert_body", "alerts must be a list of at most 1000 alerts")
    return [parse_alert(item, app_labels) for item in items]


def parse_alert(item: Any, app_labels: tuple[str, ...] = DEFAULT_APP_LABELS) -> Alert:
    if not isinstance(item, dict):
        raise InvalidInput("alert_body", "each alert must be a JSON object")
    labels = item.get("labels")
    status = item.get("status")
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InvalidInput("alert_labels", "alert labels must be an object of strings")
    if status not in ("firing", "resolved"):
        raise InvalidInput("alert_status", "alert status must be 'firing' or 'resolved'")
    fingerprint = item.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint or len(fingerprint) > 128:
        canonical = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    names = tuple(labels[k] for k in app_labels if isinstance(labels.get(k), str))
    starts = parse_rfc3339(item.get("startsAt")) if isinstance(item.get("startsAt"), str) else None
    ends = parse_rfc3339(item.get("endsAt")) if isinstance(item.get("endsAt"), str) else None
    return Alert(status == "firing", fingerprint, labels.get("namespace"), names, starts, ends)
