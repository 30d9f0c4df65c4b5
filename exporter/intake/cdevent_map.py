"""CDEvents to what the model takes (design §5, README "CDEvents"). Pure: the CloudEvent's
type, time and data in; a change, a deployment, an incident or why not out.

| CDEvent (``dev.cdevents.<subject>.<predicate>.<version>``) | becomes |
|---|---|
| ``change.merged`` | a change: ``subject.id`` is the merged commit's sha, the event's time its commit time |
| ``artifact.packaged``, ``artifact.published`` | a change without a commit time: ``content.change.id`` (sha) → the digest of the ``subject.id`` purl |
| ``service.deployed``, ``service.upgraded``, ``service.rolledback`` | an app deployment of ``content.environment.id``: app = ``subject.id``, artifact = ``content.artifactId`` |
| ``incident.detected``, ``incident.reported`` / ``incident.resolved`` | an incident opened / resolved (like an Alertmanager alert), on the app ``content.service.id`` of ``content.environment.id`` |

Other CDEvent types are accepted and ignored (a sink receives every event of a pipeline).
"""  # noqa: E501 - a table

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from exporter.events.external import SHA_RE, SOURCE_CDEVENTS, Change, ServiceDeployment
from exporter.events.names import valid_name
from exporter.events.urls import without_credentials

PREFIX = "dev.cdevents."
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Incident:
    fingerprint: str
    firing: bool
    service: str
    environment: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    kind: str  # the CDEvent subject.predicate


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str
    message: str


Mapped = Change | ServiceDeployment | Incident | Ignored | Invalid


def event_kind(ce_type: str) -> str | None:
    """``subject.predicate`` of a CDEvent type, None for a CloudEvent that is not one."""
    if not ce_type.startswith(PREFIX):
        return None
    parts = ce_type[len(PREFIX) :].split(".")
    return f"{parts[0]}.{parts[1]}" if len(parts) >= 3 else None


def _dict(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _str(value: object, limit: int = 512) -> str | None:
    return (
        value.strip() if isinstance(value, str) and value.strip() and len(value) <= limit else None
    )


def _name(value: str | None) -> str | None:
    """A service or environment name: the last segment of ``service/web``-like ids."""
    if value is None:
        return None
    name = value.rstrip("/").rsplit("/", 1)[-1]
    return name if valid_name(name) else None


def purl_digest(purl: str) -> tuple[str | None, str | None, str | None]:
    """(digest, name, tag) of a package URL such as ``pkg:oci/web@sha256%3A...?tag=1.2``."""
    text = unquote(purl)
    head, _, query = text.partition("?")
    found = _DIGEST.search(head.lower())
    name = head.split("/", 1)[-1].split("@", 1)[0] if head.startswith("pkg:") else None
    tag = next((q[4:] for q in query.split("&") if q.startswith("tag=")), None)
    return (found.group(0) if found else None), name, tag


def _repository(value: object) -> str | None:
    """A repository as a source says it: a URL loses any credentials, a name stays a name."""
    text = _str(value)
    if text is None or "://" not in text:
        return text if text is None or "@" not in text else None
    return without_credentials(text)


def _sha(value: object) -> str | None:
    text = _str(value, 64)
    return text.lower() if text is not None and SHA_RE.match(text) else None


def map_cdevent(ce_type: str, event_id: str, at: float, data: Mapping[str, object]) -> Mapped:
    kind = event_kind(ce_type)
    if kind is None:
        return Invalid("cdevents_type", f"{ce_type[:100]!r} is not a CDEvent type (dev.cdevents.*)")
    subject = _dict(data.get("subject"))
    content = _dict(subject.get("content"))
    subject_id = _str(subject.get("id"))
    run_id = f"cdevents/{event_id}"
    if kind == "change.merged":
        sha = _sha(subject_id)
        if sha is None:
            return Invalid(
                "cdevents_sha", "change.merged: subject.id must be the merged commit sha"
            )
        repository = _repository(_dict(content.get("repository")).get("source"))
        return Change(sha, at, source=SOURCE_CDEVENTS, repository=repository, run_id=run_id)
    if kind in ("artifact.packaged", "artifact.published"):
        return _artifact(subject_id, content, run_id)
    if kind in ("service.deployed", "service.upgraded", "service.rolledback"):
        return _deployment(kind, subject_id, content, at)
    if kind in ("incident.detected", "incident.reported", "incident.resolved"):
        service = _name(_str(_dict(content.get("service")).get("id")))
        if subject_id is None or service is None:
            return Invalid("cdevents_incident", f"{kind}: subject.id and content.service.id needed")
        environment = _name(_str(_dict(content.get("environment")).get("id")))
        return Incident(subject_id[:128], kind != "incident.resolved", service, environment)
    return Ignored(kind)


def _artifact(subject_id: str | None, content: Mapping[str, object], run_id: str) -> Mapped:
    digest, name, _ = purl_digest(subject_id or "")
    change = _dict(content.get("change"))
    sha = _sha(change.get("id"))
    if digest is None or sha is None:
        return Invalid(
            "cdevents_artifact",
            "artifact events need a purl with a sha256 digest as subject.id and the commit "
            "sha as content.change.id",
        )
    return Change(
        sha,
        None,  # an artifact says which commit it was built from, not when it was made
        image_digest=digest,
        source=SOURCE_CDEVENTS,
        repository=_repository(change.get("source")),
        run_id=run_id,
        image_name=name,
    )


def _deployment(
    kind: str, subject_id: str | None, content: Mapping[str, object], at: float
) -> Mapped:
    service = _name(subject_id)
    environment = _name(_str(_dict(content.get("environment")).get("id")))
    artifact = _str(content.get("artifactId"))
    if service is None or environment is None or artifact is None:
        return Invalid(
            "cdevents_service",
            f"{kind}: subject.id (the service), content.environment.id and content.artifactId "
            "are needed",
        )
    digest, _, tag = purl_digest(artifact)
    version = tag if tag and valid_name(tag) else (digest[7:19] if digest else None)
    if version is None:
        head = artifact.split("?", 1)[0].rsplit("@", 1)
        version = head[1] if len(head) == 2 and valid_name(head[1]) else None
    if version is None:
        return Invalid("cdevents_service", f"{kind}: content.artifactId has no version or digest")
    return ServiceDeployment(
        environment=environment,
        service=service,
        version=version,
        at=at,
        rollback=kind == "service.rolledback",
        image_digest=digest,
        artifact=artifact,
    )
