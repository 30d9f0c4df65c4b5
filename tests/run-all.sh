#!/usr/bin/env bash
# The whole test suite, as the README's test command (`make test`) and CI run it:
# lint, types, import layers, then every pytest test — unit, fake-API fault injection, the demo smoke test,
# promtool on our exposition, and the end-to-end tests against the real control plane
# (built from Go modules on first use and cached in ~/.cache/daylight).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

need_apt() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "== installing Debian package $2 (for $1)"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
  fi
}

echo "== lint (ruff)"
$BIN/ruff check exporter kubesim tests tools
$BIN/ruff format --check exporter kubesim tests tools

echo "== types (mypy --strict, every package)"
$BIN/mypy --strict exporter kubesim tools tests

echo "== import layers (lint-imports, contracts in pyproject.toml)"
$BIN/lint-imports

need_apt promtool prometheus

echo "== control plane binaries (cached after the first build)"
bash tests/cluster/build

echo "== pytest"
set +e
$BIN/pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
