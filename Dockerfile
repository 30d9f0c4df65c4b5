# syntax=docker/dockerfile:1
# Daylight container image: `daylight run` (the exporter) by default; every other subcommand
# works too (`docker run IMAGE demo --listen 0.0.0.0:9400`, `... report --format json`).
#
#   docker build -t daylight:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Base image: CPython 3.11 on Debian slim, pinned by its full version tag. To pin the digest as
# well, resolve it where a registry is reachable and pass it in:
#   docker build --build-arg PYTHON_IMAGE=python:3.11.14-slim-trixie@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie

# ---- builder: build the wheel, install it and its dependencies into a venv -------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# the simulated cluster, for `daylight demo` in the image
COPY kubesim ./kubesim
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .
# a venv without pip: the final image gets the application and its dependencies only
RUN python -m venv --without-pip /opt/daylight \
    && python -m pip --python /opt/daylight/bin/python install --no-cache-dir /wheels/daylight-*.whl

# ---- final: the venv on a clean base, no build tools, non-root -----------------------------
FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="daylight" \
      org.opencontainers.image.description="DORA metrics for every Kubernetes workload, read-only, from the cluster itself" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
COPY --from=builder /opt/daylight /opt/daylight
ENV PATH="/opt/daylight/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532: the conventional "nonroot" uid/gid; the Helm chart runs it with a read-only root
USER 65532:65532
EXPOSE 9400
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9400/healthz', timeout=3)"]
ENTRYPOINT ["daylight"]
CMD ["run"]
