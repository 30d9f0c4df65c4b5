"""The DORA report (design §5): JSON for machines, a table for people. Reads the model only."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.events.timeutil import format_rfc3339
from exporter.model.engine import DoraModel
from exporter.model.records import AppDeployment, AppKey, Outcome
from exporter.model.windows import DAY, WindowKeys, levels, window_keys


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _app_deployment(d: AppDeployment) -> dict[str, Any]:
    members = d.active_workloads
    return {
        "environment": d.app.environment,
        "namespace": d.app.namespace,
        "app": d.app.app,
        "version": d.version,
        "started_at": format_rfc3339(d.started_at),
        "finished_at": format_rfc3339(d.finished_at) if d.outcome.finished else None,
        "outcome": d.outcome.value,
        "lead_time_seconds": _round(d.lead_time_seconds),
        "failed_change": d.failed_change,
        "failure_reasons": list(d.failure_reasons),
        "restored_at": format_rfc3339(d.restored_at),
        "time_to_restore_seconds": _round(d.restore_seconds),
        "rework": d.rework,
        "rollback": d.rollback,
        "history": d.history,
        "id": d.identity,
        "workloads": [
            {
                "workload": w.workload,
                "kind": w.key.kind,
                "name": w.key.name,
                "version": w.version,
                "revision": w.revision or None,
                "started_at": format_rfc3339(w.started_at),
                "finished_at": format_rfc3339(w.finished_at),
                "outcome": w.outcome.value,
                "rollback": w.rollback,
                "failure_reason": w.failure_reason,
                "commit_sha": w.commit_sha,
                "redeployed_commit": w.redeployed,
            }
            for w in sorted(members, key=lambda w: (w.started_at, w.key))
        ],
    }


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which part of the report to build: a window, filters, and a page of apps."""

    window_s: float = 30 * DAY
    dora_report: str = "2023"
    environment: str | None = None
    namespace: str | None = None
    app: str | None = None
    limit: int | None = None  # apps per page; None: every app, no paging
    after: AppKey | None = None  # the page starts after this app
    max_deployments: int = 20_000  # a page ends early once it holds this many deployments

    def wants(self, key: AppKey) -> bool:
        return (
            (self.environment is None or key.environment == self.environment)
            and (self.namespace is None or key.namespace == self.namespace)
            and (self.app is None or key.app == self.app)
            and (self.after is None or key > self.after)
        )


def build_report(
    model: DoraModel,
    now: float,
    window_s: float = 30 * DAY,
    dora_report: str = "2023",
    query: ReportQuery | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for _ in report_steps(model, now, query or ReportQuery(window_s, dora_report), report):
        pass
    return report


async def build_report_async(model: DoraModel, now: float, query: ReportQuery) -> dict[str, Any]:
    """The same, yielding to the event loop every few apps: a big report never stalls it."""
    report: dict[str, Any] = {}
    for _ in report_steps(model, now, query, report):
        await asyncio.sleep(0)
    return report


def report_steps(
    model: DoraModel, now: float, query: ReportQuery, out: dict[str, Any], batch: int = 100
) -> Iterator[None]:
    """Build the report into ``out``, pausing every ``batch`` apps."""
    apps: list[dict[str, Any]] = []
    deployments: list[AppDeployment] = []
    start = now - query.window_s
    last: AppKey | None = None
    more = False
    for index, key in enumerate(sorted(k for k in model.apps if query.wants(k))):
        if index and index % batch == 0:
            yield
        if query.limit is not None and (
            len(apps) >= query.limit or len(deployments) >= query.max_deployments
        ):
            more = True
            break
        ledger = model.apps.get(key)
        if ledger is None:  # gone while we paused
            continue
        ledger_deployments = ledger.deployments
        keys = window_keys(ledger_deployments, now, query.window_s)
        in_window = [
            d
            for d in ledger_deployments
            if d.started_at <= now
            and (
                (d.finished_at is not None and d.finished_at > start)
                or d.outcome is Outcome.PROGRESSING
            )
        ]
        last = key
        deployments.extend(in_window)
        if not in_window and keys.deployments == 0:
            continue
        summary = _app_summary(key, keys, query.dora_report)
        since = ledger.complete_since
        summary["history_complete_since"] = format_rfc3339(since)
        summary["window_complete"] = since is None or since <= start
        apps.append(summary)
    deployments.sort(key=lambda d: (d.started_at, d.app))
    rendered: list[dict[str, Any]] = []
    for index, deployment in enumerate(deployments):
        if index and index % (batch * 5) == 0:
            yield
        rendered.append(_app_deployment(deployment))
    out.update(
        {
            "generated_at": format_rfc3339(now),
            "window_days": query.window_s / DAY,
            "dora_report": query.dora_report,
            "apps": apps,
            "app_deployments": rendered,
        }
    )
    if query.limit is not None:
        out["next"] = encode_cursor(last) if more and last is not None else None


def _app_summary(key: AppKey, keys: WindowKeys, dora_report: str) -> dict[str, Any]:
    return {
        "environment": key.environment,
        "namespace": key.namespace,
        "app": key.app,
        "deployments": keys.deployments,
        "successful_deployments": keys.successful,
        "failed_changes": keys.failed_changes,
        "change_failure_rate": _round(keys.change_failure_rate, 4),
        "deployment_frequency_per_day": _round(keys.deployment_frequency_per_day, 4),
        "lead_time_median_seconds": _round(keys.lead_time_median_s),
        "lead_time_coverage": _round(keys.lead_time_coverage, 4),
        "time_to_restore_median_seconds": _round(keys.time_to_restore_median_s),
        "rework_deployments": keys.rework_deployments,
        "rework_rate": _round(keys.rework_rate, 4),
        "levels": levels(keys, dora_report),
    }


def encode_cursor(key: AppKey) -> str:
    raw = json.dumps([key.environment, key.namespace, key.app]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> AppKey:
    """The app a page starts after; ValueError for anything that is not our cursor."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        parts = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a page cursor: {text[:40]!r}") from exc
    if not (isinstance(parts, list) and len(parts) == 3 and all(isinstance(p, str) for p in parts)):
        raise ValueError(f"not a page cursor: {text[:40]!r}")
    return AppKey(*parts)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / DAY:.1f}d"


def render_table(report: dict[str, Any]) -> str:
    """A fixed-width table a person can scan; one row per app."""
    header = (
        "ENVIRONMENT",
        "NAMESPACE",
        "APP",
        "DEPLOYS",
        "FREQ/DAY",
        "LEAD TIME",
        "FAIL RATE",
        "RESTORE",
        "LEVELS (freq/lead/cfr/restore)",
    )
    rows = [header]
    truncated = False
    for app in report["apps"]:
        rate = app["change_failure_rate"]
        lv = app["levels"]
        mark = "" if app.get("window_complete", True) else "*"
        truncated = truncated or bool(mark)
        rows.append(
            (
                app["environment"],
                app["namespace"],
                app["app"],
                str(app["deployments"]) + mark,
                f"{app['deployment_frequency_per_day']:.2f}" + mark,
                _duration(app["lead_time_median_seconds"]),
                "-" if rate is None else f"{rate * 100:.0f}%",
                _duration(app["time_to_restore_median_seconds"]),
                "/".join(
                    (lv[k] or "-")
                    for k in (
                        "deployment_frequency",
                        "lead_time",
                        "change_failure_rate",
                        "time_to_restore",
                    )
                ),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    title = f"DORA report, last {report['window_days']:g} days, at {report['generated_at']}"
    if len(rows) == 1:
        lines.append("(no app deployments in this window yet)")
    if truncated:
        lines.append(
            "* history incomplete for this window: the cluster keeps fewer revisions than it "
            "spans (a state file keeps them; see history_complete_since)"
        )
    return "\n".join([title, *lines])
