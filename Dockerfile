# syntax=docker/dockerfile:1.7
# One image for every service and role: `dondoc serve <service> --role api|worker`.
# Build: docker build -t dondoc:0.1.0 .   (docs/OPERATIONS.md, "Images")

ARG PYTHON_VERSION=3.11.14

# --------------------------------------------------------------------------- build
# The locked dependencies into a virtual environment, then the workspace's own packages
# (not editable, so the final image needs no source tree). uv stays in this stage.
FROM python:${PYTHON_VERSION}-slim-bookworm AS build

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# A C compiler for the workspace's one C extension (libs/kafkabatch, docs/adr/0014), in this
# stage only: the runtime stage gets the compiled module, not the compiler. Not pinned: the
# base image's libc6 decides libc6-dev's version (a pin breaks at the next point release).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/dondoc

WORKDIR /src
# The lock and the members' metadata first: the dependency layer survives code changes.
COPY pyproject.toml uv.lock README.md ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/platform/pyproject.toml libs/platform/
COPY libs/kafkabatch/pyproject.toml libs/kafkabatch/setup.py libs/kafkabatch/
COPY services/directives/pyproject.toml services/directives/
COPY services/tasks/pyproject.toml services/tasks/
COPY services/reports/pyproject.toml services/reports/
COPY services/notifications/pyproject.toml services/notifications/
COPY services/analytics/pyproject.toml services/analytics/
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace

COPY src/ src/
COPY libs/ libs/
COPY services/ services/
RUN uv sync --frozen --no-dev --all-packages --no-editable

# --------------------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dondoc" \
      org.opencontainers.image.description="Đôn đốc: directives, tasks, reports and unit timeliness for a Party Committee Office" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="dondoc" \
      org.opencontainers.image.documentation="docs/OPERATIONS.md"

RUN groupadd --system --gid 10001 dondoc \
    && useradd --system --uid 10001 --gid dondoc --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin dondoc

COPY --from=build /opt/dondoc /opt/dondoc

ENV PATH=/opt/dondoc/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DONDOC_HTTP_HOST=0.0.0.0 \
    DONDOC_LOG_JSON=true \
    DONDOC_DATA_DIR=/tmp/dondoc

USER 10001:10001
WORKDIR /tmp
EXPOSE 8101 8102 8103 8104 8105

# The API and the worker both answer /healthz on DONDOC_HTTP_PORT (set by compose and k8s).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['DONDOC_HTTP_PORT'], timeout=4)"]

ENTRYPOINT ["dondoc"]
CMD ["--help"]
