"""Deterministic names: the same task of the same deployment always gets the same Job name.

That is what makes the launcher idempotent without any state of its own: a restarted (or a
second) launcher creates the same name, the API server answers 409 Conflict, and the task is
known to be launched already. The readable part (phase, task, object) is cut to fit; a hash
of everything that identifies the deployment attempt keeps names unique within 63
characters (Jobs label their pods with their name, and label values stop at 63).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

MAX_LABEL = 63
_INVALID = re.compile(r"[^a-z0-9-]+")
_LABEL_INVALID = re.compile(r"[^A-Za-z0-9._-]+")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_SCHEME = "daylight-task/v1"


def short_hash(parts: Sequence[str], length: int = 10) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def dns_label(text: str, max_len: int = MAX_LABEL) -> str:
    """Lowercase letters, digits and dashes, starting and ending alphanumeric."""
    cleaned = _INVALID.sub("-", text.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)[:max_len].strip("-")
    return cleaned or "x"


def job_name(phase: str, task: str, owner: str, identity: Sequence[str]) -> str:
    """``<phase>-<task>-<owner>-<hash>``, at most 63 characters.

    ``identity`` lists everything that makes this launch unique (namespace, owner kind, name
    and uid, app, version, revision, task, phase); the hash covers all of it.
    """
    digest = short_hash((NAME_SCHEME, *identity))
    readable = dns_label(f"{phase}-{task}-{owner}", MAX_LABEL - len(digest) - 1)
    return f"{readable}-{digest}"


def label_value(text: str) -> str:
    """``text`` if it is a valid label value, else a sanitized one with a hash suffix."""
    if len(text) <= MAX_LABEL and _LABEL_VALUE.match(text):
        return text
    digest = short_hash((text,), 8)
    cleaned = _LABEL_INVALID.sub("-", text)[: MAX_LABEL - 9].strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def function_config_map(definition: str, code_hash: str) -> str:
    """The ConfigMap holding a definition's inline code; its content is in the name."""
    return f"daylight-fn-{dns_label(definition, 40)}-{code_hash[:10]}"


def event_name(owner: str, parts: Sequence[str]) -> str:
    """One Event per (object, fact): a second attempt to report it gets 409, not a duplicate."""
    return f"{dns_label(owner, 200)}.daylight-{short_hash(parts, 12)}"
