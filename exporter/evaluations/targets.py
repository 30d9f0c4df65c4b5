"""Evaluation targets: ``<10``, ``<=0.5``, ``>4``, ``>=99.9``, ``==0``, ``!=1``, ``10..20``.

Keptn's own evaluation compares only the first character (``<`` or ``>``); Daylight accepts
those and the two-character operators, equality, and inclusive ranges ``LOW..HIGH``. A target
is parsed once into a :class:`Target` and then applied to each measured value.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(<=|>=|==|!=|<|>|=)\s*({_NUMBER})\s*$")
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*$")

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}


class InvalidTarget(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    op: str  # one of _OPERATORS, or ".." for an inclusive range
    low: float
    high: float = 0.0

    def check(self, value: float) -> bool:
        """Whether ``value`` meets the target; NaN never does."""
        if math.isnan(value):
            return False
        if self.op == "..":
            return self.low <= value <= self.high
        return _OPERATORS[self.op](value, self.low)


def parse_target(text: str) -> Target:
    if len(text) > 64:
        raise InvalidTarget(f"evaluation target too long: {text[:64]!r}...")
    match = _COMPARISON.match(text)
    if match is not None:
        op, number = match.groups()
        value = float(number)
        if not math.isfinite(value):
            raise InvalidTarget(f"evaluation target is not a finite number: {text!r}")
        return Target(text.strip(), "==" if op == "=" else op, value)
    match = _RANGE.match(text)
    if match is not None:
        low, high = float(match.group(1)), float(match.group(2))
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise InvalidTarget(f"evaluation range must be LOW..HIGH with LOW <= HIGH: {text!r}")
        return Target(text.strip(), "..", low, high)
    raise InvalidTarget(
        f"invalid evaluation target {text!r}: use <N, <=N, >N, >=N, ==N, !=N or LOW..HIGH"
    )
