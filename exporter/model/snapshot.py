"""Ledger records as plain dicts, for the state file. Pure: no I/O, no clock."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from exporter.events.external import (
    CHANGE_OPTIONAL_FIELDS,
    SOURCE_API,
    Change,
    change_to_dict,
)
from exporter.model.records import AppDeployment, AppKey, Outcome, WorkloadDeployment, WorkloadKey


def app_deployment_to_dict(group: AppDeployment) -> dict[str, Any]:
    return {
        "id": group.id,
        "app": [group.app.environment, group.app.namespace, group.app.app],
        "started_at": group.started_at,
        "finished_at": group.finished_at,
        "outcome": group.outcome.value,
        "history": group.history,
        "keptn_app": list(group.keptn_app) if group.keptn_app else None,
        "failure_reasons": list(group.failure_reasons),
        "failed_change_at": group.failed_change_at,
        "restored_at": group.restored_at,
        "rework": group.rework,
        "lead_time_observed": group.lead_time_observed,
        "closed": group.closed,
        "counted": group.counted,
        "traced_facts": sorted(group.traced_facts),
        "workloads": [_workload_to_dict(w) for w in group.workloads],
    }


def _workload_to_dict(w: WorkloadDeployment) -> dict[str, Any]:
    return {
        "key": [w.key.namespace, w.key.kind, w.key.name],
        "workload": w.workload,
        "version": w.version,
        "fingerprint": w.fingerprint,
        "revision": w.revision,
        "started_at": w.started_at,
        "finished_at": w.finished_at,
        "outcome": w.outcome.value,
        "rollback": w.rollback,
        "history": w.history,
        "failure_reason": w.failure_reason,
        "commit_time": w.commit_time,
        "commit_sha": w.commit_sha,
        "traceparent": w.traceparent,
        "redeployed": w.redeployed,
        "image_digests": sorted(w.image_digests),
        "repo_digests": sorted(w.repo_digests),
        "images": list(w.images),
        "commit_source": w.commit_source,
        "change": change_to_dict(w.change) if w.change is not None else None,
        "ci_named": w.ci_named,
    }


def app_deployment_from_dict(data: object) -> AppDeployment:
    """The inverse of ``app_deployment_to_dict``. Raises ValueError, naming the field, for
    anything that is not what the writer writes: a damaged record is refused whole, never
    half-loaded into the ledger."""
    fields = _Fields(data, "")
    env, namespace, app = fields.strings("app", 3)
    key = AppKey(env, namespace, app)
    keptn = fields.get("keptn_app")
    if keptn is not None and not (
        isinstance(keptn, list)
        and len(keptn) == 2
        and isinstance(keptn[0], str)
        and _is_int(keptn[1])
    ):
        raise ValueError("keptn_app: expected [version, revision]")
    group = AppDeployment(
        app=key,
        started_at=float(fields.time("started_at")),
        history=fields.flag("history"),
        keptn_app=(keptn[0], int(keptn[1])) if keptn else None,
        outcome=fields.outcome("outcome"),
        finished_at=fields.optional_time("finished_at"),
        failure_reasons=fields.string_list("failure_reasons"),
        failed_change_at=fields.optional_time("failed_change_at"),
        restored_at=fields.optional_time("restored_at"),
        rework=fields.flag("rework"),
        lead_time_observed=fields.flag("lead_time_observed"),
        closed=fields.flag("closed"),
        counted=fields.flag("counted"),
        traced_facts=frozenset(fields.string_list("traced_facts")),
        id=fields.string("id"),
    )
    workloads = fields.get("workloads", [])
    if not isinstance(workloads, list):
        raise ValueError("workloads: expected a list")
    for index, item in enumerate(workloads):
        wd = _workload_from_dict(_Fields(item, f"workloads[{index}]."), key)
        wd.group = group
        group.workloads.append(wd)
    return group


def _workload_from_dict(fields: _Fields, app: AppKey) -> WorkloadDeployment:
    namespace, kind, name = fields.strings("key", 3)
    return WorkloadDeployment(
        key=WorkloadKey(namespace, kind, name),
        workload=fields.string("workload"),
        app=app,
        version=fields.string("version"),
        fingerprint=fields.string("fingerprint"),
        revision=fields.string("revision", ""),
        started_at=float(fields.time("started_at")),
        rollback=fields.flag("rollback"),
        history=fields.flag("history"),
        finished_at=fields.optional_time("finished_at"),
        outcome=fields.outcome("outcome"),
        failure_reason=fields.optional_string("failure_reason"),
        commit_time=fields.optional_time("commit_time"),
        commit_sha=fields.optional_string("commit_sha"),
        traceparent=fields.optional_string("traceparent"),
        redeployed=fields.flag("redeployed"),
        image_digests=set(fields.string_list("image_digests")),
        repo_digests=set(fields.string_list("repo_digests")),
        images=tuple(fields.string_list("images")),
        commit_source=fields.optional_string("commit_source"),
        change=fields.change("change"),
        ci_named=fields.flag("ci_named"),
    )


_MISSING = object()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """Typed reads of one record's fields; a missing optional field takes the default the
    writer would have written, a wrong type is a ValueError naming the field."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where or 'record'}: expected an object")
        self.data: dict[str, Any] = data
        self.where = where

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def _wrong(self, name: str, expected: str) -> ValueError:
        return ValueError(f"{self.where}{name}: expected {expected}")

    def string(self, name: str, default: object = _MISSING) -> str:
        value = self.data.get(name, default)
        if not isinstance(value, str):
            raise self._wrong(name, "a string")
        return value

    def optional_string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, "a string or null")
        return value

    def strings(self, name: str, count: int) -> list[str]:
        value = self.data.get(name)
        if not (
            isinstance(value, list)
            and len(value) == count
            and all(isinstance(v, str) for v in value)
        ):
            raise self._wrong(name, f"a list of {count} strings")
        return value

    def string_list(self, name: str) -> list[str]:
        value = self.data.get(name, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise self._wrong(name, "a list of strings")
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name, False)
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def time(self, name: str) -> float:
        value = self.data.get(name)
        if not is_time(value):
            raise self._wrong(name, "seconds since 1970, before 10000")
        return value

    def optional_time(self, name: str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not is_time(value):
            raise self._wrong(name, "seconds since 1970, before 10000, or null")
        return value

    def change(self, name: str) -> Change | None:
        """The CI change that matched a workload deployment (as ``change_to_dict`` wrote it)."""
        value = self.data.get(name)
        if value is None:
            return None
        return checked_change(value, f"{self.where}{name}.")

    def outcome(self, name: str) -> Outcome:
        value = self.data.get(name)
        try:
            return Outcome(value if isinstance(value, str) else "")
        except ValueError:
            raise self._wrong(name, "one of " + ", ".join(Outcome)) from None


LATEST = 253402300799.0  # 9999-12-31T23:59:59Z: the last instant RFC 3339 (and a report) can write


def is_time(value: object) -> TypeGuard[float]:
    """Seconds since the epoch that the ledger can hold and a report can print."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= LATEST
    )


def checked_change(data: object, where: str) -> Change:
    """A saved CI change, every field type-checked (ValueError naming a bad one)."""
    fields = _Fields(data, where)
    optional = {name: fields.optional_string(name) for name in CHANGE_OPTIONAL_FIELDS}
    return Change(
        fields.string("commit_sha"),
        fields.optional_time("commit_time"),
        source=fields.string("source", SOURCE_API),
        **optional,
    )
