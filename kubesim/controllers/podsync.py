"""Keeping Pod objects in the store in line with the simulated pod records ("kubelet")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from kubesim import errors
from kubesim.controllers.common import Context
from kubesim.podgen import pod_object, pod_status
from kubesim.podmodel import PodRecord, PodState, pod_state


def states(ctx: Context, records: Iterable[PodRecord]) -> dict[str, PodState]:
    return {rec.name: pod_state(rec, ctx.now) for rec in records}


def next_change(found: Iterable[PodState]) -> float | None:
    times = [s.next_change for s in found if s.next_change is not None]
    return min(times) if times else None


def drop_vanished(ctx: Context, records: dict[str, PodRecord]) -> None:
    """A mirrored Pod deleted behind our back (eviction, a test) is gone for good: its owner
    will create a replacement with a new name, as the real controllers do."""
    if not ctx.options.with_pods:
        return
    for name, rec in list(records.items()):
        if rec.materialized and ctx.store.peek("pods", rec.name, rec.namespace) is None:
            del records[name]


def mirror(ctx: Context, records: Iterable[PodRecord], found: dict[str, PodState]) -> None:
    if not ctx.options.with_pods:
        return
    store = ctx.store
    for rec in records:
        state = found[rec.name]
        if not rec.materialized:
            obj = pod_object(rec, state)
            store.create("pods", obj, copy=False)
            stored = store.peek("pods", rec.name, rec.namespace)
            rec.uid = stored["metadata"]["uid"] if stored else None
            rec.materialized = True
            rec.last_state = None
        if rec.last_state != state:
            body = {
                "metadata": {"name": rec.name, "namespace": rec.namespace},
                "status": pod_status(rec, state),
            }
            try:
                store.update_status("pods", body, copy=False)
            except errors.ApiError:
                continue
            rec.last_state = state


def remove(ctx: Context, rec: PodRecord) -> None:
    if ctx.options.with_pods and rec.materialized:
        with contextlib.suppress(errors.ApiError):
            ctx.store.delete("pods", rec.name, rec.namespace)
