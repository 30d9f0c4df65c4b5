"""The Helm chart, rendered by the real helm: lint, schemas, RBAC, hardening, sync.

Runs without a cluster (the apply/RBAC/exporter tests are in test_cluster.py).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.app.cli import build_parser
from exporter.events.timeutil import parse_duration
from exporter.kube.resources import WATCHED
from tests.cluster.controlplane import read_versions
from tests.helm import chart
from tests.helm.chart import CHART, ROOT, find, one

try:
    import kubernetes_validate
except ImportError:  # pragma: no cover - reported by the test that needs it
    kubernetes_validate = None

READ = {"get", "list", "watch"}
LAUNCHER_VERBS = {"create", "get", "list", "watch", "delete"}
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}

VARIANTS = {
    "default": (),
    "full": (chart.VALUES_FULL,),
    "namespaced": (chart.VALUES_NAMESPACED,),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: chart.render(values) for name, values in VARIANTS.items()}


def rules_of(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples of a Role/ClusterRole."""
    out = set()
    for rule in role.get("rules", []):
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((group, resource, verb))
    return out


def watched(*, namespaced_only: bool) -> set[tuple[str, str, str]]:
    return {
        (r.group, r.plural, verb)
        for r in WATCHED
        if r.namespaced or not namespaced_only
        for verb in READ
    }


def bindings_to(docs: Iterable[dict[str, Any]], sa: str, ns: str) -> list[dict[str, Any]]:
    out = []
    for d in docs:
        if d["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for s in d.get("subjects", []):
            if s["kind"] == "ServiceAccount" and s["name"] == sa and s["namespace"] == ns:
                out.append(d)
    return out


def role_for(docs: list[dict[str, Any]], binding: dict[str, Any]) -> dict[str, Any]:
    ref = binding["roleRef"]
    ns = binding["metadata"].get("namespace")
    for d in docs:
        same = d["kind"] == ref["kind"] and d["metadata"]["name"] == ref["name"]
        if same and (ref["kind"] == "ClusterRole" or d["metadata"].get("namespace") == ns):
            return d
    raise AssertionError(f"binding {binding['metadata']['name']} refers to a missing role")


def workloads(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


# ----------------------------------------------------------------------------- helm itself


def test_helm_is_the_pinned_build() -> None:
    out = chart.helm("version", "--short").stdout.strip()
    assert out.startswith(read_versions()["HELM_VERSION"]), out


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint_strict(variant: str) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", chart.KUBE_VERSION]
    for v in VARIANTS[variant]:
        args += ["--values", str(v)]
    proc = chart.helm(*args, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "1 chart(s) linted, 0 chart(s) failed" in output
    # lint reports a template's `fail` only as [INFO]: catch it here
    for bad in ("[WARNING]", "[ERROR]", "Fail:"):
        assert bad not in output, output


def test_chart_metadata() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "daylight"
    assert meta["kubeVersion"] == ">=1.27.0-0"
    assert meta["appVersion"] == project["version"], "appVersion follows pyproject.toml"
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])


# ----------------------------------------------------------------------------- schemas


def validate_k8s(doc: dict[str, Any]) -> None:
    if kubernetes_validate is None:
        pytest.fail(
            "the PyPI package kubernetes-validate (a dev dependency) is missing: `make venv`",
            pytrace=False,
        )
    try:
        kubernetes_validate.validate(doc, chart.KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        raise AssertionError(f"{name}: {path}: {exc.message}") from None


def check_prometheus_operator_object(doc: dict[str, Any]) -> None:
    """No offline schema for monitoring.coreos.com: the structure we rely on."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    if doc["kind"] == "ServiceMonitor":
        spec = doc["spec"]
        assert spec["selector"]["matchLabels"]
        assert spec["endpoints"] and all(e["port"] == "http" for e in spec["endpoints"])
    else:
        groups = doc["spec"]["groups"]
        assert groups
        for group in groups:
            assert group["name"] and group["rules"]
            for rule in group["rules"]:
                assert ("alert" in rule) != ("record" in rule), rule
                assert isinstance(rule["expr"], str | int | float)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_validates_against_kubernetes_1_36(
    variant: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[variant]
    assert docs
    seen = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"])
        assert key not in seen, f"duplicate object {key}"
        seen.add(key)
        if doc["kind"] in PROMETHEUS_OPERATOR_KINDS:
            check_prometheus_operator_object(doc)
        else:
            validate_k8s(doc)
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "daylight"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_default_render_is_minimal(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = sorted(d["kind"] for d in rendered["default"])
    expected = ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"]
    dashboards = len(list((ROOT / "dashboards").glob("*.json")))
    assert kinds == sorted(expected + ["ConfigMap"] * dashboards)


def test_full_render_has_every_kind(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {d["kind"] for d in rendered["full"]}
    assert kinds >= {
        "StatefulSet",
        "Deployment",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceMonitor",
        "CustomResourceDefinition",
        "NetworkPolicy",
        "PodDisruptionBudget",
    }
    if list((ROOT / "alerts").glob("*.rules.yml")):
        assert "PrometheusRule" in kinds


# ----------------------------------------------------------------------------- CRDs


def _structural_problems(schema: dict[str, Any], path: str = "") -> list[str]:
    problems = []
    untyped_ok = schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "type" not in schema and not untyped_ok:
        problems.append(f"{path or '/'}: no type")
    for name, sub in schema.get("properties", {}).items():
        problems += _structural_problems(sub, f"{path}/{name}")
    if isinstance(schema.get("items"), dict):
        problems += _structural_problems(schema["items"], f"{path}[]")
    return problems


def test_keptn_crds(rendered: dict[str, list[dict[str, Any]]]) -> None:
    crds = find(rendered["full"], "CustomResourceDefinition")
    files = sorted((CHART / "crds-optional").glob("*.yaml"))
    assert len(crds) == len(files)
    keptn = {(r.group, r.plural, r.kind, r.version) for r in WATCHED if "keptn" in r.group}
    got = set()
    for crd in crds:
        validate_k8s(crd)
        spec = crd["spec"]
        names = spec["names"]
        assert crd["metadata"]["name"] == f"{names['plural']}.{spec['group']}"
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert spec["scope"] == "Namespaced"
        storage = [v for v in spec["versions"] if v["storage"]]
        assert len(storage) == 1
        for version in spec["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            assert schema["type"] == "object"
            assert not _structural_problems(schema), _structural_problems(schema)
            got.add((spec["group"], names["plural"], names["kind"], version["name"]))
    assert got == keptn, "one CRD per Keptn resource the exporter watches"
    assert not find(rendered["default"], "CustomResourceDefinition")


# ----------------------------------------------------------------------------- RBAC


def test_exporter_cluster_role_is_exactly_the_watched_resources(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for variant, release in (("default", "daylight"), ("full", "dlfull")):
        docs = rendered[variant]
        exporter = one(workloads(docs), "StatefulSet" if variant == "full" else "Deployment")
        sa = exporter["spec"]["template"]["spec"]["serviceAccountName"]
        bindings = bindings_to(docs, sa, chart.NAMESPACE)
        assert [b["kind"] for b in bindings] == ["ClusterRoleBinding"], variant
        role = role_for(docs, bindings[0])
        assert role["metadata"]["name"] == f"{release}-read"
        assert rules_of(role) == watched(namespaced_only=False)


def test_exporter_never_writes_or_reads_secrets(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for variant, docs in rendered.items():
        for wl in workloads(docs):
            if wl["metadata"]["labels"]["app.kubernetes.io/component"] != "exporter":
                continue
            sa = wl["spec"]["template"]["spec"]["serviceAccountName"]
            for binding in bindings_to(docs, sa, chart.NAMESPACE):
                for group, resource, verb in rules_of(role_for(docs, binding)):
                    assert verb in READ, (variant, group, resource, verb)
                    assert resource not in ("secrets", "configmaps", "*"), variant
                    assert group != "*", variant


def test_no_wildcards_or_escalation_anywhere(rendered: dict[str, list[dict[str, Any]]]) -> None:
    forbidden_verbs = {"*", "escalate", "bind", "impersonate"}
    for variant, docs in rendered.items():
        for role in find(docs, "ClusterRole") + find(docs, "Role"):
            for group, resource, verb in rules_of(role):
                assert "*" not in (group, resource), (variant, role["metadata"]["name"])
                assert verb not in forbidden_verbs, (variant, role["metadata"]["name"])
                assert resource != "secrets"


def test_namespaced_mode_has_roles_only(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["namespaced"]
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")
    values = yaml.safe_load(chart.VALUES_NAMESPACED.read_text())
    namespaces = values["watch"]["namespaces"]
    exporter = one(docs, "Deployment", "dlns")
    env = chart.container_env(exporter)
    assert env["DAYLIGHT_NAMESPACES"] == ",".join(namespaces)
    bindings = bindings_to(docs, "dlns", chart.NAMESPACE)
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(namespaces)
    for binding in bindings:
        assert binding["kind"] == "RoleBinding"
        role = role_for(docs, binding)
        assert role["kind"] == "Role"
        assert rules_of(role) == watched(namespaced_only=True)
    # readNamespaceLabels adds exactly one ClusterRole: Namespace objects, read-only
    extra = chart.render((chart.VALUES_NAMESPACED,), ["watch.readNamespaceLabels=true"])
    role = one(extra, "ClusterRole")
    assert rules_of(role) == {("", "namespaces", v) for v in READ}


def test_launcher_writes_only_jobs_configmaps_and_events_in_its_namespaces(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for variant, release in (("full", "dlfull"), ("namespaced", "dlns")):
        docs = rendered[variant]
        values = yaml.safe_load(VARIANTS[variant][0].read_text())
        allowed = values["launcher"]["namespaces"]
        launcher = one(docs, "Deployment", f"{release}-launcher")
        spec = launcher["spec"]["template"]["spec"]
        assert launcher["spec"]["template"]["spec"]["containers"][0]["args"][0] == "launcher"
        env = chart.container_env(launcher)
        assert env["DAYLIGHT_ALLOWED_NAMESPACES"] == ",".join(allowed)
        writes: dict[str, set[tuple[str, str, str]]] = {}
        for binding in bindings_to(docs, spec["serviceAccountName"], chart.NAMESPACE):
            triples = rules_of(role_for(docs, binding))
            written = {t for t in triples if t[2] not in READ}
            if written:
                assert binding["kind"] == "RoleBinding", "no cluster-wide write access"
                writes.setdefault(binding["metadata"]["namespace"], set()).update(triples)
        assert sorted(writes) == sorted(allowed)
        for triples in writes.values():
            assert triples == {
                (g, r, v)
                for g, r in (("batch", "jobs"), ("", "configmaps"))
                for v in LAUNCHER_VERBS
            } | {("events.k8s.io", "events", "create")}  # Events on the workload, only created
    fails = chart.helm(*chart.template_args(sets=["launcher.enabled=true"]), check=False)
    assert fails.returncode != 0 and "launcher.namespaces" in fails.stderr


def test_rbac_keptn_off_and_rbac_off() -> None:
    docs = chart.render(sets=["rbac.keptn=false"])
    groups = {g for g, _, _ in rules_of(one(docs, "ClusterRole"))}
    assert groups == {"", "apps", "batch"}
    docs = chart.render(sets=["rbac.create=false", "serviceAccount.create=false"])
    assert not [d for d in docs if "Role" in d["kind"] or d["kind"] == "ServiceAccount"]
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "default"


# ----------------------------------------------------------------------------- pods


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_are_hardened(variant: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[variant]
    assert workloads(docs)
    for wl in workloads(docs):
        pod = wl["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is True, "it talks to the API server"
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True
        assert psc["runAsUser"] == 65532 and psc["runAsGroup"] == 65532
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "hostNetwork" not in pod and "hostPID" not in pod
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["privileged"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            # the exporter also receives CI/CD spans over OTLP/HTTP (ciIntake.otlpPort)
            exporter = wl["metadata"]["labels"]["app.kubernetes.io/component"] == "exporter"
            ports = ["http", "otlp-http"] if exporter else ["http"]
            assert [p["name"] for p in c["ports"]] == ports
            assert {"requests", "limits"} <= set(c["resources"])
            assert "/tmp" in [m["mountPath"] for m in c["volumeMounts"]]
    for sa in find(docs, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_exporter_defaults(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deploy = one(rendered["default"], "Deployment")
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"]["type"] == "Recreate"
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "ghcr.io/daylight-dev/daylight:0.1.0"
    assert c["args"] == ["run"]
    # from the ingest benchmark: 4 KiB per cached pod -> 384Mi holds ~50k pods
    assert c["resources"] == {
        "requests": {"cpu": "50m", "memory": "96Mi"},
        "limits": {"cpu": "500m", "memory": "384Mi"},
    }
    assert chart.container_env(deploy) == {
        "DAYLIGHT_LISTEN": "0.0.0.0:9400",
        "DAYLIGHT_MAX_APPS": "5000",
        "DAYLIGHT_MAX_SERIES": "40000",
        "DAYLIGHT_DEFAULT_ENVIRONMENT": "production",
        "DAYLIGHT_APP_GROUPING_WINDOW": "30s",
        "DAYLIGHT_ROLLOUT_TIMEOUT": "15m",
        "DAYLIGHT_DEGRADED_AFTER": "60s",
        "DAYLIGHT_FAILURE_WINDOW": "24h",
        "DAYLIGHT_DORA_REPORT": "2023",
        "DAYLIGHT_LOG_LEVEL": "info",
        "DAYLIGHT_TRACES": "auto",
        "DAYLIGHT_EVALUATIONS": "on",
        "DAYLIGHT_EVALUATION_TIMEOUT": "10s",
        "DAYLIGHT_OTLP_LISTEN": "0.0.0.0:4318",
        "DAYLIGHT_OTLP_MAX_BODY": "20971520",
    }
    service = one(rendered["default"], "Service")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 9400, "targetPort": "http", "protocol": "TCP"},
        {"name": "otlp-http", "port": 4318, "targetPort": "otlp-http", "protocol": "TCP"},
    ]
    assert service["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]


def test_state_file_runs_a_statefulset_with_a_claim(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["full"]
    sts = one(docs, "StatefulSet")
    assert not find(docs, "Deployment", "dlfull"), "no exporter Deployment beside it"
    assert sts["spec"]["replicas"] == 1
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "state", "mountPath": "/var/lib/daylight"} in c["volumeMounts"]
    assert chart.container_env(sts)["DAYLIGHT_STATE_FILE"] == "/var/lib/daylight/state.db"
    assert c["image"].endswith("@sha256:" + "0" * 64)


CLI_ONLY = {
    # how to reach the cluster: in a pod the service account is used
    "--kubeconfig",
    "--context",
    "--service-account-dir",
    # OTLP/gRPC needs the grpc extra (grpcio), which the image does not carry
    "--otlp-grpc-listen",
}
#: flags the chart already sets that the exporter announced but may not have yet
ANNOUNCED = {"DAYLIGHT_STATE_FILE": "--state-file"}


def _flags(subcommand: str) -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if subcommand not in sub.choices:
        return {}
    flags: dict[str, str] = {}
    for action in sub.choices[subcommand]._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        flags["DAYLIGHT_" + flag.lstrip("-").upper().replace("-", "_")] = flag
    return flags


def test_chart_env_matches_the_cli(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Every DAYLIGHT_* the chart sets is a real flag; every `run` flag has a chart value."""
    run_flags = _flags("run")
    seen: set[str] = set()
    for docs in rendered.values():
        for wl in workloads(docs):
            component = wl["metadata"]["labels"]["app.kubernetes.io/component"]
            env = {k for k in chart.container_env(wl) if k.startswith("DAYLIGHT_")}
            if component == "exporter":
                seen |= env
                unknown = env - set(run_flags) - set(ANNOUNCED)
                assert not unknown, f"the chart sets {unknown}: no such `daylight run` flag"
            else:
                launcher_flags = _flags("launcher")
                if launcher_flags:  # `daylight launcher` exists: check its flags as well
                    unknown = env - set(launcher_flags)
                    assert not unknown, f"no such `daylight launcher` flag: {unknown}"
    missing = {flag for env, flag in run_flags.items() if env not in seen and flag not in CLI_ONLY}
    assert not missing, (
        f"`daylight run` flags without a chart value: {sorted(missing)}; add a value "
        "(helm/daylight/values.yaml, _helpers.tpl, README.md) or list it in CLI_ONLY"
    )


DURATIONS_OK = ["30s", "15m", "24h", "30d", "1w", "90", "1.5h"]
DURATIONS_BAD = ["15x", "-1s", "", "1h30m", "soon"]


def test_duration_pattern_agrees_with_the_cli() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    pattern = re.compile(schema["definitions"]["duration"]["pattern"])
    for text in DURATIONS_OK:
        assert pattern.search(text), text
        parse_duration(text)
    for text in DURATIONS_BAD:
        assert not pattern.search(text), text
        with pytest.raises(ValueError):
            parse_duration(text)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("unknownKey=1", "additional properties 'unknownKey' not allowed"),
        ("exporter.unknown=1", "additional properties 'unknown' not allowed"),
        ("config.rolloutTimeout=15x", "does not match pattern"),
        ("config.doraReport=2019", "doraReport"),
        ("watch.namespaces[0]=Not_A_Namespace", "does not match pattern"),
        ("image.digest=latest", "does not match pattern"),
        ("service.type=Ingress", "service/type"),
    ],
)
def test_values_schema_rejects(setting: str, message: str) -> None:
    proc = chart.helm(*chart.template_args(sets=[setting]), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_network_policy_and_pdb(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["full"]
    policies = {p["metadata"]["name"]: p for p in find(docs, "NetworkPolicy")}
    assert sorted(policies) == ["dlfull", "dlfull-launcher"]
    for policy in policies.values():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        exporter = policy["metadata"]["name"] == "dlfull"  # it also receives CI/CD spans
        ingress = [{"port": "http", "protocol": "TCP"}]
        ingress += [{"port": "otlp-http", "protocol": "TCP"}] if exporter else []
        assert spec["ingress"][0]["ports"] == ingress
        ports = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
        assert {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP"), (4317, "TCP")} <= ports
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 0 and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "exporter"


def test_service_monitor_keeps_the_exporters_labels(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    monitor = one(rendered["full"], "ServiceMonitor")
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["honorLabels"] is True, "the DORA series carry their own `namespace`"
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    service = one(rendered["full"], "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [chart.NAMESPACE]}


# ----------------------------------------------------------------------------- bundled files


SAMPLE_DASHBOARD = {
    "title": "Sample {{ not templated }}",
    "uid": "daylight-sample",
    "panels": [{"type": "stat", "targets": [{"expr": "sum(dora_app_info)", "legend": "{{app}}"}]}],
}
SAMPLE_RULES = """\
groups:
  - name: sample
    rules:
      - alert: SampleAlert
        expr: dora_failure_active > 0
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.app }} is failing for {{ $value | humanizeDuration }}"
      - record: sample:dora_failure_active:sum
        expr: sum(dora_failure_active)
"""


@pytest.fixture
def sample_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose bundled files are samples (the real ones may be empty)."""
    copy = tmp_path / "daylight"
    shutil.copytree(CHART, copy)
    for sub in ("dashboards", "alerts"):
        shutil.rmtree(copy / "files" / sub)
        (copy / "files" / sub).mkdir()
    (copy / "files" / "dashboards" / "Sample Board.json").write_text(
        json.dumps(SAMPLE_DASHBOARD, indent=2) + "\n"
    )
    (copy / "files" / "alerts" / "sample.rules.yml").write_text(SAMPLE_RULES)
    (copy / "files" / "alerts" / "optional-extra.rules.yml").write_text(SAMPLE_RULES)
    return copy


def test_dashboards_become_sidecar_configmaps(sample_chart: Path) -> None:
    docs = chart.render(chart=sample_chart)
    cm = one(docs, "ConfigMap")
    assert cm["metadata"]["name"] == "daylight-dashboard-sample-board"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "dashboards"
    raw = (sample_chart / "files" / "dashboards" / "Sample Board.json").read_text()
    assert cm["data"]["Sample Board.json"] == raw.rstrip("\n"), "carried verbatim"
    validate_k8s(cm)
    docs = chart.render(
        chart=sample_chart,
        sets=[
            "dashboards.label=my_dashboards",
            "dashboards.labelValue=yes",
            "dashboards.namespace=monitoring",
            "dashboards.annotations.grafana_folder=DORA",
        ],
    )
    cm = one(docs, "ConfigMap")
    assert cm["metadata"]["labels"]["my_dashboards"] == "yes"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "DORA"}
    off = chart.render(chart=sample_chart, sets=["dashboards.enabled=false"])
    assert not find(off, "ConfigMap")


def test_rule_files_become_prometheus_rules(sample_chart: Path) -> None:
    docs = chart.render(chart=sample_chart, sets=["prometheusRule.enabled=true"])
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["name"] == "daylight-sample"
    assert rule["spec"]["groups"] == yaml.safe_load(SAMPLE_RULES)["groups"], "unchanged"
    check_prometheus_operator_object(rule)
    docs = chart.render(
        chart=sample_chart, sets=["prometheusRule.enabled=true", "prometheusRule.optional=true"]
    )
    names = sorted(d["metadata"]["name"] for d in find(docs, "PrometheusRule"))
    assert names == ["daylight-optional-extra", "daylight-sample"]
    docs = chart.render(
        chart=sample_chart,
        sets=["prometheusRule.enabled=true", "prometheusRule.exclude={sample}"],
    )
    assert not find(docs, "PrometheusRule")


def test_the_real_files_are_carried(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dashboards = sorted((ROOT / "dashboards").glob("*.json"))
    cms = {
        name: data
        for cm in find(rendered["full"], "ConfigMap")
        for name, data in cm["data"].items()
    }
    assert sorted(cms) == [p.name for p in dashboards]
    for path in dashboards:
        assert json.loads(cms[path.name]) == json.loads(path.read_text())
    rules = sorted((ROOT / "alerts").glob("*.rules.yml"))
    carried = find(rendered["full"], "PrometheusRule")
    assert len(carried) == len(rules)
    want = [g for p in rules for g in yaml.safe_load(p.read_text())["groups"]]
    got = [g for r in carried for g in r["spec"]["groups"]]
    assert sorted(json.dumps(g, sort_keys=True) for g in got) == sorted(
        json.dumps(g, sort_keys=True) for g in want
    )


def test_bundled_files_are_in_sync() -> None:
    drift = chart.file_drift()
    assert not drift, "\n".join(map(str, drift)) + "\nrun: python -m tests.helm.sync"


def test_install_manifest_is_in_sync() -> None:
    drift = chart.manifest_drift()
    assert not drift, "\n".join(map(str, drift)) + "\nrun: python -m tests.helm.sync"
    docs = chart.parse(chart.MANIFEST.read_text())
    assert docs[0] == chart.namespace_object()
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace", chart.NAMESPACE) == chart.NAMESPACE
        if doc["kind"] not in PROMETHEUS_OPERATOR_KINDS:
            validate_k8s(doc)


# ----------------------------------------------------------------------------- docs


def _value_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths |= _value_paths(value, path + ".")
        else:
            paths.add(path)
    return paths


def test_readme_documents_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    documented = set(re.findall(r"^\| `([\w.]+)` \|", readme, re.MULTILINE))
    missing = []
    for path in sorted(_value_paths(values)):
        parts = path.split(".")
        # a documented ancestor covers Kubernetes-shaped values (resources, probes, ...)
        candidates = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        if not candidates & documented:
            missing.append(path)
    assert not missing, f"values not in helm/daylight/README.md: {missing}"
    all_paths = _value_paths(values) | {
        ".".join(p.split(".")[:i]) for p in _value_paths(values) for i in range(1, 4)
    }
    stale = sorted(documented - all_paths)
    assert not stale, f"README documents values that do not exist: {stale}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_notes_render(variant: str, tmp_path: Path) -> None:
    """NOTES.txt renders (helm template skips it): rendered through `tpl` in a chart copy."""
    copy = tmp_path / "daylight"
    shutil.copytree(CHART, copy)
    shutil.copyfile(copy / "templates" / "NOTES.txt", copy / "files" / "notes.txt")
    (copy / "templates" / "zz-notes.yaml").write_text(
        'notes: {{ tpl (.Files.Get "files/notes.txt") . | toJson }}\n'
    )
    args = [*chart.template_args(VARIANTS[variant], chart=copy), "-s", "templates/zz-notes.yaml"]
    notes = yaml.safe_load(chart.helm(*args).stdout)["notes"]
    assert "port-forward svc/" in notes
    assert "/api/v1/dora" in notes
    if variant == "namespaced":
        assert "team-a, team-b" in notes and "Roles" in notes
    if variant == "full":
        assert "statefulset/dlfull" in notes and "Task launcher" in notes
