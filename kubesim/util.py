"""Small helpers shared by the simulated cluster: timestamps, hashes, copies.

Everything here is deterministic so that a seeded world is reproducible byte for byte.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from collections.abc import Mapping
from typing import Any, TypeVar, cast

import msgspec

JsonDict = dict[str, Any]
_T = TypeVar("_T")

# The alphabet kube-controller-manager uses for generated suffixes: no vowels (no words) and
# no look-alike characters, so hashes in names never spell anything.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_ENCODER = msgspec.json.Encoder(order="sorted")


def rfc3339(ts: float) -> str:
    """Second precision with a literal Z, as the API server formats metav1.Time."""
    return _rfc3339(int(ts))


@functools.lru_cache(maxsize=1 << 16)
def _rfc3339(seconds: int) -> str:
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> float:
    """Accepts both 'Z' and numeric offsets, because kubectl writes local offsets."""
    text = value.replace("Z", "+00:00")
    return _dt.datetime.fromisoformat(text).timestamp()


def canonical_json(value: Any) -> bytes:
    """Sorted-key JSON so equal structures always hash equally."""
    return _ENCODER.encode(value)


def safe_hash(value: Any, length: int = 10) -> str:
    """A controller-style hash suffix: stable for equal input, in the safe alphabet."""
    digest = int.from_bytes(hashlib.sha256(canonical_json(value)).digest()[:16], "big")
    chars = []
    for _ in range(length):
        digest, index = divmod(digest, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[index])
    return "".join(chars)


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def clone(value: _T) -> _T:
    """A deep copy of plain JSON data; much faster than copy.deepcopy for dict trees."""
    return cast(_T, _clone(value))


def dig(obj: Mapping[str, Any], *path: str) -> Any:
    """Walks nested dicts, returning None at the first missing or non-dict step."""
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def meta(obj: Mapping[str, Any]) -> JsonDict:
    """The metadata dict of an object (an empty one when absent or malformed)."""
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    value = meta(obj).get("annotations")
    return value if isinstance(value, dict) else {}


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the managing owner: what garbage collection and adoption key on."""
    refs = meta(obj).get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("controller") is True:
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None


def owner_ref(owner: Mapping[str, Any]) -> JsonDict:
    """The controller owner reference a built-in controller writes on what it creates."""
    m = meta(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def as_int(value: Any, default: int = 0) -> int:
    """An integer field, or `default` when absent or of the wrong type (bools excluded)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default
