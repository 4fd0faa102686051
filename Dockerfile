# The Registration Service image: one image for every workload in k8s/ (web, worker, beat, relay,
# the migration Job). The manifests pick the process with `args`/`command`; the default is the
# web (gunicorn). docs/DEPLOYMENT.md ("The image") says how to build and push it.
#
# Checked without building (scripts/check-k8s.sh: hadolint and checkov's Dockerfile policies;
# tests/unit/ops/test_image.py: user id, ports, commands and static files agree with k8s/).
#
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t registry.regsvc.example/registration-service:0.1.0 .

# --- build: the runtime dependencies, at the locked versions, in a virtualenv ----------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY requirements/base.in requirements/lock.txt requirements/
# base.in names what production needs; lock.txt (the versions every test ran with) pins it and
# everything it pulls in. Binary wheels only: no compiler in the image, no build at install.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --only-binary=:all: \
        -r requirements/base.in -c requirements/lock.txt

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="registration-service" \
      org.opencontainers.image.description="Registration Service / Master Patient Index (Django)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://git.regsvc.example/regsvc/registration-service" \
      org.opencontainers.image.base.name="python:3.11-slim-bookworm"

# UID/GID 10001: the runAsUser/runAsGroup of every pod in k8s/ (tests/unit/ops/test_image.py).
RUN groupadd --gid 10001 regsvc \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin regsvc

# Production settings; nothing secret (the pods get secrets from the cluster at run time).
# The root file system is read-only in the pods: Python writes no bytecode (it is compiled
# below), and everything written at run time goes to the volumes the manifests mount (/tmp,
# /dev/shm, /var/run/celery).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    REGSVC_ENV=production \
    STATIC_ROOT=/app/static \
    HOME=/tmp \
    TMPDIR=/tmp

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code is owned by root and read-only to the service's user.
COPY manage.py ./
COPY config/ config/
COPY tenancy/ tenancy/
COPY registration/ registration/
COPY outbox/ outbox/
COPY mpi/ mpi/
COPY templates/ templates/
# Static files are collected here, at build time (whitenoise serves them from STATIC_ROOT), with
# the development profile's placeholders: collectstatic reads no secret and opens no connection.
RUN REGSVC_ENV=development python manage.py collectstatic --no-input -v0 \
    && python -m compileall -q /app

USER 10001:10001
EXPOSE 8000 9808
CMD ["gunicorn", "--config=python:config.gunicorn", "config.wsgi", "--bind=0.0.0.0:8000", "--workers=3", "--worker-tmp-dir=/dev/shm", "--graceful-timeout=30", "--access-logfile=-"]
