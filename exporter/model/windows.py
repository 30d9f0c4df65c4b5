"""The DORA keys per app over windows ending now, and their performance levels (DESIGN §3).

Windows are computed from the ledger, which holds history rebuilt at start-up, so the gauges
are complete right after a restart (unlike the process-local counters).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from exporter.model.records import AppDeployment, Outcome

DAY = 86400.0
WINDOWS: dict[str, float] = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
LEVEL_VALUES = {"elite": 4, "high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True, slots=True)
class WindowKeys:
    window_days: float
    deployments: int
    successful: int
    failed_changes: int
    deployment_frequency_per_day: float
    lead_time_median_s: float | None
    lead_time_coverage: float | None
    change_failure_rate: float | None
    time_to_restore_median_s: float | None
    rework_deployments: int
    rework_rate: float | None


def window_keys(deployments: list[AppDeployment], now: float, window_s: float) -> WindowKeys:
    """Keys over (now - window, now]; a deployment belongs to the window it finished in."""
    start = now - window_s
    finished = [
        d
        for d in deployments
        if d.outcome.finished and d.finished_at is not None and start < d.finished_at <= now
    ]
    succeeded = [d for d in finished if d.outcome is Outcome.SUCCEEDED]
    failed_changes = [d for d in finished if d.failed_change]
    forward = [d for d in succeeded if not d.rollback]
    leads = [lt for d in forward if (lt := d.lead_time_seconds) is not None]
    restores = [
        r
        for d in deployments
        if d.restored_at is not None
        and start < d.restored_at <= now
        and (r := d.restore_seconds) is not None
    ]
    rework = sum(1 for d in finished if d.rework)
    return WindowKeys(
        window_days=window_s / DAY,
        deployments=len(finished),
        successful=len(succeeded),
        failed_changes=len(failed_changes),
        deployment_frequency_per_day=len(succeeded) / (window_s / DAY),
        lead_time_median_s=median(leads) if leads else None,
        lead_time_coverage=(len(leads) / len(forward)) if forward else None,
        change_failure_rate=(len(failed_changes) / len(finished)) if finished else None,
        time_to_restore_median_s=median(restores) if restores else None,
        rework_deployments=rework,
        rework_rate=(rework / len(finished)) if finished else None,
    )


def frequency_level(per_day: float, report: str = "2023") -> str:
    if per_day >= 1.0:
        return "elite"
    if report == "2021":
        if per_day >= 1.0 / 30.0:
            return "high"
        return "medium" if per_day >= 1.0 / 182.0 else "low"
    if per_day >= 1.0 / 7.0:
        return "high"
    if per_day >= 1.0 / 30.0:
        return "medium"
    return "low"


def lead_time_level(seconds: float | None, report: str = "2023") -> str | None:
    if seconds is None:
        return None
    if report == "2021":
        if seconds < 3600:
            return "elite"
        if seconds < 7 * DAY:
            return "high"
        if seconds < 180 * DAY:
            return "medium"
        return "low"
    if seconds < DAY:
        return "elite"
    if seconds < 7 * DAY:
        return "high"
    if seconds < 30 * DAY:
        return "medium"
    return "low"


def failure_rate_level(rate: float | None, report: str = "2023") -> str | None:
    if rate is None:
        return None
    if report == "2021":
        if rate <= 0.15:
            return "elite"
        if rate <= 0.20:
            return "high"
        return "medium" if rate <= 0.30 else "low"
    if rate <= 0.05:
        return "elite"
    if rate <= 0.10:
        return "high"
    if rate <= 0.15:
        return "medium"
    return "low"


def restore_level(seconds: float | None, report: str = "2023") -> str | None:
    if seconds is None:
        return None
    if seconds < 3600:
        return "elite"
    if seconds < DAY:
        return "high"
    if seconds < 7 * DAY:
        return "medium"
    return "low"


def levels(keys: WindowKeys, report: str = "2023") -> dict[str, str | None]:
    return {
        "deployment_frequency": (
            frequency_level(keys.deployment_frequency_per_day, report) if keys.deployments else None
        ),
        "lead_time": lead_time_level(keys.lead_time_median_s, report),
        "change_failure_rate": failure_rate_level(keys.change_failure_rate, report),
        "time_to_restore": restore_level(keys.time_to_restore_median_s, report),
    }
