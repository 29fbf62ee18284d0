# syntax=docker/dockerfile:1
# The sms-bridge image: a virtual environment built from hash-pinned lock files, run as UID 10001.
#   docker build -t sms-bridge .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 -v "$PWD/my.yaml:/etc/sms-bridge/bridge.yaml:ro" sms-bridge

# Both stages use the same base, so the venv's interpreter path (/usr/local/bin/python3.11) exists
# in the runtime stage. Pinned by digest (the multi-arch index of the tag); to refresh it:
#   docker buildx imagetools inspect python:3.11-slim-bookworm    (or: crane digest ...)
# and write the new version and the digest it prints here.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# A venv without pip or setuptools: the builder's pip installs into it with --python.
RUN python -m venv --without-pip /opt/venv
# 1. Dependencies, from the lock only (every file checked against its hash). This layer is reused
#    until requirements.lock changes; scripts/lock regenerates it from pyproject.toml.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.lock,target=/src/requirements.lock \
    pip --python /opt/venv/bin/python install --require-hashes --no-deps -r requirements.lock
# 2. The bridge itself: a wheel built with the locked setuptools, installed without dependencies.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements-build.lock,target=/src/requirements-build.lock \
    pip install --require-hashes --no-deps -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY bridge/ bridge/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
 && pip --python /opt/venv/bin/python install --no-deps --no-index /tmp/wheels/*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sms-bridge" \
      org.opencontainers.image.description="SMS provider callbacks verified and published to Kafka as CloudEvents" \
      org.opencontainers.image.licenses="Apache-2.0"
# No .pyc writes at run time (the root filesystem is read-only; pip compiled them at build time),
# unbuffered logs, and the venv first on PATH.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
COPY --from=builder /opt/venv /opt/venv
# A default configuration; the Helm chart mounts its own over it. Its ${file:secrets/...}
# references resolve under /etc/sms-bridge/secrets, where the chart mounts the Secret.
COPY config/bridge.example.yaml /etc/sms-bridge/bridge.yaml
# Numeric, so Kubernetes can check runAsNonRoot; no passwd entry is needed.
USER 10001:10001
EXPOSE 8080
CMD ["sms-bridge", "serve", "--config", "/etc/sms-bridge/bridge.yaml"]
