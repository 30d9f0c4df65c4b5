"""Ledger records as plain dicts, for the state file. Pure: no I/O, no clock."""

from __future__ import annotations

from typing import Any

from exporter.events.external import change_from_dict, change_to_dict
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


def app_deployment_from_dict(data: dict[str, Any]) -> AppDeployment:
    env, namespace, app = data["app"]
    key = AppKey(env, namespace, app)
    keptn = data.get("keptn_app")
    group = AppDeployment(
        app=key,
        started_at=float(data["started_at"]),
        history=bool(data.get("history", False)),
        keptn_app=(str(keptn[0]), int(keptn[1])) if keptn else None,
        outcome=Outcome(data["outcome"]),
        finished_at=data.get("finished_at"),
        failure_reasons=list(data.get("failure_reasons", [])),
        failed_change_at=data.get("failed_change_at"),
        restored_at=data.get("restored_at"),
        rework=bool(data.get("rework", False)),
        lead_time_observed=bool(data.get("lead_time_observed", False)),
        closed=bool(data.get("closed", False)),
        counted=bool(data.get("counted", False)),
        traced_facts=frozenset(data.get("traced_facts", ())),
        id=str(data["id"]),
    )
    for item in data.get("workloads", []):
        namespace_, kind, name = item["key"]
        wd = WorkloadDeployment(
            key=WorkloadKey(namespace_, kind, name),
            workload=item["workload"],
            app=key,
            version=item["version"],
            fingerprint=item["fingerprint"],
            revision=item.get("revision", ""),
            started_at=float(item["started_at"]),
            rollback=bool(item.get("rollback", False)),
            history=bool(item.get("history", False)),
            finished_at=item.get("finished_at"),
            outcome=Outcome(item["outcome"]),
            failure_reason=item.get("failure_reason"),
            commit_time=item.get("commit_time"),
            commit_sha=item.get("commit_sha"),
            traceparent=item.get("traceparent"),
            redeployed=bool(item.get("redeployed", False)),
            image_digests=set(item.get("image_digests", [])),
            repo_digests=set(item.get("repo_digests", [])),
            images=tuple(item.get("images", ())),
            commit_source=item.get("commit_source"),
            change=change_from_dict(item["change"]) if item.get("change") else None,
            ci_named=bool(item.get("ci_named", False)),
        )
        wd.group = group
        group.workloads.append(wd)
    return group
