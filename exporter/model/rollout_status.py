"""When is a rollout done, and when has it failed? (design §3)

The rules mirror ``kubectl rollout status`` so that Daylight and the operator's terminal agree.
Every rule first requires ``observedGeneration >= generation``: until the controller has seen
the new spec, the status describes the previous rollout and must not be read as this one's.
"""

from __future__ import annotations

import math

from exporter.events.objects import Condition, Workload

DEPLOYMENT = "Deployment"
STATEFULSET = "StatefulSet"
DAEMONSET = "DaemonSet"
WORKLOAD_KINDS = (DEPLOYMENT, STATEFULSET, DAEMONSET)


def _observed(workload: Workload) -> bool:
    return workload.status.observed_generation >= workload.metadata.generation


def desired_replicas(workload: Workload) -> int:
    replicas = workload.spec.replicas
    return 1 if replicas is None else replicas


def rollout_complete(workload: Workload) -> bool:
    if not _observed(workload):
        return False
    status = workload.status
    if workload.kind == DEPLOYMENT:
        desired = desired_replicas(workload)
        return (
            status.updated_replicas == desired
            and status.replicas == status.updated_replicas
            and status.available_replicas >= status.updated_replicas
        )
    if workload.kind == STATEFULSET:
        desired = desired_replicas(workload)
        return (
            bool(status.update_revision)
            and status.current_revision == status.update_revision
            and status.updated_replicas == desired
            and status.ready_replicas == desired
        )
    if workload.kind == DAEMONSET:
        desired = status.desired_number_scheduled
        return status.updated_number_scheduled == desired and status.number_available == desired
    return False


def rolled_out(workload: Workload) -> bool:
    """At first sight: the current revision finished rolling out, even if a scale-up is
    still waiting for pods (which :func:`rollout_complete`, like ``kubectl rollout status``,
    cannot tell from a rollout): the Deployment controller keeps ``NewReplicaSetAvailable``
    through a scale, a StatefulSet's current revision is its update revision."""
    if rollout_complete(workload):
        return True
    if not _observed(workload):
        return False
    status = workload.status
    if workload.kind == DEPLOYMENT:
        progressing = _condition(workload, "Progressing")
        return (
            progressing is not None
            and progressing.status == "True"
            and progressing.reason == "NewReplicaSetAvailable"
            and status.replicas == status.updated_replicas
        )
    if workload.kind == STATEFULSET:
        return bool(status.update_revision) and status.current_revision == status.update_revision
    return False


def _condition(workload: Workload, kind: str) -> Condition | None:
    return next((c for c in workload.status.conditions if c.type == kind), None)


def progress_deadline_exceeded(workload: Workload) -> bool:
    """Only Deployments have a controller-enforced deadline; others use --rollout-timeout."""
    if workload.kind != DEPLOYMENT or not _observed(workload):
        return False
    progressing = _condition(workload, "Progressing")
    return (
        progressing is not None
        and progressing.status == "False"
        and progressing.reason == "ProgressDeadlineExceeded"
    )


def completion_time_hint(workload: Workload) -> str | None:
    """When the controller says the current rollout finished (Deployments only)."""
    progressing = _condition(workload, "Progressing")
    if progressing is not None and progressing.reason == "NewReplicaSetAvailable":
        return progressing.last_update_time
    return None


def has_own_deadline(workload: Workload) -> bool:
    return workload.kind == DEPLOYMENT


def scheduled(workload: Workload) -> int:
    """How many pods the workload wants now: replicas, or the DaemonSet's scheduled count."""
    if workload.kind == DAEMONSET:
        return workload.status.desired_number_scheduled
    return desired_replicas(workload)


def capacity_floor(workload: Workload, had: int | None) -> int:
    """The capacity degradation is measured against (design §3): min(desired now, the pods
    the workload last had in full). A scale-up whose new pods are not ready yet adds
    nothing to it until they are; a scale-down lowers it."""
    desired = scheduled(workload)
    return desired if had is None else min(desired, had)


def full(workload: Workload) -> bool:
    """Every pod it wants now is there (Deployments: available; others: ready)."""
    if not _observed(workload):
        return False
    status = workload.status
    if workload.kind == DEPLOYMENT:
        return status.available_replicas >= desired_replicas(workload)
    if workload.kind == STATEFULSET:
        return status.ready_replicas >= desired_replicas(workload)
    if workload.kind == DAEMONSET:
        return status.number_ready >= status.desired_number_scheduled
    return False


def capacity_now(workload: Workload) -> int:
    """What it has in full at first sight: all it wants, or the pods it has (a scale-up
    may be waiting across a restart; what it had before nobody watched is unknown)."""
    if full(workload):
        return scheduled(workload)
    status = workload.status
    if workload.kind == DEPLOYMENT:
        return status.available_replicas
    if workload.kind == DAEMONSET:
        return status.number_ready
    return status.ready_replicas


def capacity_lost(workload: Workload, had: int | None) -> bool:
    """Degradation (design §3): capacity that was there went away, fewer pods than
    :func:`capacity_floor`; Deployments may lose ``maxUnavailable`` of it."""
    desired = scheduled(workload)
    floor = capacity_floor(workload, had)
    status = workload.status
    if workload.kind == DEPLOYMENT:
        return status.available_replicas < floor - max_unavailable(workload, desired)
    if workload.kind == STATEFULSET:
        return status.ready_replicas < floor
    if workload.kind == DAEMONSET:
        return status.number_ready < floor
    return False


def max_unavailable(workload: Workload, desired: int) -> int:
    """A Deployment's maxUnavailable in pods (default 25%, rounded down; at least 1 when
    maxSurge is 0 too, as the controller does; 0 for the Recreate strategy)."""
    strategy = workload.spec.strategy
    if strategy is not None and strategy.type == "Recreate":
        return 0
    rolling = strategy.rolling_update if strategy is not None else None
    unavailable = _scaled(rolling.max_unavailable if rolling else None, desired, "25%", False)
    surge = _scaled(rolling.max_surge if rolling else None, desired, "25%", True)
    return 1 if unavailable == 0 and surge == 0 else unavailable


def _scaled(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    value = default if value is None else value
    if isinstance(value, int):
        return max(0, value)
    text = value.strip()
    if text.endswith("%") and text[:-1].isdigit():
        exact = int(text[:-1]) * total / 100
        return max(0, math.ceil(exact) if round_up else math.floor(exact))
    if text.isdigit():
        return int(text)
    return 0


def unavailable_since(workload: Workload) -> str | None:
    """When a Deployment's ``Available`` condition last turned (other kinds: unknown). It
    dates lost capacity only when the floor is the desired count: during a scale-up it
    turned when the new pods were asked for, not when pods were lost."""
    condition = _condition(workload, "Available")
    if condition is None or condition.status != "False":
        return None
    return condition.last_transition_time


def condition_time(workload: Workload) -> str | None:
    """When a Deployment's rollout last reached an end state (complete or past its deadline)."""
    progressing = _condition(workload, "Progressing")
    if progressing is None or progressing.reason not in (
        "NewReplicaSetAvailable",
        "ProgressDeadlineExceeded",
    ):
        return None
    return progressing.last_update_time
