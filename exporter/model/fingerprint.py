"""The change fingerprint (design §2): what makes two pod templates "the same deployment".

The controller adds ``pod-template-hash`` to a ReplicaSet's copy of the template and
``kubectl rollout restart`` stamps ``restartedAt``; neither is a change of what runs, so both
are removed before hashing. Canonical JSON (sorted keys, no whitespace) makes the hash
independent of field order, so a Deployment's template and its ReplicaSet's template agree.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from exporter.events.keys import CONTROLLER_REVISION_HASH, POD_TEMPLATE_HASH, RESTARTED_AT

IGNORED_LABELS = (POD_TEMPLATE_HASH, CONTROLLER_REVISION_HASH)
IGNORED_ANNOTATIONS = (RESTARTED_AT,)

_decode = msgspec.json.Decoder()


def template_fingerprint(raw_template: bytes) -> str:
    """SHA-256 hex of the canonical pod template, ignoring controller-added noise."""
    try:
        template: Any = _decode.decode(raw_template)
    except msgspec.DecodeError:
        template = None
    if not isinstance(template, dict):
        return hashlib.sha256(bytes(raw_template)).hexdigest()
    metadata = template.get("metadata")
    if isinstance(metadata, dict):
        metadata = dict(metadata)
        for field, ignored in (("labels", IGNORED_LABELS), ("annotations", IGNORED_ANNOTATIONS)):
            values = metadata.get(field)
            if isinstance(values, dict):
                values = {k: v for k, v in values.items() if k not in ignored}
                if values:
                    metadata[field] = values
                else:
                    metadata.pop(field)
        if not metadata.get("creationTimestamp"):
            metadata.pop("creationTimestamp", None)
        if metadata:
            template = {**template, "metadata": metadata}
        else:
            template = {k: v for k, v in template.items() if k != "metadata"}
    canonical = msgspec.json.encode(template, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def restart_marker(raw_template: bytes) -> str:
    """Digest of the raw template: differs from the last one on any edit, restarts included."""
    return hashlib.blake2b(bytes(raw_template), digest_size=16).hexdigest()


def controller_revision_template(raw_data: bytes) -> bytes:
    """The pod template a StatefulSet/DaemonSet ControllerRevision stores in ``data``.

    The controllers store a patch ``{"spec": {"template": {..., "$patch": "replace"}}}``; the
    ``$patch`` directive is not part of the template and is dropped.
    """
    try:
        data: Any = _decode.decode(raw_data)
    except msgspec.DecodeError:
        return b"{}"
    template = data.get("spec", {}).get("template") if isinstance(data, dict) else None
    if not isinstance(template, dict):
        return b"{}"
    template = {k: v for k, v in template.items() if k != "$patch"}
    return msgspec.json.encode(template)
