"""Shared fixtures: the real control plane (tests/cluster/), one per test session.

``control_plane`` (session scope) uses the binaries built by ``tests/cluster/build`` (run once
after collection, before any test, when a selected test needs the control plane; a no-op on a
cache hit), starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok once per session and stops them at the end. A missing binary or a failed build is a
test failure, never a skip. When a test that uses the control plane fails, the tail of every
component log is attached to its report.

``namespace`` (function scope) is a fresh namespace whose ``default`` ServiceAccount exists.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.cluster.controlplane import (
    COMPONENTS,
    ControlPlane,
    ControlPlaneError,
    bin_dir,
    build,
)

_BINARIES = pytest.StashKey[Path]()
_BUILD_ERROR = pytest.StashKey[str]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find in the cache) the binaries before any test runs.

    Done here rather than in the fixture so that a cold build (about ten minutes) does not
    count against the per-test timeout. Only when a selected test uses the control plane.
    """
    if not any("control_plane" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    missing = [n for n in COMPONENTS if not (bin_dir() / n).is_file()]
    if reporter is not None and missing:
        reporter.write_line(
            f"building the control plane binaries ({', '.join(missing)} missing; "
            "a cold build takes about ten minutes)..."
        )
    started = time.monotonic()
    try:
        config.stash[_BINARIES] = build(quiet=True)
    except ControlPlaneError as exc:
        config.stash[_BUILD_ERROR] = f"building the control plane binaries failed:\n{exc}"
    elapsed = time.monotonic() - started
    if reporter is not None and elapsed > 2:
        reporter.write_line(f"control plane binaries built in {elapsed:.0f} s")


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The running control plane; see tests/cluster/controlplane.py for its API."""
    config = request.config
    error = config.stash.get(_BUILD_ERROR, "")
    binaries = config.stash.get(_BINARIES, None)
    if not error and binaries is None:
        try:
            binaries = build(quiet=True)
        except ControlPlaneError as exc:
            error = f"building the control plane binaries failed:\n{exc}"
    if error:
        pytest.fail(error, pytrace=False)
    cp = ControlPlane(binaries)
    try:
        cp.start()
    except ControlPlaneError as exc:
        error = f"the control plane did not start (files kept in {cp.workdir}):\n{exc}"
    if error:
        pytest.fail(error, pytrace=False)
    print(f"\ncontrol plane up in {cp.startup_seconds:.1f} s at {cp.server}, logs in {cp.logdir}")
    try:
        yield cp
    finally:
        failed = request.session.testsfailed > 0
        cp.stop(keep_workdir=failed)
        if failed:
            print(f"\ncontrol plane logs kept in {cp.logdir}")


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    control_plane.wait_for_service_account(name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        cp = funcargs.get("control_plane")
        if isinstance(cp, ControlPlane):
            report.sections.append(("control plane component logs", cp.component_logs(tail=40)))
    return report
