"""Hypothesis profiles for the fuzz tests: "ci" (the default) is derandomized and bounded, so
the normal test command runs the same examples every time; "fuzz" runs
``DAYLIGHT_FUZZ_EXAMPLES`` random examples per test (``DAYLIGHT_FUZZ_EXAMPLES=5000 pytest
tests/fuzz``)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("DAYLIGHT_FUZZ_EXAMPLES") or 1000), deadline=None
)
settings.load_profile("fuzz" if os.environ.get("DAYLIGHT_FUZZ_EXAMPLES") else "ci")
