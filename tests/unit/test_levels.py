"""The DORA performance tables (design §3), at their boundaries, for both reports."""

from __future__ import annotations

import pytest

from exporter.model.windows import (
    DAY,
    failure_rate_level,
    frequency_level,
    lead_time_level,
    restore_level,
)

HOUR = 3600.0


@pytest.mark.parametrize(
    ("report", "per_day", "level"),
    [
        ("2023", 1.0, "elite"), ("2023", 0.999, "high"), ("2023", 1 / 7, "high"),
        ("2023", 1 / 7 - 1e-9, "medium"), ("2023", 1 / 30, "medium"), ("2023", 0.03, "low"),
        ("2021", 1.0, "elite"), ("2021", 1 / 30, "high"), ("2021", 1 / 31, "medium"),
        ("2021", 1 / 182, "medium"), ("2021", 1 / 183, "low"),
    ],
)  # fmt: skip  # a table
def test_frequency(report: str, per_day: float, level: str) -> None:
    assert frequency_level(per_day, report) == level


@pytest.mark.parametrize(
    ("report", "seconds", "level"),
    [
        ("2023", DAY - 1, "elite"), ("2023", DAY, "high"), ("2023", 7 * DAY, "medium"),
        ("2023", 30 * DAY, "low"), ("2021", HOUR - 1, "elite"), ("2021", HOUR, "high"),
        ("2021", 7 * DAY, "medium"), ("2021", 180 * DAY, "low"),
    ],
)  # fmt: skip  # a table
def test_lead_time(report: str, seconds: float, level: str) -> None:
    assert lead_time_level(seconds, report) == level
    assert lead_time_level(None, report) is None


@pytest.mark.parametrize(
    ("report", "rate", "level"),
    [
        ("2023", 0.05, "elite"), ("2023", 0.06, "high"), ("2023", 0.15, "medium"),
        ("2023", 0.16, "low"), ("2021", 0.15, "elite"), ("2021", 0.2, "high"),
        ("2021", 0.3, "medium"), ("2021", 0.31, "low"),
    ],
)  # fmt: skip  # a table
def test_change_failure_rate(report: str, rate: float, level: str) -> None:
    assert failure_rate_level(rate, report) == level


@pytest.mark.parametrize("report", ["2021", "2023"])
def test_time_to_restore_is_the_same_in_both_reports(report: str) -> None:
    assert [restore_level(s, report) for s in (HOUR - 1, HOUR, DAY, 7 * DAY)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
