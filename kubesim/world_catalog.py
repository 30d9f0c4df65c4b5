"""The demo world's cast: namespaces, apps and workloads, in every identity style Daylight
has to understand (Keptn annotations, KeptnApp, app.kubernetes.io labels, a bare image tag).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.resources import KEPTN_LIFECYCLE, KEPTN_METRICS
from kubesim.util import JsonDict

ENVIRONMENT_LABEL = "daylight.dev/environment"
COMMIT_TIME = "daylight.dev/commit-time"
COMMIT_SHA = "daylight.dev/commit-sha"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

NAMESPACES: dict[str, str] = {
    "shop-prod": "production",
    "shop-staging": "staging",
    "payments": "production",
    "platform": "production",
}

# Identity styles.
KEPTN = "keptn"  # keptn.sh/app, /workload, /version annotations on the pod template
KEPTN_APP = "keptn-app"  # the same, plus a KeptnApp listing the workloads
LABELS = "labels"  # app.kubernetes.io/name, part-of, version labels
PLAIN = "plain"  # nothing but an image tag


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    namespace: str
    name: str
    app: str
    kind: str  # Deployment | StatefulSet | DaemonSet
    style: str
    image: str  # repository, without tag
    version: str  # first version in the history
    replicas: int = 2
    port: int = 8080
    history_limit: int = 50


@dataclass(frozen=True, slots=True)
class AppSpec:
    namespace: str
    name: str
    deploys_per_day: float
    workloads: tuple[WorkloadSpec, ...]

    @property
    def multi(self) -> bool:
        return len(self.workloads) > 1

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _w(
    ns: str, name: str, app: str, kind: str, style: str, version: str, **kw: int
) -> WorkloadSpec:
    image = f"registry.example.com/{ns.split('-')[0]}/{name}"
    return WorkloadSpec(ns, name, app, kind, style, image, version, **kw)


APPS: tuple[AppSpec, ...] = (
    AppSpec(
        "shop-prod",
        "checkout",
        1.6,
        (
            _w("shop-prod", "checkout-api", "checkout", "Deployment", LABELS, "3.4.0", replicas=3),
            _w("shop-prod", "checkout-worker", "checkout", "Deployment", LABELS, "3.4.0"),
            _w("shop-prod", "checkout-web", "checkout", "Deployment", LABELS, "3.4.0"),
        ),
    ),
    AppSpec(
        "shop-prod",
        "catalog",
        1.2,
        (_w("shop-prod", "catalog", "catalog", "Deployment", KEPTN, "1.8.2", replicas=2),),
    ),
    AppSpec(
        "shop-prod",
        "storefront",
        0.9,
        (_w("shop-prod", "storefront", "storefront", "Deployment", LABELS, "5.1.0", replicas=3),),
    ),
    AppSpec(
        "shop-staging",
        "storefront",
        3.0,
        (
            _w(
                "shop-staging",
                "storefront",
                "storefront",
                "Deployment",
                LABELS,
                "5.1.0",
                replicas=1,
            ),
        ),
    ),
    AppSpec(
        "payments",
        "ledger",
        0.3,
        (_w("payments", "ledger", "ledger", "StatefulSet", LABELS, "2.0.1", replicas=3),),
    ),
    AppSpec(
        "payments",
        "payments",
        0.8,
        (
            _w("payments", "payments-api", "payments", "Deployment", KEPTN_APP, "4.2.0"),
            _w("payments", "fraud-check", "payments", "Deployment", KEPTN_APP, "4.2.0", replicas=1),
        ),
    ),
    AppSpec(
        "platform",
        "node-agent",
        0.15,
        (_w("platform", "node-agent", "node-agent", "DaemonSet", LABELS, "0.9.3", port=9100),),
    ),
    AppSpec(
        "platform",
        "legacy-gateway",
        0.25,
        (
            _w(
                "platform",
                "legacy-gateway",
                "legacy-gateway",
                "Deployment",
                PLAIN,
                "2.3.1",
                replicas=2,
                history_limit=10,
            ),
        ),
    ),
)


def selector_labels(w: WorkloadSpec) -> dict[str, str]:
    if w.style == LABELS:
        return {"app.kubernetes.io/name": w.name}
    return {"app": w.name}


def workload_labels(w: WorkloadSpec) -> dict[str, str]:
    labels = selector_labels(w)
    if w.style == LABELS:
        labels["app.kubernetes.io/part-of"] = w.app
        labels["app.kubernetes.io/managed-by"] = "argocd"
    return labels


def pod_template(
    w: WorkloadSpec, version: str, annotations: dict[str, str] | None = None
) -> JsonDict:
    """The pod template of version `version`, identity written the way `w.style` says."""
    labels = selector_labels(w)
    notes: dict[str, str] = {}
    if w.style == LABELS:
        labels["app.kubernetes.io/part-of"] = w.app
        labels["app.kubernetes.io/version"] = version
    elif w.style in (KEPTN, KEPTN_APP):
        notes["keptn.sh/app"] = w.app
        notes["keptn.sh/workload"] = w.name
        notes["keptn.sh/version"] = version
    notes.update(annotations or {})
    container: JsonDict = {
        "name": w.name,
        "image": f"{w.image}:{version}",
        "ports": [{"name": "http", "containerPort": w.port}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "OTEL_SERVICE_NAME", "value": w.name},
        ],
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    }
    metadata: JsonDict = {"labels": labels}
    if notes:
        metadata["annotations"] = notes
    return {"metadata": metadata, "spec": {"containers": [container]}}


def keptn_objects(created: str) -> list[tuple[str, JsonDict]]:
    """Keptn custom resources of the world: a KeptnApp, task/evaluation definitions, metrics."""

    def obj(group: str, kind: str, ns: str, name: str, spec: JsonDict) -> JsonDict:
        return {
            "apiVersion": f"{group}/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": spec,
        }

    return [
        (
            "keptntaskdefinitions",
            obj(
                KEPTN_LIFECYCLE,
                "KeptnTaskDefinition",
                "shop-prod",
                "smoke-test",
                {
                    "container": {
                        "name": "smoke",
                        "image": "curlimages/curl:8.8.0",
                        "args": ["-fsS", "http://catalog.shop-prod.svc/healthz"],
                    },
                    "retries": 2,
                    "timeout": "2m",
                },
            ),
        ),
        (
            "keptnmetricsproviders",
            obj(
                KEPTN_METRICS,
                "KeptnMetricsProvider",
                "shop-prod",
                "prometheus",
                {"type": "prometheus", "targetServer": "http://prometheus.monitoring.svc:9090"},
            ),
        ),
        (
            "keptnmetrics",
            obj(
                KEPTN_METRICS,
                "KeptnMetric",
                "shop-prod",
                "catalog-error-rate",
                {
                    "provider": {"name": "prometheus"},
                    "query": 'sum(rate(http_requests_total{app="catalog",code=~"5.."}[5m]))',
                    "fetchIntervalSeconds": 30,
                },
            ),
        ),
        (
            "keptnevaluationdefinitions",
            obj(
                KEPTN_LIFECYCLE,
                "KeptnEvaluationDefinition",
                "shop-prod",
                "error-budget",
                {
                    "objectives": [
                        {
                            "keptnMetricRef": {
                                "name": "catalog-error-rate",
                                "namespace": "shop-prod",
                            },
                            "evaluationTarget": "<0.05",
                        }
                    ]
                },
            ),
        ),
    ]


def keptn_app(app: AppSpec, version: str, revision: int, created: str) -> JsonDict:
    return {
        "apiVersion": f"{KEPTN_LIFECYCLE}/v1",
        "kind": "KeptnApp",
        "metadata": {"name": app.name, "namespace": app.namespace, "creationTimestamp": created},
        "spec": {
            "version": version,
            "revision": revision,
            "workloads": [{"name": w.name, "version": version} for w in app.workloads],
        },
    }
