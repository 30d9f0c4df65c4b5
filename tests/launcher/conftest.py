"""The Keptn-compatible CRDs (helm/daylight/crds-optional) on the real control plane.

Applied once per session. CRDs that were not there before (e.g. installed by the Helm tests)
are deleted again at the end, so a later ``helm install`` can take them over.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.controlplane import ControlPlane

CRD_DIR = Path(__file__).resolve().parents[2] / "helm" / "daylight" / "crds-optional"
CRD_NAMES = sorted(p.name.removesuffix(".yaml") for p in CRD_DIR.glob("*.yaml"))


@pytest.fixture(scope="session")
def keptn_crds(control_plane: ControlPlane) -> Iterator[list[str]]:
    cp = control_plane
    existing = {
        name for name in CRD_NAMES if cp.kubectl("get", "crd", name, check=False).returncode == 0
    }
    for path in sorted(CRD_DIR.glob("*.yaml")):
        cp.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=daylight-tests",
            "-f",
            str(path),
        )
    for name in CRD_NAMES:
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    yield CRD_NAMES
    created = [name for name in CRD_NAMES if name not in existing]
    if created:
        cp.kubectl("delete", "crd", *created, "--timeout=120s", check=False, timeout=150)
