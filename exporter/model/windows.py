"""The DORA keys per app over windows ending now, and their performance levels (design §3).

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
    forward = [d for d in succeeded if not d.rollback and not d.redeployed]
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


# The DORA performance tables (design §3): per key and report, the bounds of elite, high and
# medium; whatever is beyond the last bound is low. Frequency is "at least", lead time and
# restore "less than", change failure rate "at most".
LEVELS = ("elite", "high", "medium")
FREQUENCY_FLOORS = {"2021": (1.0, 1.0 / 30.0, 1.0 / 182.0), "2023": (1.0, 1.0 / 7.0, 1.0 / 30.0)}
LEAD_TIME_BOUNDS = {"2021": (3600.0, 7 * DAY, 180 * DAY), "2023": (DAY, 7 * DAY, 30 * DAY)}
FAILURE_RATE_BOUNDS = {"2021": (0.15, 0.20, 0.30), "2023": (0.05, 0.10, 0.15)}
RESTORE_BOUNDS = {"2021": (3600.0, DAY, 7 * DAY), "2023": (3600.0, DAY, 7 * DAY)}


def _level(within: list[bool]) -> str:
    return next((level for level, ok in zip(LEVELS, within, strict=True) if ok), "low")


def frequency_level(per_day: float, report: str = "2023") -> str:
    return _level([per_day >= floor for floor in FREQUENCY_FLOORS[report]])


def lead_time_level(seconds: float | None, report: str = "2023") -> str | None:
    if seconds is None:
        return None
    return _level([seconds < bound for bound in LEAD_TIME_BOUNDS[report]])


def failure_rate_level(rate: float | None, report: str = "2023") -> str | None:
    if rate is None:
        return None
    return _level([rate <= bound for bound in FAILURE_RATE_BOUNDS[report]])


def restore_level(seconds: float | None, report: str = "2023") -> str | None:
    if seconds is None:
        return None
    return _level([seconds < bound for bound in RESTORE_BOUNDS[report]])


def levels(keys: WindowKeys, report: str = "2023") -> dict[str, str | None]:
    return {
        "deployment_frequency": (
            frequency_level(keys.deployment_frequency_per_day, report) if keys.deployments else None
        ),
        "lead_time": lead_time_level(keys.lead_time_median_s, report),
        "change_failure_rate": failure_rate_level(keys.change_failure_rate, report),
        "time_to_restore": restore_level(keys.time_to_restore_median_s, report),
    }
