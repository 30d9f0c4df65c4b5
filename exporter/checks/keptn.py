"""Which pre/post-deployment checks a workload or a KeptnApp asks for, and where they may run.

Pre/post-deployment *checks* are Keptn tasks (run as Jobs by the launcher) and Keptn
evaluations (queries run by the exporter). Both sides read the same declarations (design §2
annotations, a KeptnApp's lists) through this module, which does no I/O, so the read-only
exporter and the writing launcher never disagree about what was asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from exporter.events.keys import (
    METADATA_KEY,
    NAMESPACE_ENABLED,
    POST_EVALUATIONS,
    POST_TASKS,
    PRE_EVALUATIONS,
    PRE_TASKS,
)
from exporter.events.objects import (
    KeptnApp,
    KeptnAppChecksSpec,
    ObjectMeta,
    Workload,
    template_of,
)

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
    """Lookup order of design §2: source by source, the long key before its short alias."""
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value is not None:
                return value
    return None


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
