"""Fixtures of tests/helm.

The cluster tests use the session ``control_plane`` fixture of tests/conftest.py (one
control plane per test session, shared by every directory).

helm comes from tests/cluster/build's cache; without it every chart test fails (never skips).
"""

from __future__ import annotations
