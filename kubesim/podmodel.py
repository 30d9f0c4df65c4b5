"""Simulated pods: a record per pod, and its state as a pure function of (record, time).

Controllers create and delete records; what a pod looks like at any instant (Pending,
Running, Ready, crash-looping with growing back-off) is computed, never stored, so stepping
time forward or backward in tests is deterministic. When the cluster runs "with pods" the
records are also mirrored as Pod objects in the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kubesim.util import JsonDict, annotations_of

BEHAVIOR_ANNOTATION = "daylight.sim/behavior"
CRASH_AFTER_ANNOTATION = "daylight.sim/crash-after-seconds"
NEVER_READY = "never-ready"
CRASHLOOP = "crashloop"

BACKOFF_START_S = 10.0
BACKOFF_CAP_S = 300.0


@dataclass(slots=True)
class PodRecord:
    name: str
    namespace: str
    owner: JsonDict  # the controller ownerReference
    template: JsonDict  # pod template (metadata + spec) the pod was created from
    labels: dict[str, str]
    created_at: float
    node: str
    ip: str
    ready_s: float
    crash_after_s: float
    revision: str = ""  # pod-template-hash / controller-revision-hash it was created with
    ordinal: int | None = None
    uid: str | None = None  # set once mirrored as a Pod object
    materialized: bool = False
    last_state: PodState | None = None  # what the mirrored Pod object currently shows

    @property
    def behavior(self) -> str:
        return annotations_of(self.template).get(BEHAVIOR_ANNOTATION, "")

    @property
    def start_s(self) -> float:
        """Scheduling + image pull + container start, before the readiness probe passes."""
        return self.ready_s * 0.4


@dataclass(frozen=True, slots=True)
class PodState:
    phase: str
    running: bool
    ready: bool
    restart_count: int
    waiting_reason: str | None
    running_since: float | None
    ready_since: float | None
    last_crash: tuple[float, float] | None  # (started, finished) of the last crashed run
    next_change: float | None


def _backoff(crashes: int) -> float:
    return min(BACKOFF_START_S * 2.0 ** max(0, crashes - 1), BACKOFF_CAP_S)


def _crashloop_state(rec: PodRecord, now: float, run_start: float) -> PodState:
    """Runs, gets ready, crashes after crash_after_s, waits an exponential back-off, repeats."""
    ready_after = rec.ready_s - rec.start_s
    run_len = max(rec.crash_after_s, 0.001)
    crashes = 0
    last: tuple[float, float] | None = None
    start = run_start
    while True:
        crash_at = start + run_len
        if now < crash_at:
            ready_at = start + ready_after
            ready = ready_after < run_len and now >= ready_at
            nxt = ready_at if not ready and ready_after < run_len else crash_at
            return PodState(
                "Running", True, ready, crashes, None, start, ready_at if ready else None, last, nxt
            )
        crashes += 1
        last = (start, crash_at)
        restart_at = crash_at + _backoff(crashes)
        if now < restart_at:
            return PodState(
                "Running", False, False, crashes, "CrashLoopBackOff", None, None, last, restart_at
            )
        if _backoff(crashes) >= BACKOFF_CAP_S:
            # Steady state: whole cycles of equal length can be skipped arithmetically.
            cycle = run_len + BACKOFF_CAP_S
            skipped = int((now - restart_at) // cycle)
            if skipped > 0:
                crashes += skipped
                restart_at += skipped * cycle
                last = (restart_at - BACKOFF_CAP_S - run_len, restart_at - BACKOFF_CAP_S)
        start = restart_at


def pod_state(rec: PodRecord, now: float) -> PodState:
    started_at = rec.created_at + rec.start_s
    if now < started_at:
        return PodState(
            "Pending", False, False, 0, "ContainerCreating", None, None, None, started_at
        )
    behavior = rec.behavior
    if behavior == NEVER_READY:
        return PodState("Running", True, False, 0, None, started_at, None, None, None)
    if behavior == CRASHLOOP:
        return _crashloop_state(rec, now, started_at)
    ready_at = rec.created_at + rec.ready_s
    if now < ready_at:
        return PodState("Running", True, False, 0, None, started_at, None, None, ready_at)
    return PodState("Running", True, True, 0, None, started_at, ready_at, None, None)


def crash_after(template: JsonDict, default: float) -> float:
    raw = annotations_of(template).get(CRASH_AFTER_ANNOTATION)
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def image_digest(image: str) -> str:
    """A stable fake digest per image reference, as a registry would return."""
    return hashlib.sha256(image.encode()).hexdigest()


def container_id(pod_name: str, container: str, restarts: int) -> str:
    raw = f"{pod_name}/{container}/{restarts}".encode()
    return "docker://" + hashlib.sha256(raw).hexdigest()


def ip_for(index: int) -> str:
    return f"10.244.{(index // 250) % 250}.{index % 250 + 2}"
