"""Settings, all from the environment (12-factor).

`REGSVC_ENV` selects the profile. `development` and `test` have safe local defaults so that
`make demo` and `make test` work on a fresh machine; `production` has no defaults for secrets
or endpoints and refuses to start without them.
"""

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = os.environ.get("REGSVC_ENV", "development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"REGSVC_ENV must be development, test or production, not {ENVIRONMENT!r}"
    )
PRODUCTION = ENVIRONMENT == "production"

_LOCAL_DEFAULTS = {
    # Local only; production has no default and refuses to start without SECRET_KEY.
    "SECRET_KEY": "insecure-local-development-key",  # pragma: allowlist secret
    "DATABASE_URL": "postgres://regsvc_app@127.0.0.1:5432/regsvc",
    "DATABASE_OWNER_URL": "postgres://regsvc_owner@127.0.0.1:5432/regsvc",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
}


def env(name: str) -> str:
    """Read a required setting; local defaults exist only outside production."""
    value = os.environ.get(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set in production")
    return _LOCAL_DEFAULTS[name]


SECRET_KEY = env("SECRET_KEY")
DEBUG = os.environ.get("DEBUG", "0") == "1" and not PRODUCTION
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS").split(",") if h.strip()]

INSTALLED_APPS = [
    "tenancy.apps.ConsoleAdminConfig",  # django.contrib.admin with the console site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "tenancy",
    "outbox",
    "registration",
    "mpi",
]

MIDDLEWARE = [
    "tenancy.middleware.MetricsMiddleware",
    "tenancy.middleware.RequestIdMiddleware",
    "tenancy.middleware.PhiValuesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenancy.middleware.TenantMiddleware",
]

ROOT_URLCONF = "config.urls"
# `make bench` mounts a bare ceiling endpoint (config/bench_urls.py) on its own scratch server
# with REGSVC_BENCH_ENDPOINTS=1. Never set it in a deployment; nothing else reads it.
BENCH_ENDPOINTS = os.environ.get("REGSVC_BENCH_ENDPOINTS", "0") == "1"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.active_tenant",
            ],
        },
    },
]

# The web and the workers connect as the app role (no superuser, no BYPASSRLS, not the table
# owner), so row-level security applies to every query they make. Migrations run with the
# owner's URL (DATABASE_OWNER_URL), never with this one.
#
# JIT compilation is off for the app's sessions. Its cost model misjudges the RLS-filtered
# statements of a large tenant: at a million patients a batch chunk's blocking statement
# spent 986 of its 1,142 ms compiling (67 ms without), and an online match pays the same
# whenever its estimate crosses jit_above_cost. Short OLTP statements never earn it back.
_DATABASE = dj_database_url.parse(env("DATABASE_URL"), conn_max_age=60, conn_health_checks=True)
_DATABASE_OPTIONS = _DATABASE.setdefault("OPTIONS", {})
_DATABASE_OPTIONS["options"] = f"{_DATABASE_OPTIONS.get('options', '')} -c jit=off".strip()
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        **_DATABASE,
        # ATOMIC_REQUESTS stays off: TenantMiddleware opens the tenant transaction itself.
        "ATOMIC_REQUESTS": False,
    }
}
DATABASE_OWNER_URL = env("DATABASE_OWNER_URL")
DB_APP_ROLE = os.environ.get("REGSVC_DB_APP_ROLE", "regsvc_app")
DB_RELAY_ROLE = os.environ.get("REGSVC_DB_RELAY_ROLE", "regsvc_relay")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Collected by `manage.py collectstatic` (the image does it at build time: Dockerfile) and served
# by whitenoise from here.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / ".local" / "static")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REDIS_URL = env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers keep Django's LOGGING (JSON lines, request/tenant/trace ids, the PHI filter): Celery
# would otherwise replace the root logger's handlers with its own plain ones.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Reuse a worker's database connection across tasks (Celery closes it after each by default).
# Safe because the tenant setting is transaction-local: see tests/integration/test_tenant_isolation.
CELERY_DB_REUSE_MAX = 100

# Batch deduplication: runners per job (one Celery task each, sharing the job's chunks); at
# most the worker's --concurrency are busy at once (docs/MATCHING.md).
MPI_BATCH_RUNNERS = int(os.environ.get("MPI_BATCH_RUNNERS", "2"))
# Break-glass: how long a self-issued grant to a restricted patient lasts (docs/SECURITY.md).
BREAK_GLASS_MINUTES = int(os.environ.get("BREAK_GLASS_MINUTES", "30"))
# Audit hash chain: rows are sealed once older than this (longer than any transaction).
AUDIT_SEAL_HORIZON_SECONDS = int(os.environ.get("AUDIT_SEAL_HORIZON_SECONDS", "60"))
# Idempotency-Key on creates: how long a key replays its first response (docs/API.md).
IDEMPOTENCY_KEY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "24"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "tenancy.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Registration Service API",
    "DESCRIPTION": (
        "Patient registration and Master Patient Index for multi-tenant platforms. Errors are "
        "RFC 9457 problem+json: 400 when a request does not match this schema, 422 when it "
        "does but breaks a domain rule. Text fields never accept NUL characters."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "NameUseEnum": "registration.models.codes.NameUse",
        "IdentifierUseEnum": "registration.models.codes.IdentifierUse",
        "TelecomUseEnum": "registration.models.codes.TelecomUse",
        "TelecomSystemEnum": "registration.models.codes.TelecomSystem",
        "AddressUseEnum": "registration.models.codes.AddressUse",
        "AddressTypeEnum": "registration.models.codes.AddressType",
        "VitalStatusEnum": "registration.models.codes.VitalStatus",
        "DatePrecisionEnum": "registration.models.codes.DatePrecision",
        "RefutedStatusEnum": "registration.api.vital_status.REFUTED_STATUS_CHOICES",
        "DeathSourceEnum": "registration.api.vital_status.REST_SOURCES",
        "MatchDecisionEnum": "mpi.models.matching.MatchDecisionKind",
        "BreakGlassReviewDecisionEnum": "registration.models.access.ReviewDecision",
    },
}

# Base of the `type` URIs of problem+json responses (RFC 9457).
PROBLEM_TYPE_BASE = os.environ.get("PROBLEM_TYPE_BASE", "https://regsvc.example/problems/")
# Canonical base of this service's FHIR definitions (extensions, OperationDefinitions).
FHIR_DEFINITION_BASE = os.environ.get("FHIR_DEFINITION_BASE", "https://regsvc.example/fhir/")

# --- observability (docs/OBSERVABILITY.md) ---
# Logs: one line per record on stderr, JSON in production (LOG_FORMAT=json|text; text is the
# local default), every line with request id, tenant id, trace id and span id, and PHI redacted
# from the message and every extra field by tenancy.logs.PhiRedactingFilter.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "tenancy.logs.LogContextFilter"},
        "phi": {"()": "tenancy.logs.PhiRedactingFilter"},
    },
    "formatters": {
        "json": {"()": "tenancy.logs.json_formatter"},
        "text": {"()": "tenancy.logs.text_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context", "phi"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Pillow logs every EXIF tag it reads (GPS position, descriptions: PHI) at DEBUG; portrait
    # uploads must not put them in the logs even when LOG_LEVEL is DEBUG.
    "loggers": {"PIL": {"level": "INFO"}},
}
# Traces (OpenTelemetry, tenancy.tracing): on when an OTLP endpoint is given; the SDK reads the
# rest of the standard variables itself (OTEL_TRACES_SAMPLER / _ARG, OTEL_EXPORTER_OTLP_HEADERS,
# OTEL_RESOURCE_ATTRIBUTES, ...).
OTEL_TRACES_ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
    "OTEL_EXPORTER_OTLP_ENDPOINT", ""
)
OTEL_SERVICE_NAME = os.environ.get("OTEL_SERVICE_NAME", "registration-service")
OTEL_SDK_DISABLED = os.environ.get("OTEL_SDK_DISABLED", "false").lower() == "true"
# Metrics: /metrics on the web; PROMETHEUS_MULTIPROC_DIR (read by prometheus_client) for
# several processes per pod; a Celery worker serves its own task metrics on this port (0 = off).
CELERY_METRICS_PORT = int(os.environ.get("CELERY_METRICS_PORT", "0"))
# Heartbeats of the processes without HTTP (tenancy.heartbeat): the worker and the relay touch
# a file here as they make progress; their exec probes (`manage.py heartbeat_check`) read it.
HEARTBEAT_DIR = os.environ.get("HEARTBEAT_DIR") or str(
    Path(tempfile.gettempdir()) / "regsvc-heartbeat"
)
HEARTBEAT_INTERVAL_SECONDS = float(os.environ.get("HEARTBEAT_INTERVAL_SECONDS", "10"))

# --- outbox ---
# Transactional outbox, relay to Redis Streams, idempotent inbox (docs/EVENTS.md).
# The relay is the only cross-tenant reader: it connects with its own role (BYPASSRLS, grants on
# the outbox table only), never with the app's DATABASE_URL.
_LOCAL_DEFAULTS["DATABASE_RELAY_URL"] = "postgres://regsvc_relay@127.0.0.1:5432/regsvc"
OUTBOX_RELAY_DATABASE_URL = env("DATABASE_RELAY_URL")
# The event bus (Redis Streams); the Celery broker's Redis unless given.
OUTBOX_BUS_URL = os.environ.get("OUTBOX_BUS_URL") or REDIS_URL
OUTBOX_STREAM_PREFIX = os.environ.get("OUTBOX_STREAM_PREFIX", "regsvc.events.")
# Streams are trimmed to about this many entries by the metrics refresh (every 15 s).
OUTBOX_STREAM_MAXLEN = int(os.environ.get("OUTBOX_STREAM_MAXLEN", "1000000"))
OUTBOX_EVENT_SOURCE = os.environ.get("OUTBOX_EVENT_SOURCE", "urn:regsvc:registration-service")
OUTBOX_SCHEMA_BASE_URI = os.environ.get(
    "OUTBOX_SCHEMA_BASE_URI", "https://regsvc.example/schemas/events/"
)
OUTBOX_WAKE_ON_COMMIT = os.environ.get("OUTBOX_WAKE_ON_COMMIT", "1") == "1"
OUTBOX_RELAY_BATCH_SIZE = int(os.environ.get("OUTBOX_RELAY_BATCH_SIZE", "500"))
OUTBOX_RELAY_TIME_BUDGET_SECONDS = float(os.environ.get("OUTBOX_RELAY_TIME_BUDGET_SECONDS", "20"))
# A woken relay task keeps polling this often until it has seen this long without events.
OUTBOX_RELAY_POLL_SECONDS = float(os.environ.get("OUTBOX_RELAY_POLL_SECONDS", "0.05"))
OUTBOX_RELAY_LINGER_SECONDS = float(os.environ.get("OUTBOX_RELAY_LINGER_SECONDS", "1"))
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "10"))
OUTBOX_BACKOFF_BASE_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_BASE_SECONDS", "1"))
OUTBOX_BACKOFF_MAX_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_MAX_SECONDS", "300"))
OUTBOX_RETENTION_HOURS = float(os.environ.get("OUTBOX_RETENTION_HOURS", "72"))
# Incoming events: sender -> Redis Stream it writes to; one consumer group for this service.
INBOX_STREAMS = {
    "civil-registry": os.environ.get("INBOX_CIVIL_REGISTRY_STREAM", "civil-registry.events"),
    "licensing": os.environ.get("INBOX_LICENSING_STREAM", "licensing.events"),
}
INBOX_DEAD_LETTER_STREAM = os.environ.get("INBOX_DEAD_LETTER_STREAM", "regsvc.inbox.dead")
INBOX_CONSUMER_GROUP = os.environ.get("INBOX_CONSUMER_GROUP", "registration-service")
INBOX_MAX_DELIVERIES = int(os.environ.get("INBOX_MAX_DELIVERIES", "5"))
INBOX_CLAIM_IDLE_MS = int(os.environ.get("INBOX_CLAIM_IDLE_MS", "60000"))
INBOX_LOCK_TIMEOUT_MS = int(os.environ.get("INBOX_LOCK_TIMEOUT_MS", "5000"))
INBOX_RETENTION_DAYS = float(os.environ.get("INBOX_RETENTION_DAYS", "30"))
# HMAC webhook secrets, "sender=secret" pairs separated by commas; a sender may appear twice
# while its secret rotates. Empty: the webhook refuses every sender.
INBOX_WEBHOOK_SECRETS: dict[str, list[str]] = {}
for _pair in os.environ.get("INBOX_WEBHOOK_SECRETS", "").split(","):
    _sender, _, _secret = _pair.strip().partition("=")
    if _sender and _secret:
        INBOX_WEBHOOK_SECRETS.setdefault(_sender, []).append(_secret)
INBOX_WEBHOOK_MAX_SKEW_SECONDS = int(os.environ.get("INBOX_WEBHOOK_MAX_SKEW_SECONDS", "300"))
# Services this one calls (consumer contracts in tests/contract/pacts/); empty = not configured.
LICENSING_SERVICE_URL = os.environ.get("LICENSING_SERVICE_URL", "")
LICENSING_SERVICE_TOKEN = os.environ.get("LICENSING_SERVICE_TOKEN", "")
CIVIL_REGISTRY_URL = os.environ.get("CIVIL_REGISTRY_URL", "")
CIVIL_REGISTRY_TOKEN = os.environ.get("CIVIL_REGISTRY_TOKEN", "")
# W3C trace context of incoming requests travels into the events they produce.
MIDDLEWARE = [*MIDDLEWARE, "outbox.middleware.TraceContextMiddleware"]
# Periodic sweeps expire rather than pile up while no worker runs.
CELERY_BEAT_SCHEDULE = {
    "outbox-relay-sweep": {
        "task": "outbox.relay_drain",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "outbox-metrics-refresh": {
        "task": "outbox.metrics_refresh",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    "outbox-prune": {"task": "outbox.outbox_prune", "schedule": 3600.0},
    "inbox-consume": {
        "task": "outbox.inbox_consume",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    },
    "inbox-prune": {"task": "outbox.inbox_prune", "schedule": 3600.0},
    "idempotency-prune": {"task": "tenancy.idempotency_prune", "schedule": 3600.0},
    "audit-seal": {"task": "tenancy.audit_seal", "schedule": 60.0, "options": {"expires": 60.0}},
    # The chain heads leave the database as `audit.chain-sealed` events (docs/SECURITY.md).
    "audit-chain-publish": {
        "task": "outbox.audit_chain_publish",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    # MPI upkeep, fanned out to one task per active tenant (mpi.tasks.fan_out_task).
    "mpi-name-frequencies-nightly": {
        "task": "mpi.fan_out",
        "schedule": crontab(minute=15, hour=2),
        "kwargs": {"task_name": "mpi.name_frequencies_refresh"},
    },
    "mpi-training-weekly": {
        "task": "mpi.fan_out",
        "schedule": crontab(minute=30, hour=3, day_of_week=0),
        "kwargs": {"task_name": "mpi.match_model_train"},
    },
}

# --- portraits ----------------------------------------------------------------------------------
# Key-encryption keys (KEKs) of the portraits' envelope encryption: `id:base64-of-32-bytes`
# items separated by commas or newlines, from PORTRAIT_KEYS or from the file PORTRAIT_KEYS_FILE
# names; or PORTRAIT_KEK_DIR, a directory with one file per key (file name = key id, content =
# base64 of 32 bytes: a mounted Kubernetes secret, as k8s/ mounts it). New portraits are wrapped
# with PORTRAIT_ACTIVE_KEY_ID (default: the last key listed; in a directory, the last file name
# in sorted order, so dated ids need no setting); older keys stay listed until
# `portraits_rotate_key` has re-wrapped every portrait. Production refuses to start without a
# valid key, unless PORTRAIT_KEYS_REQUIRED=0 declares a process that never touches portraits
# (beat, relay, the migration Job: they are not given the key). See
# docs/VITAL_STATUS_AND_PORTRAITS.md.


def _portrait_keys_text() -> str:
    """The keys as `id:base64` lines, from whichever source is configured."""
    directory = os.environ.get("PORTRAIT_KEK_DIR", "")
    if directory:
        # Kubernetes secret volumes keep their own bookkeeping in dot-entries (`..data`).
        files = sorted(p for p in Path(directory).iterdir() if not p.name.startswith("."))
        return "\n".join(f"{p.name}:{p.read_text(encoding='utf-8').strip()}" for p in files)
    path = os.environ.get("PORTRAIT_KEYS_FILE", "")
    return Path(path).read_text(encoding="utf-8") if path else os.environ.get("PORTRAIT_KEYS", "")


def _portrait_keys() -> dict[str, bytes]:
    text = _portrait_keys_text()
    keys: dict[str, bytes] = {}
    for item in text.replace(",", "\n").split():
        key_id, _, material = item.partition(":")
        try:
            key = base64.b64decode(material, validate=True)
        except ValueError:
            key = b""
        if not key_id or len(key) != 32:
            raise ImproperlyConfigured(
                "PORTRAIT_KEYS items must be id:base64 of 32 random bytes (key material hidden)"
            )
        keys[key_id] = key
    return keys


PORTRAIT_KEYS = _portrait_keys()
PORTRAIT_ACTIVE_KEY_ID = os.environ.get("PORTRAIT_ACTIVE_KEY_ID", "") or next(
    reversed(PORTRAIT_KEYS), ""
)
if PORTRAIT_KEYS and PORTRAIT_ACTIVE_KEY_ID not in PORTRAIT_KEYS:
    raise ImproperlyConfigured("PORTRAIT_ACTIVE_KEY_ID names no key of PORTRAIT_KEYS")
PORTRAIT_KEYS_REQUIRED = os.environ.get("PORTRAIT_KEYS_REQUIRED", "1") != "0"
if PRODUCTION and PORTRAIT_KEYS_REQUIRED and not PORTRAIT_KEYS:
    raise ImproperlyConfigured(
        "PORTRAIT_KEYS, PORTRAIT_KEYS_FILE or PORTRAIT_KEK_DIR must be set in production"
    )
# Uploads: the largest body accepted, the most pixels decoded (Pillow's decompression-bomb
# guard), and the bounding box of the stored JPEG.
PORTRAIT_MAX_UPLOAD_BYTES = int(os.environ.get("PORTRAIT_MAX_UPLOAD_BYTES", str(5 * 1024 * 1024)))
PORTRAIT_MAX_PIXELS = int(os.environ.get("PORTRAIT_MAX_PIXELS", str(40_000_000)))
PORTRAIT_MAX_DIMENSION = int(os.environ.get("PORTRAIT_MAX_DIMENSION", "1024"))
PORTRAIT_JPEG_QUALITY = int(os.environ.get("PORTRAIT_JPEG_QUALITY", "85"))
