"""Switchboard settings: every value comes from the environment (see README, "Configuration").

Defaults suit a local run (SQLite, DEBUG on, the sandbox). With DEBUG off, the values a production
deploy cannot do without are required and start-up stops with a message naming the missing one.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")


def require(name: str, value):
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in the environment when DEBUG is off.")
    return value


DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "django-insecure-switchboard-local-development-only"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else _DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if not DEBUG else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Fernet keys for secrets stored in the database; the first encrypts, all decrypt (rotation).
_DEV_ENCRYPTION_KEY = "c3dpdGNoYm9hcmQtbG9jYWwtZGV2LWtleS0zMmJ5dGU="
SECRETS_ENCRYPTION_KEYS = env.list(
    "SECRETS_ENCRYPTION_KEYS", default=[] if not DEBUG else [_DEV_ENCRYPTION_KEY]
)
if not DEBUG:
    require("SECRET_KEY", SECRET_KEY)
    require("ALLOWED_HOSTS", ALLOWED_HOSTS)
    require("SECRETS_ENCRYPTION_KEYS", SECRETS_ENCRYPTION_KEYS)

# HTTPS switches: off for a local run, on in production behind TLS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
# Under /api/ a CSRF refusal answers in the API's error shape.
CSRF_FAILURE_VIEW = "config.api_errors.csrf_failure"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "accounts",
    "crm",
    "messaging",
    "tickets",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.request_memo.RequestMemoMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.user_menu",
            ],
        },
    },
]

DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task cluster write at once: WAL, a busy timeout and immediate
    # transactions keep SQLite from answering "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_TRANSACTION_POOLING", default=False):
        # Behind PgBouncer's transaction pooling, consecutive transactions of one connection may
        # reach different server sessions: no server-side cursors (`.iterator()` would open one
        # in one transaction and read it in the next) and no prepared statements (psycopg
        # prepares a query run five times on its session, which the next session does not have).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Agents sign in on the inbox's own page; the admin keeps its login for administrators.
LOGIN_URL = "inbox:login"
LOGIN_REDIRECT_URL = "inbox:index"

# Password reset links go by e-mail. The embedded default prints them on the console; production
# sets EMAIL_URL (smtp+tls://user:password@host:587, smtps://...) and DEFAULT_FROM_EMAIL.
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://")
_email = env.email_url_config(EMAIL_URL)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="switchboard@localhost")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Rome")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Meta sends webhook bodies of up to 3 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# Phone numbers: how a number written without its country is read.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="IT")
PHONE_INTERNATIONAL_PREFIX = env.str("PHONE_INTERNATIONAL_PREFIX", default="00")

# Where Switchboard is reachable from outside (webhook URLs shown in the admin, sandbox callbacks).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# How long a website widget's reference (the code in a visitor's pre-filled message) ties the
# conversation it starts to the widget and page; after that it is ignored.
WIDGET_REFERENCE_MAX_AGE_DAYS = env.int("WIDGET_REFERENCE_MAX_AGE_DAYS", default=7)

# WhatsApp Cloud API. Point GRAPH_API_BASE_URL at the sandbox to run without Meta.
GRAPH_API_BASE_URL = env.str("GRAPH_API_BASE_URL", default="https://graph.facebook.com").rstrip("/")
# Wazzup API v3 (the path /v3/ is added by the provider). The sandbox in `make run` and tests.
WAZZUP_API_BASE_URL = env.str("WAZZUP_API_BASE_URL", default="https://api.wazzup24.com").rstrip("/")
GRAPH_API_VERSION = env.str("GRAPH_API_VERSION", default="v23.0")
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
# Twilio: the 2010-04-01 REST API and the Content API. Point both at the sandbox to run without
# a Twilio account (`make run` does).
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
TWILIO_CONTENT_API_BASE_URL = env.str(
    "TWILIO_CONTENT_API_BASE_URL", default="https://content.twilio.com"
).rstrip("/")
# Telegram Bot API. Point TELEGRAM_API_BASE_URL at the sandbox (…/sandbox/telegram) to run
# without Telegram.
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org").rstrip(
    "/"
)
HTTP_TIMEOUT_SECONDS = env.float("HTTP_TIMEOUT_SECONDS", default=15.0)
# Messages one channel's delivery drain has in flight at once (services/delivery.py): at least
# the channel's rate times the provider's answer time (80/s x 0.4 s = 32). SQLite takes one
# writer at a time, so the embedded default sends from the drain's own thread.
OUTBOUND_SEND_THREADS = env.int(
    "OUTBOUND_SEND_THREADS",
    default=1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 32,
)

# How long a web process may reuse an account it looked up for a webhook URL.
WEBHOOK_ACCOUNT_CACHE_SECONDS = env.int("WEBHOOK_ACCOUNT_CACHE_SECONDS", default=10)

# Conversations close this many hours after they started; the next customer message opens a new one.
CONVERSATION_LIFETIME_HOURS = env.int("CONVERSATION_LIFETIME_HOURS", default=24)

# Task cluster (django-q2). The ORM broker keeps receipts and redelivers a task whose worker died;
# Redis is faster but loses a task in flight, so durable state lives in rows that jobs re-drive.
# `retry` must exceed `timeout`, or a slow task starts a second time while still running.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "switchboard",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=180),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=5),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task cluster",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.5

# Live push to the inbox (messaging.live): through Redis when there is one, so every web and
# task process reaches every socket; else the web process's own memory, which a task process
# reaches through LIVE_RELAY_URL (`make run` sets it to the web server's /live/relay).
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A socket's receive blocks up to 5 s in Redis (BZPOPMIN): the client must wait
                # longer than that, or its default 5-second timeout drops idle sockets.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": "switchboard-live",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
LIVE_RELAY_URL = env.str("LIVE_RELAY_URL", default="")

# REST API (/api/v1/): API keys for integration accounts, tokens or the admin session for staff.
# Every error has one body shape (config/api_errors.py); throttle rates are per principal.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.api_auth.AccountAPIKeyAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "config.api_parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api_pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_read": env.str("API_THROTTLE_READ", default="600/min"),
        "api_write": env.str("API_THROTTLE_WRITE", default="120/min"),
        "api_events": env.str("API_THROTTLE_EVENTS", default="600/min"),
    },
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Contacts, conversations, sends and business events. Authenticate with "
    "`Authorization: Api-Key <key>` (integration accounts) or `Authorization: Token <token>` "
    '(staff). Every error body is `{"error": {"code", "message", "fields"}}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page loads Swagger UI from our own static files: it works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set that several components share (the message's name is the one it
    # had before ticket comments showed delivery statuses too).
    "ENUM_NAME_OVERRIDES": {
        "MessageOutStatusEnum": "messaging.models.Message.Status",
        "TicketStatusEnum": "tickets.models.TicketStatus",
        "ConsentStateEnum": "crm.models.ConsentState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.add_error_responses",
        "config.api_schema.bound_path_ids",
    ],
}
# Minutes a temporary public link to a stored document stays valid (a provider fetches it once).
DOCUMENT_LINK_MINUTES = env.int("DOCUMENT_LINK_MINUTES", default=60)

# Consent (README, "Consent, opt-out and GDPR"). Marketing templates go only to addresses that
# opted in under "consent"; under "legitimate_interest" also to those who never said, never to an
# opted-out one.
CONSENT_MARKETING_BASIS = env.str("CONSENT_MARKETING_BASIS", default="consent")
# Whole-message keywords per language; the language picks the confirmation's wording.
CONSENT_KEYWORDS = env.json(
    "CONSENT_KEYWORDS",
    default={
        "en": {"opt_out": ["STOP", "UNSUBSCRIBE"], "opt_in": ["START"]},
        "it": {"opt_out": ["ANNULLA", "DISISCRIVIMI"], "opt_in": ["ISCRIVIMI"]},
    },
)
# Quick-reply button payloads of templates set as opt-out buttons.
CONSENT_OPT_OUT_PAYLOADS = env.list("CONSENT_OPT_OUT_PAYLOADS", default=["STOP_MARKETING"])
# Media files and message texts older than this many days are deleted by `retention_purge`;
# 0 keeps them.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
