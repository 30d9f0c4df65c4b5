"""Evaluation targets: Keptn's one-character operators, the two-character ones, ranges."""

from __future__ import annotations

import math

import pytest

from exporter.evaluations.targets import InvalidTarget, parse_target

CASES = [
    (">4", 5.0, True),
    (">4", 4.0, False),
    ("<0.01", 0.005, True),
    ("<0.01", 0.01, False),
    ("<=0.5", 0.5, True),
    (">=99.9", 99.89, False),
    ("==0", 0.0, True),
    ("=0", 1.0, False),
    ("!=1", 2.0, True),
    ("!= 1", 1.0, False),
    ("10..20", 10.0, True),
    ("10..20", 20.0, True),
    ("10..20", 20.5, False),
    ("-5 .. 5", -5.0, True),
    ("1e3..2e3", 1500.0, True),
    (" > -1 ", 0.0, True),
]


@pytest.mark.parametrize(("text", "value", "meets"), CASES)
def test_targets(text: str, value: float, meets: bool) -> None:
    assert parse_target(text).check(value) is meets


def test_nan_never_meets_a_target() -> None:
    for text in ("<1", ">1", "!=1", "0..1"):
        assert parse_target(text).check(math.nan) is False


@pytest.mark.parametrize(
    "text", ["", "4", "=>4", "<", "<abc", "20..10", "1..", "..2", "~4", "<1 or >2", "<" + "9" * 70]
)
def test_invalid_targets(text: str) -> None:
    with pytest.raises(InvalidTarget):
        parse_target(text)
