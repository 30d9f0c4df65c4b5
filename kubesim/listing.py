"""List and get bodies, including consistent pagination with continue tokens.

A continue token pins the list's resourceVersion and the last key served, so every page of
one list comes from the same snapshot, as with etcd; once that revision has been compacted
the token is answered with 410 Expired and the client has to start over.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left
from collections.abc import Mapping

import msgspec

from kubesim import errors
from kubesim.events import Entry
from kubesim.faults import Faults
from kubesim.keyspace import Snapshot
from kubesim.resources import ResourceType
from kubesim.selectors import parse_field_selector, parse_label_selector
from kubesim.store import Store
from kubesim.util import JsonDict

_TOKEN_VERSION = "meta.k8s.io/v1"

EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


def encode_continue(rv: int, last_key: str) -> str:
    raw = msgspec.json.encode({"v": _TOKEN_VERSION, "rv": rv, "start": last_key + "\x00"})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(resourceVersion, first key to serve); malformed tokens are a 400 like upstream."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = msgspec.json.decode(base64.urlsafe_b64decode(padded))
        if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
            raise ValueError("unknown token version")
        rv, start = data["rv"], data["start"]
        if not isinstance(rv, int) or not isinstance(start, str) or rv <= 0:
            raise ValueError("bad fields")
        return rv, start
    except (ValueError, KeyError, binascii.Error, msgspec.DecodeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from None


def _item(entry: Entry, rt: ResourceType, faults: Faults | None) -> bytes:
    if faults is not None and faults.has_corruption(rt.plural):
        bad = faults.corrupted(rt.plural, entry.obj)
        if bad is not None:
            if rt.builtin:
                bad = {k: v for k, v in bad.items() if k not in ("kind", "apiVersion")}
            return msgspec.json.encode(bad)
    return entry.item_bytes()


def list_body(
    store: Store,
    rt: ResourceType,
    namespace: str | None,
    query: Mapping[str, str],
    faults: Faults | None = None,
) -> bytes:
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), rt.plural)
    filtered = bool(labels.requirements) or bool(query.get("fieldSelector", "").strip())
    try:
        limit = max(0, int(query.get("limit") or 0))
    except ValueError:
        raise errors.bad_request(f"invalid limit: {query.get('limit')!r}") from None
    snap, start = _page_start(store, rt, query)
    if not query.get("continue") and query.get("resourceVersion") == "0":
        limit = 0  # served from the watch cache, which ignores the limit (cacher.go)
    keys = snap.keys
    lo, hi = 0, len(keys)
    if namespace is not None and rt.namespaced:
        lo, hi = bisect_left(keys, namespace + "/"), bisect_left(keys, namespace + "0")
    if start:
        lo = max(lo, bisect_left(keys, start))
    items: list[bytes] = []
    last_key = ""
    more = False
    index = lo
    while index < hi:
        key = keys[index]
        index += 1
        entry = snap.entries[key]
        obj = entry.obj
        if filtered and not (labels.matches(obj["metadata"].get("labels")) and fields(obj)):
            continue
        if limit and len(items) == limit:
            more = True
            break
        items.append(_item(entry, rt, faults))
        last_key = key
    metadata: JsonDict = {"resourceVersion": str(snap.rv)}
    if more:
        metadata["continue"] = encode_continue(snap.rv, last_key)
        if not filtered:
            metadata["remainingItemCount"] = hi - index + 1
    head = msgspec.json.encode(
        {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata}
    )
    return head[:-1] + b',"items":[' + b",".join(items) + b"]}"


def _page_start(store: Store, rt: ResourceType, query: Mapping[str, str]) -> tuple[Snapshot, str]:
    """The snapshot a page is cut from, and the first key to serve."""
    token = query.get("continue")
    if not token:
        return _snapshot(store, rt, query), ""
    rv, start = decode_continue(token)
    try:
        return store.snapshot(rt.plural, rv), start
    except errors.ApiError as exc:
        if exc.code == 410:
            raise errors.expired(EXPIRED_CONTINUE) from None
        raise


def _snapshot(store: Store, rt: ResourceType, query: Mapping[str, str]) -> Snapshot:
    """The list's snapshot by ``resourceVersion`` and ``resourceVersionMatch`` semantics:
    unset or "0": the newest; N: not older than N (legacy, and ``NotOlderThan``; a version
    the store has not reached yet is 504 "Too large resource version"); ``Exact``: at N."""
    raw = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    if match and not raw:
        raise errors.invalid_options(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided"
        )
    if match not in ("", "NotOlderThan", "Exact"):
        raise errors.invalid_options(f'resourceVersionMatch: Unsupported value: "{match}"')
    if raw in ("", "0"):
        if match == "Exact":
            raise errors.invalid_options(
                'resourceVersionMatch: Forbidden: resourceVersionMatch "Exact" is forbidden '
                'for resourceVersion "0"'
            )
        return store.snapshot(rt.plural)
    try:
        wanted = int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {raw!r}") from None
    if wanted > store.rv:
        raise errors.too_large_resource_version(wanted, store.rv)
    if match == "Exact":
        return store.snapshot(rt.plural, wanted)
    return store.snapshot(rt.plural)


def get_body(entry: Entry, rt: ResourceType, faults: Faults | None = None) -> bytes:
    if faults is not None and faults.has_corruption(rt.plural):
        bad = faults.corrupted(rt.plural, entry.obj)
        if bad is not None:
            return msgspec.json.encode(bad)
    return entry.full_bytes()
