"""What the model derived from an event: returned by ``DoraModel.apply`` and ``advance``.

Consumers that act on deployments (the launcher, the pre/post-deployment checks) subscribe
to these instead of reading the model's state, so "a rollout started" or "a deployment
finished" means one thing everywhere. Each fact refers to the model's own records, which
keep changing afterwards (a deployment that finished may later become a failed change):
read what a fact says when it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exporter.model.records import AppDeployment, AppKey, WorkloadDeployment, WorkloadKey


@dataclass(frozen=True, slots=True)
class RolloutStarted:
    """A workload's pod template changed to a new fingerprint (not history)."""

    deployment: WorkloadDeployment


@dataclass(frozen=True, slots=True)
class RolloutRevised:
    """The controller's revision number of a rollout in progress became known."""

    deployment: WorkloadDeployment


@dataclass(frozen=True, slots=True)
class RolloutFinished:
    """A rollout succeeded or failed (``deployment.outcome`` says which)."""

    deployment: WorkloadDeployment


@dataclass(frozen=True, slots=True)
class RolloutSuperseded:
    """Another change started before this rollout finished: it is not a deployment."""

    deployment: WorkloadDeployment


@dataclass(frozen=True, slots=True)
class WorkloadListed:
    """A workload found at start-up, with the rollout in flight and the deployed one."""

    key: WorkloadKey
    active: WorkloadDeployment | None
    current: WorkloadDeployment | None


@dataclass(frozen=True, slots=True)
class AppDeploymentFinished:
    """An app deployment succeeded or failed, counted once (``deployment.outcome``)."""

    deployment: AppDeployment


@dataclass(frozen=True, slots=True)
class FailureOpened:
    """A deployment became a failed change, or gained another failure reason."""

    deployment: AppDeployment
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class FailureRestored:
    """The app is healthy again: these failed deployments are restored."""

    app: AppKey
    deployments: tuple[AppDeployment, ...]
    at: float


Fact = (
    RolloutStarted
    | RolloutRevised
    | RolloutFinished
    | RolloutSuperseded
    | WorkloadListed
    | AppDeploymentFinished
    | FailureOpened
    | FailureRestored
)


class FactLog:
    """Collects the facts of one call into the model; the facade drains it."""

    __slots__ = ("_facts",)

    def __init__(self) -> None:
        self._facts: list[Fact] = []

    def add(self, fact: Fact) -> None:
        self._facts.append(fact)

    def drain(self) -> Sequence[Fact]:
        if not self._facts:
            return NO_FACTS  # most events derive nothing: no list per event
        facts, self._facts = self._facts, []
        return facts


NO_FACTS: Sequence[Fact] = ()
