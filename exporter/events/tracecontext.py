"""Trace and span ids of a deployment's trace, derived from its stable identity.

The exporter's trace emitter, the checks (which hang task and evaluation spans under the
deployment) and the launcher (``KEPTN_CONTEXT``'s traceparent) derive the same ids from the
same identity, so re-emission after a crash, or a Job started by another process, lands in
the same trace.
"""

from __future__ import annotations

import hashlib
import re

_HEX32 = re.compile(r"[0-9a-f]{32}")


def trace_id_of(identity: str) -> int:
    """The trace id: the identity itself when it is 32 hex chars (128 bits), else a hash."""
    lowered = identity.lower()
    if _HEX32.fullmatch(lowered) and int(lowered, 16):
        return int(lowered, 16)
    digest = hashlib.sha256(f"daylight-trace/{identity}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1


def span_id_of(identity: str, *parts: str) -> int:
    """A deterministic, non-zero 64-bit span id from the identity and the span's role."""
    seed = "\x1f".join((identity, *parts))
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") or 1


def traceparent(identity: str, *parent: str) -> str:
    """W3C trace context of the span ``parent`` of the deployment's trace (sampled)."""
    return f"00-{trace_id_of(identity):032x}-{span_id_of(identity, *parent):016x}-01"
