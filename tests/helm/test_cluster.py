"""The chart on the real control plane: apply, access rights by impersonation, the exporter.

Three installs share one control plane:

- ``deploy/daylight.yaml`` (the default values) with ``kubectl apply --server-side``;
- ``tests/helm/values-full.yaml`` (every option) with ``helm install``, after the test-only
  Prometheus Operator CRDs, a PriorityClass and the launcher's namespace;
- ``tests/helm/values-namespaced.yaml`` (Roles only) with ``helm install``.

Access rights are asked of the API server with SubjectAccessReviews for the ServiceAccounts
(and a few with ``kubectl auth can-i --as``). Then the exporter runs the way it runs in a pod:
``KUBERNETES_SERVICE_HOST``/``PORT`` pointing at the API server, a TokenRequest token and the
CA in a service-account directory, the container's args and ``DAYLIGHT_*`` env from the
rendered chart, until ``/readyz`` answers 200.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from exporter.kube.resources import WATCHED
from tests.cluster.controlplane import ControlPlane
from tests.helm import chart
from tests.helm.chart import CHART, one

pytestmark = pytest.mark.cluster

MONITORING_CRDS = Path(__file__).resolve().parent / "fixtures" / "monitoring-crds.yaml"
TEAM_NAMESPACES = ("team-a", "team-b")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
READ_VERBS = ("get", "list", "watch")
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    docs: list[dict[str, Any]]

    def workload(self, component: str) -> dict[str, Any]:
        found = [
            d
            for d in self.docs
            if d["kind"] in ("Deployment", "StatefulSet")
            and d["metadata"]["labels"]["app.kubernetes.io/component"] == component
        ]
        assert len(found) == 1
        return found[0]

    def service_account(self, component: str) -> str:
        return str(self.workload(component)["spec"]["template"]["spec"]["serviceAccountName"])


# ------------------------------------------------------------------------------ helpers


def create_namespace(cp: ControlPlane, name: str, labels: dict[str, str] | None = None) -> None:
    cp.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
    )
    cp.wait_for_service_account(name)


def helm_install(cp: ControlPlane, release: str, namespace: str, values: Path) -> str:
    proc = chart.helm(
        "install",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--values",
        str(values),
        "--kubeconfig",
        str(cp.kubeconfig),
        "--timeout",
        "2m",
        # other suites on the same control plane may have applied the Keptn CRDs already
        "--take-ownership",
        timeout=180,
    )
    return proc.stdout


def can(
    cp: ControlPlane,
    sa: tuple[str, str],
    verb: str,
    resource: str,
    group: str = "",
    namespace: str = "",
    subresource: str = "",
) -> bool:
    """A SubjectAccessReview for ServiceAccount ``sa`` = (namespace, name)."""
    sa_ns, sa_name = sa
    attributes = {"verb": verb, "group": group, "resource": resource, "namespace": namespace}
    if subresource:
        attributes["subresource"] = subresource
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{sa_ns}:{sa_name}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{sa_ns}",
                "system:authenticated",
            ],
            "resourceAttributes": attributes,
        },
    }
    result = cp.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(result["status"].get("allowed"))


def kubectl_can_i(cp: ControlPlane, sa: tuple[str, str], *args: str) -> bool:
    proc = cp.kubectl(
        "auth", "can-i", f"--as=system:serviceaccount:{sa[0]}:{sa[1]}", *args, check=False
    )
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), proc.stdout + proc.stderr
    return answer == "yes"


def denied_everywhere(
    cp: ControlPlane, sa: tuple[str, str], namespaces: tuple[str, ...]
) -> list[str]:
    """Every write verb on every watched resource, plus reads it must never have."""
    allowed = []
    scopes = ("", *namespaces)
    for r in WATCHED:
        for verb in WRITE_VERBS:
            for ns in scopes if r.namespaced else ("",):
                if can(cp, sa, verb, r.plural, r.group, ns):
                    allowed.append(f"{verb} {r.plural}.{r.group} in {ns or 'cluster'}")
    never = [
        ("get", "secrets", "", ""),
        ("list", "secrets", "", ""),
        ("watch", "secrets", "", ""),
        ("get", "configmaps", "", ""),
        ("create", "pods", "", "exec"),
        ("get", "pods", "", "log"),
        ("create", "serviceaccounts", "", "token"),
        ("create", "events", "", ""),
        ("list", "nodes", "", ""),
        ("update", "deployments", "apps", "scale"),
        ("patch", "pods", "", "status"),
        ("bind", "clusterroles", "rbac.authorization.k8s.io", ""),
        ("escalate", "roles", "rbac.authorization.k8s.io", ""),
        ("impersonate", "serviceaccounts", "", ""),
    ]
    for verb, resource, group, sub in never:
        for ns in scopes:
            if can(cp, sa, verb, resource, group, ns, sub):
                allowed.append(f"{verb} {resource}/{sub}.{group} in {ns or 'cluster'}")
    return allowed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Exporter:
    url: str
    proc: subprocess.Popen[str]
    log: Path

    def wait_ready(self, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exporter exited {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                status, body = http_get(self.url + "/readyz")
                if status == 200:
                    return body
                last = f"{status} {body.strip()}"
            time.sleep(0.25)
        raise AssertionError(f"/readyz not 200 after {timeout}s (last: {last}):\n{self.tail()}")

    def metrics(self) -> str:
        status, body = http_get(self.url + "/metrics")
        assert status == 200
        return body

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def exporter_in_pod_mode(
    cp: ControlPlane, release: Release, tmp: Path, files: dict[str, str] | None = None
) -> Iterator[Exporter]:
    """Start `daylight` like the chart's container: its args, its env, its ServiceAccount."""
    workload = release.workload("exporter")
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    sa_name = pod["serviceAccountName"]
    # the projected service-account volume, as the kubelet writes it
    sa_dir = tmp / "serviceaccount"
    sa_dir.mkdir(parents=True)
    (sa_dir / "token").write_text(cp.service_account_token(release.namespace, sa_name))
    (sa_dir / "ca.crt").write_bytes(cp.ca_file.read_bytes())
    (sa_dir / "namespace").write_text(release.namespace)
    # container paths (volume mounts) live under tmp/rootfs
    rootfs = tmp / "rootfs"
    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
    for mount in mounts:
        (rootfs / mount.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path, content in (files or {}).items():
        (rootfs / path.lstrip("/")).write_text(content)

    def local(value: str) -> str:
        for mount in mounts:
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return str(rootfs / value.lstrip("/"))
        return value

    server = urlsplit(cp.server)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "KUBERNETES_SERVICE_HOST": server.hostname or "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(server.port),
        "DAYLIGHT_SERVICE_ACCOUNT_DIR": str(sa_dir),
    }
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = local(item["value"])
    assert env["DAYLIGHT_LISTEN"] == f"0.0.0.0:{container['ports'][0]['containerPort']}"
    env["DAYLIGHT_LISTEN"] = f"127.0.0.1:{port}"
    daylight = Path(sys.executable).parent / "daylight"
    log = tmp / "exporter.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(daylight), *container["args"]],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    exporter = Exporter(f"http://127.0.0.1:{port}", proc, log)
    try:
        yield exporter
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def series(metrics: str, name: str) -> dict[str, float]:
    """{resource label: value} of a daylight_informer_* family (plus reason when present)."""
    out = {}
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels, value = line.rsplit(" ", 1)
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        key = pairs["resource"] + (f":{pairs['reason']}" if "reason" in pairs else "")
        out[key] = float(value)
    return out


# ------------------------------------------------------------------------------ installs


@pytest.fixture(scope="module")
def teams(control_plane: ControlPlane) -> tuple[str, ...]:
    for ns in TEAM_NAMESPACES:
        create_namespace(control_plane, ns)
    # something to watch in a team namespace
    control_plane.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "shop", "namespace": "team-a", "labels": {"app": "shop"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "shop"}},
                "template": {
                    "metadata": {"labels": {"app": "shop"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/shop:1"}]},
                },
            },
        }
    )
    return TEAM_NAMESPACES


@pytest.fixture(scope="module")
def default_release(control_plane: ControlPlane) -> Release:
    """deploy/daylight.yaml, applied as a user would (server-side apply)."""
    cp = control_plane
    proc = cp.kubectl(
        "apply", "--server-side", "--field-manager=daylight-e2e", "-f", str(chart.MANIFEST)
    )
    assert "namespace/daylight serverside-applied" in proc.stdout, proc.stdout
    return Release("daylight", chart.NAMESPACE, chart.parse(chart.MANIFEST.read_text()))


@pytest.fixture(scope="module")
def full_release(control_plane: ControlPlane, teams: tuple[str, ...]) -> tuple[Release, str]:
    cp = control_plane
    cp.kubectl("apply", "--server-side", "--field-manager=daylight-e2e", "-f", str(MONITORING_CRDS))
    cp.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
    )
    cp.apply(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "daylight-test"},
            "value": 1000,
        }
    )
    create_namespace(cp, "dlfull", RESTRICTED)
    cp.kubectl(
        "-n",
        "dlfull",
        "create",
        "secret",
        "generic",
        "daylight-api-token",
        "--from-literal=token=e2e-secret-token",
    )
    notes = helm_install(cp, "dlfull", "dlfull", chart.VALUES_FULL)
    docs = chart.render((chart.VALUES_FULL,), release="dlfull", namespace="dlfull")
    return Release("dlfull", "dlfull", docs), notes


@pytest.fixture(scope="module")
def namespaced_release(control_plane: ControlPlane, teams: tuple[str, ...]) -> tuple[Release, str]:
    create_namespace(control_plane, "dlns", RESTRICTED)
    notes = helm_install(control_plane, "dlns", "dlns", chart.VALUES_NAMESPACED)
    docs = chart.render((chart.VALUES_NAMESPACED,), release="dlns", namespace="dlns")
    return Release("dlns", "dlns", docs), notes


# ------------------------------------------------------------------------------ apply


def test_install_manifest_applies_and_the_exporter_pod_runs(
    control_plane: ControlPlane, default_release: Release
) -> None:
    cp = control_plane
    # the Deployment's pod passes the "restricted" Pod Security admission of its namespace
    # and becomes Available (kwok plays the kubelet)
    cp.kubectl(
        "-n", "daylight", "rollout", "status", "deployment/daylight", "--timeout=120s", timeout=150
    )
    pods = cp.kubectl_json(
        "-n", "daylight", "get", "pods", "-l", "app.kubernetes.io/component=exporter"
    )["items"]
    assert len(pods) == 1
    spec = pods[0]["spec"]
    assert spec["serviceAccountName"] == "daylight"
    # the projected token volume is there because the pod (not the account) asks for it
    assert any("projected" in v for v in spec["volumes"]), spec["volumes"]
    # ... and that admission is really enforced here: a plain pod is refused
    plain = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain", "namespace": "daylight"},
        "spec": {"containers": [{"name": "c", "image": "registry.example/plain:1"}]},
    }
    refused = cp.kubectl(
        "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(plain), check=False
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    # applying again changes nothing
    before = (
        cp.kubectl_json("-n", "daylight", "get", "deployment", "daylight")["metadata"],
        cp.kubectl_json("get", "clusterrole", "daylight-read")["metadata"],
    )
    cp.kubectl("apply", "--server-side", "--field-manager=daylight-e2e", "-f", str(chart.MANIFEST))
    after = (
        cp.kubectl_json("-n", "daylight", "get", "deployment", "daylight")["metadata"],
        cp.kubectl_json("get", "clusterrole", "daylight-read")["metadata"],
    )
    assert after[0]["generation"] == before[0]["generation"]
    assert after[1]["resourceVersion"] == before[1]["resourceVersion"]


def test_full_values_install_with_helm(
    control_plane: ControlPlane, full_release: tuple[Release, str]
) -> None:
    cp = control_plane
    release, notes = full_release
    assert "NOTES:" in notes and "statefulset/dlfull" in notes, notes
    kinds = {d["kind"] for d in release.docs}
    for kind, name, ns in (
        ("ServiceMonitor", "dlfull", "dlfull"),
        ("PrometheusRule", "dlfull", "dlfull"),
        ("NetworkPolicy", "dlfull", "dlfull"),
        ("PodDisruptionBudget", "dlfull", "dlfull"),
        ("StatefulSet", "dlfull", "dlfull"),
        ("Deployment", "dlfull-launcher", "dlfull"),
        ("Role", "dlfull-launcher", "team-a"),
        ("CustomResourceDefinition", "keptnapps.lifecycle.keptn.sh", ""),
    ):
        if kind == "PrometheusRule" and kind not in kinds:
            continue  # no rule files yet
        args = ["get", kind.lower(), name] + (["-n", ns] if ns else [])
        assert cp.kubectl_json(*args)["metadata"]["name"] == name
    for crd in (d for d in release.docs if d["kind"] == "CustomResourceDefinition"):
        cp.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}"
        )
    # a KeptnApp can be created once the CRDs are there
    cp.apply(
        {
            "apiVersion": "lifecycle.keptn.sh/v1",
            "kind": "KeptnApp",
            "metadata": {"name": "shop", "namespace": "team-a"},
            "spec": {"version": "1.0.0", "workloads": [{"name": "shop", "version": "1"}]},
        }
    )
    # the StatefulSet's pod is admitted under "restricted" (it waits for its claim: no
    # provisioner here) and the launcher's pod becomes Available
    cp.wait_until(
        "the exporter StatefulSet pod exists",
        lambda: cp.kubectl_json(
            "-n", "dlfull", "get", "pods", "-l", "app.kubernetes.io/component=exporter"
        )["items"],
        timeout=60,
    )
    cp.kubectl(
        "-n",
        "dlfull",
        "rollout",
        "status",
        "deployment/dlfull-launcher",
        "--timeout=120s",
        timeout=150,
    )


def test_namespaced_install_with_helm(
    control_plane: ControlPlane, namespaced_release: tuple[Release, str]
) -> None:
    cp = control_plane
    _, notes = namespaced_release
    assert "team-a, team-b" in notes
    cp.kubectl("-n", "dlns", "rollout", "status", "deployment/dlns", "--timeout=120s", timeout=150)
    bindings = cp.kubectl_json("get", "clusterrolebindings")["items"]
    for b in bindings:
        for s in b.get("subjects") or []:
            assert s.get("namespace") != "dlns", f"cluster-wide binding {b['metadata']['name']}"
    for ns in TEAM_NAMESPACES:
        role = cp.kubectl_json("-n", ns, "get", "role", "dlns-read")
        assert {v for rule in role["rules"] for v in rule["verbs"]} == set(READ_VERBS)


# ------------------------------------------------------------------------------ RBAC


def test_exporter_can_read_every_watched_resource_cluster_wide(
    control_plane: ControlPlane, default_release: Release, teams: tuple[str, ...]
) -> None:
    cp = control_plane
    sa = ("daylight", default_release.service_account("exporter"))
    missing = [
        f"{verb} {r.plural}.{r.group} in {ns or 'cluster'}"
        for r in WATCHED
        for verb in READ_VERBS
        for ns in (("", *teams) if r.namespaced else ("",))
        if not can(cp, sa, verb, r.plural, r.group, ns)
    ]
    assert not missing
    # the same through kubectl's impersonation
    assert kubectl_can_i(cp, sa, "list", "pods", "--all-namespaces")
    assert kubectl_can_i(cp, sa, "watch", "deployments.apps", "-n", "team-a")
    assert not kubectl_can_i(cp, sa, "get", "secrets", "-n", "kube-system")
    assert not kubectl_can_i(cp, sa, "delete", "deployments.apps", "-n", "team-a")


def test_exporter_can_change_nothing_and_read_no_secrets(
    control_plane: ControlPlane, default_release: Release, teams: tuple[str, ...]
) -> None:
    sa = ("daylight", default_release.service_account("exporter"))
    allowed = denied_everywhere(control_plane, sa, (*teams, "daylight", "kube-system"))
    assert not allowed, f"the exporter may: {allowed}"


def test_full_values_exporter_is_read_only_too(
    control_plane: ControlPlane, full_release: tuple[Release, str], teams: tuple[str, ...]
) -> None:
    cp = control_plane
    release, _ = full_release
    sa = ("dlfull", release.service_account("exporter"))
    assert sa[1] == "dlfull-exporter"
    assert all(can(cp, sa, v, r.plural, r.group) for r in WATCHED for v in READ_VERBS)
    assert not denied_everywhere(cp, sa, teams)


def test_launcher_creates_jobs_only_in_allowed_namespaces(
    control_plane: ControlPlane, full_release: tuple[Release, str], teams: tuple[str, ...]
) -> None:
    cp = control_plane
    release, _ = full_release
    sa = ("dlfull", release.service_account("launcher"))
    for resource, group in (("jobs", "batch"), ("configmaps", "")):
        for verb in ("create", "get", "list", "watch", "delete"):
            assert can(cp, sa, verb, resource, group, "team-a"), (verb, resource)
        for verb in ("update", "patch", "deletecollection"):
            assert not can(cp, sa, verb, resource, group, "team-a"), (verb, resource)
        for ns in ("team-b", "dlfull", "default", ""):
            assert not can(cp, sa, "create", resource, group, ns), (resource, ns)
            assert not can(cp, sa, "delete", resource, group, ns), (resource, ns)
    assert kubectl_can_i(cp, sa, "create", "jobs.batch", "-n", "team-a")
    assert not kubectl_can_i(cp, sa, "create", "jobs.batch", "-n", "team-b")
    for verb, resource, group in (
        ("get", "secrets", ""),
        ("create", "pods", ""),
        ("update", "deployments", "apps"),
        ("create", "cronjobs", "batch"),
    ):
        assert not can(cp, sa, verb, resource, group, "team-a"), (verb, resource)
    # it reads what the exporter reads
    assert all(can(cp, sa, v, r.plural, r.group) for r in WATCHED for v in READ_VERBS)
    # and really creates a Job there, impersonated
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "launcher-probe", "namespace": "team-a"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "t", "image": "registry.example/task:1"}],
                }
            }
        },
    }
    as_launcher = f"--as=system:serviceaccount:{sa[0]}:{sa[1]}"
    cp.kubectl(as_launcher, "apply", "-f", "-", input=yaml.safe_dump(job))
    cp.kubectl(as_launcher, "-n", "team-a", "delete", "job", "launcher-probe", "--wait=false")
    job["metadata"]["namespace"] = "team-b"
    refused = cp.kubectl(as_launcher, "apply", "-f", "-", input=yaml.safe_dump(job), check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr


def test_namespaced_mode_grants_roles_only(
    control_plane: ControlPlane, namespaced_release: tuple[Release, str], teams: tuple[str, ...]
) -> None:
    cp = control_plane
    release, _ = namespaced_release
    sa = ("dlns", release.service_account("exporter"))
    for r in WATCHED:
        for verb in READ_VERBS:
            if r.namespaced:
                for ns in teams:
                    assert can(cp, sa, verb, r.plural, r.group, ns), (verb, r.plural, ns)
                for ns in ("", "dlfull", "default", "kube-system"):
                    assert not can(cp, sa, verb, r.plural, r.group, ns), (verb, r.plural, ns)
            else:  # namespaces: cluster-scoped, not granted in namespaced mode
                assert not can(cp, sa, verb, r.plural, r.group), (verb, r.plural)
    assert not denied_everywhere(cp, sa, teams)
    launcher = ("dlns", release.service_account("launcher"))
    assert can(cp, launcher, "create", "jobs", "batch", "team-a")
    assert not can(cp, launcher, "create", "jobs", "batch", "team-b")
    assert can(cp, launcher, "list", "pods", "", "team-b")
    assert not can(cp, launcher, "list", "pods", "", "")


# ------------------------------------------------------------------------------ exporter


# full_release installs the Keptn CRDs: all 13 watches must then sync
@pytest.mark.usefixtures("full_release")
def test_exporter_runs_with_its_service_account_cluster_wide(
    control_plane: ControlPlane, default_release: Release, tmp_path: Path
) -> None:
    """In-cluster configuration, the chart's env: every watch syncs, none is forbidden."""
    with exporter_in_pod_mode(
        control_plane, default_release, tmp_path, {"/tmp/.keep": ""}
    ) as exporter:
        exporter.wait_ready()
        metrics = exporter.metrics()
        disabled = series(metrics, "daylight_informer_disabled")
        assert not disabled, f"watches disabled: {disabled}\n{exporter.tail()}"
        synced = series(metrics, "daylight_informer_synced")
        assert synced == {r.plural: 1.0 for r in WATCHED}, synced
        tracked = series(metrics, "daylight_tracked_objects")
        assert tracked["deployments"] >= 3, tracked  # daylight, dlfull-launcher, team-a/shop
        assert tracked["keptnapps"] >= 1, tracked
        status, body = http_get(exporter.url + "/api/v1/dora")
        assert status == 200 and '"apps"' in body
        assert "in-cluster service account" in exporter.log.read_text()


def test_exporter_with_full_values_env_and_state_file(
    control_plane: ControlPlane, full_release: tuple[Release, str], tmp_path: Path
) -> None:
    """values-full's env (state file, API token file, model settings) is accepted."""
    release, _ = full_release
    files = {"/etc/daylight/api-token/token": "e2e-secret-token\n"}
    with exporter_in_pod_mode(control_plane, release, tmp_path, files) as exporter:
        exporter.wait_ready()
        assert not series(exporter.metrics(), "daylight_informer_disabled")
        # the POST endpoints want the token from the mounted Secret file
        request = urllib.request.Request(
            exporter.url + "/api/v1/changes", data=b"{}", method="POST"
        )
        request.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
    assert list((tmp_path / "rootfs" / "var" / "lib" / "daylight").iterdir()), "no state file"


def test_exporter_runs_with_namespaced_roles_only(
    control_plane: ControlPlane, namespaced_release: tuple[Release, str], tmp_path: Path
) -> None:
    release, _ = namespaced_release
    with exporter_in_pod_mode(control_plane, release, tmp_path) as exporter:
        exporter.wait_ready()
        metrics = exporter.metrics()
        # only the cluster-scoped Namespace list is forbidden, and the exporter copes
        assert series(metrics, "daylight_informer_disabled") == {"namespaces:forbidden": 1.0}
        synced = series(metrics, "daylight_informer_synced")
        expected = {f"{r.plural}@{ns}" for r in WATCHED if r.namespaced for ns in TEAM_NAMESPACES}
        assert {k for k, v in synced.items() if v == 1.0} == expected
        tracked = series(metrics, "daylight_tracked_objects")
        assert tracked["deployments@team-a"] >= 1  # team-a/shop
        assert one(release.docs, "Deployment", "dlns")
