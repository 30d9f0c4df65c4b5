"""The event envelope: how a change of the cluster, or an input from outside it, reaches the
model. Every event carries its time, so the model never reads a clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exporter.events.objects import AnyObject


class EventType(StrEnum):
    """The watch event types that change an object (BOOKMARK and ERROR never reach here)."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class SideKind(StrEnum):
    """Inputs from outside the cluster, carried in event logs and POST bodies."""

    CHANGE = "CHANGE"  # commit metadata from CI (POST /api/v1/changes)
    ALERT = "ALERT"  # an Alertmanager webhook (POST /api/v1/alerts)


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One watch event. ``initial`` marks objects from the start-up list: they are history."""

    time: float
    type: EventType
    obj: AnyObject
    initial: bool = False


@dataclass(frozen=True, slots=True)
class SideInput:
    """An ALERT or CHANGE: input for the failure and lead-time logic, still unparsed."""

    time: float
    kind: SideKind
    body: dict[str, Any]
