"""Who a workload is (design §2): workload, app and version names, commit metadata.

Lookup order for every key: pod-template annotation, pod-template label, workload
annotation, workload label; ``keptn.sh/*`` keys win over ``app.kubernetes.io/*`` keys. The
order matters because teams often label the workload and annotate the template differently,
and Keptn users expect their annotations to win.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import msgspec

from exporter.events.keys import (
    APP_KEYS,
    COMMIT_SHA_KEYS,
    COMMIT_TIME_KEYS,
    CONTAINER_KEY,
    TRACEPARENT_KEYS,
    VERSION_KEYS,
    WORKLOAD_KEYS,
)
from exporter.events.names import valid_name
from exporter.events.objects import Container, PodTemplate, Workload
from exporter.events.timeutil import MIN_PLAUSIBLE, parse_commit_time
from exporter.model.inventory import Inventory
from exporter.model.records import AppKey
from exporter.model.stats import ObservedStats

_template_decoder = msgspec.json.Decoder(PodTemplate)
MAX_IMAGES = 8  # images of one pod template kept for matching CI changes and traces


class Sources:
    """The four places a key may come from, in lookup order.

    Identity is resolved for every revision of every workload at start-up (100k+ lookups),
    so the four maps are merged once, highest priority last; the slow path that walks them
    in order only runs when a value is present but invalid.
    """

    __slots__ = ("_merged", "_sources")

    def __init__(
        self,
        template_annotations: Mapping[str, str],
        template_labels: Mapping[str, str],
        workload_annotations: Mapping[str, str],
        workload_labels: Mapping[str, str],
    ) -> None:
        self._sources = (
            template_annotations,
            template_labels,
            workload_annotations,
            workload_labels,
        )
        merged: dict[str, str] = {}
        for source in reversed(self._sources):
            merged.update(source)
        self._merged = merged

    def first(self, keys: Sequence[str]) -> tuple[str | None, bool]:
        """The first usable value for ``keys``; the flag says a value was present but invalid."""
        merged = self._merged
        for key in keys:
            value = merged.get(key)
            if value is not None:
                if valid_name(value):
                    return value, False
                return self._first_slow(keys)
        return None, False

    def _first_slow(self, keys: Sequence[str]) -> tuple[str | None, bool]:
        rejected = False
        for key in keys:
            for source in self._sources:
                value = source.get(key)
                if value is None:
                    continue
                if valid_name(value):
                    return value, rejected
                rejected = True
        return None, rejected

    def raw(self, keys: Sequence[str]) -> str | None:
        """The first present value, unvalidated (timestamps, shas and trace context)."""
        merged = self._merged
        for key in keys:
            value = merged.get(key)
            if value is not None:
                return value
        return None


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None for digests, ``latest`` and untagged images."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1]
    if not tag or tag == "latest" or not valid_name(tag):
        return None
    return tag


@dataclass(frozen=True, slots=True)
class Identity:
    workload: str
    app: str
    version: str
    app_from_label: bool
    commit_time: str | None
    commit_sha: str | None
    traceparent: str | None
    invalid: tuple[str, ...]
    images: tuple[str, ...] = ()


def resolve(
    object_name: str,
    sources: Sources,
    containers: Sequence[Container],
    fingerprint: str,
) -> Identity:
    """Identity of one workload revision. The KeptnApp fallback is applied by the caller."""
    invalid: list[str] = []
    workload, bad = sources.first(WORKLOAD_KEYS)
    if bad:
        invalid.append("workload_name")
    app, bad = sources.first(APP_KEYS)
    if bad:
        invalid.append("app_name")
    version, bad = sources.first(VERSION_KEYS)
    if bad:
        invalid.append("version")
    if version is None:
        version = _version_from_image(sources, containers)
    workload_name = workload or object_name
    sha = sources.raw(COMMIT_SHA_KEYS)
    if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha):
        invalid.append("commit_sha")
        sha = None
    return Identity(
        workload=workload_name,
        app=app or workload_name,
        version=version or fingerprint[:10],
        app_from_label=app is not None,
        commit_time=sources.raw(COMMIT_TIME_KEYS),
        commit_sha=sha,
        traceparent=sources.raw(TRACEPARENT_KEYS),
        invalid=tuple(invalid),
        images=tuple(c.image for c in containers[:MAX_IMAGES] if c.image),
    )


def _version_from_image(sources: Sources, containers: Sequence[Container]) -> str | None:
    chosen: Container | None = None
    named = sources.raw((CONTAINER_KEY,))
    if named is not None:
        chosen = next((c for c in containers if c.name == named), None)
    elif len(containers) == 1:
        chosen = containers[0]
    if chosen is None:
        return None
    return image_tag(chosen.image)


class IdentityResolver:
    """Identity of workload revisions in their cluster context: the KeptnApp fallback for
    the app name, the environment of the namespace, counted invalid values."""

    __slots__ = ("inventory", "stats")

    def __init__(self, *, inventory: Inventory, stats: ObservedStats) -> None:
        self.inventory = inventory
        self.stats = stats

    def of_raw(self, workload: Workload, raw: bytes, fingerprint: str) -> Identity:
        try:
            template = _template_decoder.decode(raw)
        except msgspec.DecodeError:
            template = PodTemplate()
            self.stats.invalid["pod_template"] += 1
        return self.of_template(workload, template, fingerprint)

    def of_template(self, workload: Workload, template: PodTemplate, fingerprint: str) -> Identity:
        meta = workload.metadata
        sources = Sources(
            template.metadata.annotations,
            template.metadata.labels,
            meta.annotations,
            meta.labels,
        )
        identity = resolve(meta.name, sources, template.spec.containers, fingerprint)
        for reason in identity.invalid:
            self.stats.invalid[reason] += 1
        if not identity.app_from_label:
            keptn = self.inventory.keptn_app_listing(meta.namespace, identity.workload)
            if keptn is not None:
                identity = replace(identity, app=keptn.metadata.name, app_from_label=True)
        return identity

    def app_key(self, namespace: str, identity: Identity) -> AppKey:
        return AppKey(self.inventory.environment(namespace), namespace, identity.app)

    def commit_time(self, identity: Identity) -> float | None:
        """The commit time of the revision, or None (counted) when it cannot be read."""
        if identity.commit_time is None:
            return None
        parsed = parse_commit_time(identity.commit_time)
        if parsed is None or parsed < MIN_PLAUSIBLE:
            self.stats.invalid["commit_time"] += 1
            return None
        return parsed
