# One image per service, all from this file. The build argument SERVICE names
# the directory under services/; PACKAGE is its import name, which differs only
# where the directory has a hyphen:
#
#   docker build --build-arg SERVICE=booking -t kairos-booking .
#   docker build --build-arg SERVICE=calendar-sync --build-arg PACKAGE=calendar_sync \
#       -t kairos-calendar-sync .
#
# EXTRA_SERVICES installs more service packages beside it, for ops commands that
# need them: `kairos replay availability` decodes the booking event store with the
# booking package (found through its `kairos.event_sources` entry point, never
# imported by availability's code), so the availability image is built with
# --build-arg EXTRA_SERVICES=booking.
#
# An image holds the runtime library (shared/) and services only, never the dev
# tooling (devtools/, package kairos_dev: dev stack, gateway, infrastructure
# providers, fakes, `kairos dev`/`token`); the runtime never imports it
# (tests/shared/test_runtime_boundary.py). A service's dev.py, which registers it
# with the dev stack, is copied but never imported here.
#
# The image runs as uid 10001 on a read-only root filesystem; the only writable
# path it needs is /tmp, which Kubernetes mounts as an emptyDir.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE=booking
ARG PACKAGE=${SERVICE}
ARG EXTRA_SERVICES=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# The runtime library first: its layer is reused by every service's build.
COPY shared/ shared/
RUN --mount=type=cache,target=/root/.cache/pip pip install ./shared

COPY services/ services/
# caldav (calendar-sync) needs niquests, which needs urllib3-future: its wheel writes over
# urllib3's files, breaking requests (Google's client); built from source with
# URLLIB3_NO_OVERRIDE it keeps to urllib3_future (as the Makefile's .venv target).
RUN --mount=type=cache,target=/root/.cache/pip \
    URLLIB3_NO_OVERRIDE=1 pip install --no-binary urllib3-future ./services/${SERVICE} $(for s in ${EXTRA_SERVICES}; do echo ./services/$s; done)
RUN python -c "import importlib.util, sys; p = sys.argv[1]; sys.exit(None if importlib.util.find_spec(p) else f'package {p!r} is not installed: pass --build-arg PACKAGE=<import name> for a hyphenated SERVICE')" "${PACKAGE}"


FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=booking
ARG PACKAGE=${SERVICE}
# Bytecode was compiled by pip at build time; nothing may be written at run
# time, and HOME points at the one writable directory for libraries that
# insist on a cache.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SERVICE=${SERVICE} \
    PACKAGE=${PACKAGE}
RUN groupadd --system --gid 10001 kairos \
 && useradd --system --uid 10001 --gid kairos --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin kairos
COPY --from=build /opt/venv /opt/venv
LABEL org.opencontainers.image.title="kairos-${SERVICE}"
USER 10001:10001
EXPOSE 8000
# A shell only to expand PACKAGE; exec hands PID 1 to uvicorn so it gets SIGTERM.
CMD ["sh", "-c", "exec uvicorn \"${PACKAGE}.main:app\" --host 0.0.0.0 --port 8000 --timeout-graceful-shutdown 20"]
