#!/usr/bin/env bash
# Optional end to end on a kind cluster, for machines with a Docker engine (`make e2e-kind`).
#
# NOT part of the test suite: the development and CI machines of this project have no Docker
# engine, so this script has never run there. The same behaviour is covered by the suite on a
# real control plane built from Go modules (tests/e2e, tests/helm). Needs: docker, kind, helm,
# kubectl on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=${KIND_CLUSTER:-daylight-e2e}
IMAGE=daylight:e2e
NS=daylight
APPS=kind-e2e

for tool in docker kind helm kubectl curl; do
  command -v "$tool" >/dev/null || { echo "e2e-kind needs $tool on PATH" >&2; exit 2; }
done

cleanup() { kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; kill "${PF:-0}" 2>/dev/null || true; }
trap cleanup EXIT

docker build -t "$IMAGE" .
kind create cluster --name "$CLUSTER" --wait 120s
kind load docker-image "$IMAGE" --name "$CLUSTER"
helm install daylight helm/daylight -n "$NS" --create-namespace --wait --timeout 3m \
  --set image.repository=daylight --set image.tag=e2e --set image.pullPolicy=Never

kubectl create namespace "$APPS"
kubectl -n "$APPS" create deployment web --image=registry.k8s.io/pause:3.10 --replicas=2
kubectl -n "$APPS" rollout status deployment/web --timeout=120s
kubectl -n "$APPS" set image deployment/web pause=registry.k8s.io/pause:3.9
kubectl -n "$APPS" rollout status deployment/web --timeout=120s

kubectl -n "$NS" port-forward svc/daylight 19400:9400 >/dev/null 2>&1 &
PF=$!
for _ in $(seq 60); do
  if curl -fsS localhost:19400/metrics 2>/dev/null \
      | grep -q "dora_deployments_total{.*namespace=\"$APPS\".*outcome=\"succeeded\"} [1-9]"; then
    echo "e2e-kind: the exporter counted the rollout"
    exit 0
  fi
  sleep 2
done
echo "e2e-kind: no succeeded deployment of $APPS/web in /metrics" >&2
curl -fsS localhost:19400/metrics | grep "namespace=\"$APPS\"" >&2 || true
exit 1
