"""Fixtures of tests/helm.

The cluster tests use the session ``control_plane`` fixture of tests/e2e/conftest.py. Fixtures
of a sibling directory are not visible here, so it is imported; once it moves to
tests/conftest.py (shared by every directory, one control plane per session) this import
finds nothing and the shared one is used.

helm comes from tests/cluster/build's cache; without it every chart test fails (never skips).
"""

from __future__ import annotations

import contextlib

with contextlib.suppress(ImportError):  # ImportError: moved to tests/conftest.py
    from tests.e2e.conftest import control_plane  # noqa: F401  (re-exported fixture)
