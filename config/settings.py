"""Settings for every deployment, read from the environment (see README "Configuration").

With no environment set this is the embedded default: SQLite in var/, Celery tasks run
in-process, files under var/, a development secret key generated once into var/.
Setting SECRET_KEY switches to production: DEBUG off, ALLOWED_HOSTS required, secure cookies,
HSTS and HTTPS redirects, so that `manage.py check --deploy --fail-level WARNING` passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    development_secret_key,
    env_bool,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("COLLEAGUE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# --- Mode -------------------------------------------------------------------------------------

PRODUCTION = bool(env_str("SECRET_KEY"))
SECRET_KEY = env_str("SECRET_KEY") or development_secret_key(VAR_DIR)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not env_list("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when SECRET_KEY is set (production).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Applications -----------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "colleagues",
    "connectors",
    "knowledge",
    "skills",
    "answers",
    "offboarding",
    "slack_command",
    # The MCP server for AI agents: `manage.py mcp_serve --user` (agents/server.py).
    "agents",
]

MIDDLEWARE = [
    # First, so every response carries X-Request-ID and every audit event its request's id and
    # client IP (config/request_context.py).
    "config.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one chosen in the header (set_language's cookie), else the browser's
    # Accept-Language, else LANGUAGE_CODE.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
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
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

# WAL lets the web server read while an ingest writes; IMMEDIATE takes the write lock at BEGIN
# so concurrent writers (web, worker, scheduler) queue for up to `timeout` seconds instead of
# failing mid-transaction. Applied to every SQLite database, DATABASE_URL=sqlite:/// included.
SQLITE_OPTIONS = {
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        # 32 MB of page cache (default 2 MB): a bulk ingest updates a dozen indexes per
        # message; with the cache too small each update reads pages back from the OS. 64 MB
        # was no faster at 1M messages and put the ingest over its 500 MB (docs/BENCHMARKS.md).
        # Allocated only as used.
        " PRAGMA cache_size=-32768;"
        # Checkpoint the WAL every ~40 MB instead of 4 MB: a page a bulk ingest changes over
        # and over (index interior pages, FTS5 segments) is copied back once per checkpoint,
        # not once per few batches (1M-message ingest 10,066 -> 10,793 msgs/s).
        " PRAGMA wal_autocheckpoint=10000;"
    ),
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "colleague.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
            # A file, not memory, so a Celery worker process can share the test database; one
            # per test process, so two test runs in one checkout never share it.
            "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work --------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
# No broker: tasks run in-process, errors propagate to the caller.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
# Longer than the longest task, so Redis does not redeliver a task still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 60 * 60}
CELERY_TIMEZONE = "UTC"
# All periodic tasks are declared here (docs/STYLE.md section 7).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Every 5 minutes: queue a sync for each source that is due, and resume stuck runs.
    "sync-due-sources": {"task": "connectors.tasks.sync_due_sources", "schedule": 5 * 60},
    # Every hour: embed chunks left pending (a failed embedding, a changed COLLEAGUE_EMBEDDER)
    # and repair the index backend (knowledge.indexing.verify_index / rebuild_index).
    "repair-index": {"task": "knowledge.tasks.repair_index", "schedule": 60 * 60},
    # Every 10 minutes: rebuild the skill packages of colleagues with new material.
    "rebuild-stale-skills": {"task": "skills.tasks.rebuild_stale_packages", "schedule": 10 * 60},
    # Every 24 hours: delete expired items no legal hold covers (knowledge.retention.purge).
    "purge-expired-items": {"task": "knowledge.tasks.purge_expired_items", "schedule": 86_400},
    # Every 24 hours: remind whoever is responsible for an overdue offboarding step, from the
    # second reminder on also HR (offboarding.notifications.remind_overdue).
    "remind-overdue-offboarding-steps": {
        "task": "offboarding.tasks.remind_overdue_steps",
        "schedule": 86_400,
    },
    # Every hour: clear answers kept for Slack's "share" button past SLACK_SHARE_HOURS and
    # forget request hashes older than a day (slack_command.actions.prune_requests).
    "prune-slack-requests": {"task": "slack_command.tasks.prune_requests", "schedule": 60 * 60},
}

# --- Files ------------------------------------------------------------------------------------

MEDIA_ROOT = VAR_DIR / "files"
COLLEAGUE_QUARANTINE_DIR = VAR_DIR / "quarantine"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development runserver serves static files itself; WhiteNoise serves STATIC_ROOT otherwise.
WHITENOISE_USE_FINDERS = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Accounts and the API ---------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    # Token first, so an unauthenticated call gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Colleague.skill API",
    "DESCRIPTION": "Colleagues, captured knowledge and search, within the caller's visibility.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Internationalisation ---------------------------------------------------------------------

# English and Simplified Chinese (locale/zh_Hans; `make messages` after changing a string).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates read "27 Nov 2026" (config/formats/en); Chinese ones are Django's.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Security ---------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logins, sessions and headers (config/security.py, README "Secrets") ---------------------

# Failed logins are limited per username and per client IP, on every password entry point and
# every backend: the limiter must stay the first backend (the server refuses to start
# otherwise), so add others after it, e.g. AUTHENTICATION_BACKENDS.insert(1, "...LDAPBackend").
AUTHENTICATION_BACKENDS = [
    "config.security.LoginRateLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# A username is locked after LOGIN_FAILURE_LIMIT failures, a client IP (possibly a whole
# office behind one NAT address) after LOGIN_FAILURE_IP_LIMIT; each counter is forgotten
# LOGIN_FAILURE_WINDOW seconds after its latest failure.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_IP_LIMIT = env_int("LOGIN_FAILURE_IP_LIMIT", 50)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 15 * 60)
LOGIN_FAILURE_CACHE = "default"
# How many reverse proxies in front append to X-Forwarded-For; 0: the client is REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# The counters must be shared by every web process: Redis (CACHE_URL=redis://...) across
# hosts, else in production files under var/ shared by the processes of one host. The embedded
# default (one runserver process, and each test process) keeps them in memory.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES: dict[str, dict[str, object]] = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
elif PRODUCTION:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # Culling at the default 300 entries would let a spray of usernames erase counters.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions last a working day (seconds) and end when the browser closes; Django gives a new
# session key at login and logs out by POST only.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
# Scripts only from our own files (htmx included; no inline scripts, handlers, javascript:
# links or eval). Inline styles are allowed, as they run no script: htmx injects its indicator
# style, and the API docs (Swagger UI) and DRF's browsable API use style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "config.security.SecurityHeadersMiddleware",
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # pypdf logs every repair it makes to a damaged PDF; failures reach the quarantine instead.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "pypdf": {"level": "ERROR"}},
}

# --- Colleague.skill --------------------------------------------------------------------------

# Mail domains of the organisation. An email author in one of them becomes a colleague; others
# stay external identities. Empty: every author of captured mail becomes a colleague.
COLLEAGUE_ORG_DOMAINS = [d.lower() for d in env_list("COLLEAGUE_ORG_DOMAINS")]
# Fernet keys encrypting source credentials at rest, comma-separated, newest first (README
# "Secrets": rotation); empty: a key derived from SECRET_KEY.
CREDENTIALS_KEY = env_str("CREDENTIALS_KEY")
# Base URL of the intranet, for links in exports and Slack messages.
COLLEAGUE_BASE_URL = env_str("COLLEAGUE_BASE_URL", "http://127.0.0.1:8000")

# --- Offboarding (offboarding/) ---------------------------------------------------------------

# The secret the HR system signs its webhook calls with (offboarding/webhook.py). Empty: the
# webhook is switched off and its URL answers 404, as if it did not exist.
OFFBOARDING_WEBHOOK_SECRET = env_str("OFFBOARDING_WEBHOOK_SECRET")
# A Slack bot token (xoxb-..., scope chat:write) for offboarding notices by direct message
# (offboarding/notifications.py); empty: notices go by email only. SLACK_API_URL is the Web
# API root the token is sent to.
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN")
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api/")
# Days from an account's disabling (directory sync) to its removal, for the case it opens.
OFFBOARDING_ACCOUNT_REMOVAL_DAYS = env_int("OFFBOARDING_ACCOUNT_REMOVAL_DAYS", 30)

# --- Slack slash command (slack_command/) ---------------------------------------------------

# The app's signing secret (Basic Information -> App Credentials). Empty: /slack/commands/ and
# /slack/interactions/ answer 404, as if they did not exist. The same SLACK_BOT_TOKEN (scopes in
# slack_command/manifest.yml) looks up who asks (users.info) to map them to an intranet user.
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")
# Answers go only to response URLs starting with one of these (Slack's own host by default).
SLACK_RESPONSE_URL_PREFIXES = env_list("SLACK_RESPONSE_URL_PREFIXES", ["https://hooks.slack.com/"])
# How long a Slack user's verified address is cached (seconds), and how long an answer can be
# shared into its channel (hours).
SLACK_USER_CACHE_SECONDS = env_int("SLACK_USER_CACHE_SECONDS", 60 * 60)
SLACK_SHARE_HOURS = env_int("SLACK_SHARE_HOURS", 24)

# --- AI agents: the MCP server (agents/) --------------------------------------------------------
# The longest an API token for agents may live (days), and the most MCP requests over HTTP one
# token may make a minute (agents/http.py; counted in the default cache).
AGENTS_TOKEN_MAX_DAYS = env_int("AGENTS_TOKEN_MAX_DAYS", 365)
AGENTS_RATE_LIMIT = env_int("AGENTS_RATE_LIMIT", 120)

# --- Mail (offboarding notices) -----------------------------------------------------------------

# The SMTP server notices go through. Without EMAIL_HOST, mail is written to the console log
# (nothing is sent), as the embedded default must run without a mail server.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "colleague-skill@localhost")

# --- Parsing untrusted files (connectors/limits.py, connectors/sandbox.py) ---------------------

# Wall-clock seconds and memory (MB) one file's parse may take; files this big or bigger (and
# every PDF and DOCX) are parsed in a child process that enforces both.
CONNECTORS_PARSE_SECONDS = env_int("CONNECTORS_PARSE_SECONDS", 120)
CONNECTORS_PARSE_MEMORY_MB = env_int("CONNECTORS_PARSE_MEMORY_MB", 1024)
CONNECTORS_SANDBOX_MIN_BYTES = env_int("CONNECTORS_SANDBOX_MIN_BYTES", 1024 * 1024)
# The largest Slack export day file read (MB). Day files are decoded in-process, at about 12
# times their size in memory; bigger ones are quarantined (LimitExceeded).
CONNECTORS_SLACK_DAY_FILE_MB = env_int("CONNECTORS_SLACK_DAY_FILE_MB", 64)
# The largest Slack export metadata file read (users.json, channels.json, ... in MB): a real
# users.json holds about 2.2 KB per user, so 256 MB fits a 100,000-person workspace; bigger
# ones are quarantined and the messages are still read.
CONNECTORS_SLACK_METADATA_MB = env_int("CONNECTORS_SLACK_METADATA_MB", 256)

# --- Exclusions and masking (connectors/exclusions.py, knowledge/masking.py) -----------------

# Organisation-wide exclusions, added to each source's own ("exclude" in its config), each a
# comma-separated list: container glob patterns (channel names or ids, mail folders, document
# folder paths, e.g. "hr-*,legal/*"), sender glob patterns (e.g. "*@legal.example.com"), and
# words or phrases matched whole, in any case, in a title or body. Empty: no organisation rule.
COLLEAGUE_EXCLUDE_CONTAINERS = env_list("COLLEAGUE_EXCLUDE_CONTAINERS")
COLLEAGUE_EXCLUDE_SENDERS = env_list("COLLEAGUE_EXCLUDE_SENDERS")
COLLEAGUE_EXCLUDE_KEYWORDS = env_list("COLLEAGUE_EXCLUDE_KEYWORDS")
# Kinds of third parties' personal data masked in stored text, comma-separated, from email,
# phone, national_id, card, iban (default: all five); set it empty to switch masking off.
COLLEAGUE_MASK_PERSONAL_DATA = env_list(
    "COLLEAGUE_MASK_PERSONAL_DATA", ["email", "phone", "national_id", "card", "iban"]
)

# --- Embeddings (knowledge/embeddings) --------------------------------------------------------

# Which embedder turns chunks and questions into vectors: "use" (default: Universal Sentence
# Encoder multilingual v3, shipped inside a PyPI wheel, offline, numpy only), "openai" (an
# OpenAI-compatible /v1/embeddings server: Ollama, vLLM, TEI, OpenAI) or "hashing" (tests only).
COLLEAGUE_EMBEDDER = env_str("COLLEAGUE_EMBEDDER", "use")
# For "openai": the API root including /v1, e.g. http://127.0.0.1:11434/v1 for Ollama.
EMBEDDINGS_BASE_URL = env_str("EMBEDDINGS_BASE_URL")
EMBEDDINGS_MODEL = env_str("EMBEDDINGS_MODEL")
# Sent as a Bearer token when set; local servers usually need none.
EMBEDDINGS_API_KEY = env_str("EMBEDDINGS_API_KEY")
# The model's vector size, checked on every answer; 0: learned from one probe request.
EMBEDDINGS_DIMENSION = env_int("EMBEDDINGS_DIMENSION", 0)
# Texts per request; seconds per socket operation; tries after the first on 429, 5xx, timeouts.
EMBEDDINGS_BATCH_SIZE = env_int("EMBEDDINGS_BATCH_SIZE", 64)
EMBEDDINGS_TIMEOUT = env_int("EMBEDDINGS_TIMEOUT", 30)
EMBEDDINGS_MAX_RETRIES = env_int("EMBEDDINGS_MAX_RETRIES", 3)
# Longer texts are cut to this many characters before sending (chunks are far shorter).
EMBEDDINGS_MAX_CHARS = env_int("EMBEDDINGS_MAX_CHARS", 8000)

# --- LLM (knowledge/llm.py) -------------------------------------------------------------------

# An OpenAI-compatible chat completions server (vLLM, Ollama, llama.cpp's server, OpenAI): the
# API root including /v1, e.g. http://127.0.0.1:11434/v1 for Ollama. Empty: no LLM, answers
# stay extractive (the person's own words, cited).
LLM_BASE_URL = env_str("LLM_BASE_URL")
# The model to ask for; empty: the first model the server lists at /v1/models.
LLM_MODEL = env_str("LLM_MODEL")
# Sent as a Bearer token; empty: a placeholder, which local servers ignore.
LLM_API_KEY = env_str("LLM_API_KEY")
# Seconds to wait for each network step of a request (a whole non-streamed answer included);
# tries after the first on connection errors, 408, 409, 429 and 5xx.
LLM_TIMEOUT = env_int("LLM_TIMEOUT", 60)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)

# --- Knowledge index (knowledge/index) --------------------------------------------------------

# Where chunks are indexed for keyword and vector search: "db" (default: the Chunk table, FTS
# plus numpy over int8 vectors), "pgvector" or "weaviate".
COLLEAGUE_INDEX_BACKEND = env_str("COLLEAGUE_INDEX_BACKEND", "db")
# Embed each ingested batch's chunks once it is stored (in a worker; inline without a broker).
# Off: chunks stay pending (keyword search only) until `index rebuild` or the hourly repair.
COLLEAGUE_EMBED_ON_INGEST = env_bool("COLLEAGUE_EMBED_ON_INGEST", True)
# The db backend (knowledge/index/db.py): candidates per query rescored exactly from the
# database (all of them, so exact, when no more are in scope); how often a process looks for new
# vectors; how far back it re-reads for transactions that committed late; when it reloads fully.
# 1,000 candidates: nDCG@10 as with 2,000 (bench/retrieval_quality.py, docs/BENCHMARKS.md), half
# the rows read per query; 500 put hybrid below keyword-only.
COLLEAGUE_INDEX_DB_RESCORE = 1000
COLLEAGUE_INDEX_DB_REFRESH_SECONDS = 1.0
COLLEAGUE_INDEX_DB_OVERLAP_SECONDS = 120
COLLEAGUE_INDEX_DB_MAX_AGE_SECONDS = 3600

# For COLLEAGUE_INDEX_BACKEND "pgvector": the postgres:// URL of the database (with the vector
# extension) holding the index table; it may be the Django database itself.
PGVECTOR_URL = env_str("PGVECTOR_URL")

# For COLLEAGUE_INDEX_BACKEND "weaviate" (knowledge/index/weaviate.py): the server's REST URL,
# e.g. http://127.0.0.1:8080; queries and batches go over gRPC on WEAVIATE_GRPC_PORT of the same
# host. The API key is sent when set. Chunks live in WEAVIATE_COLLECTION (one tenant per
# colleague) and in WEAVIATE_COLLECTION + "Org" (organisation-wide queries).
WEAVIATE_URL = env_str("WEAVIATE_URL")
WEAVIATE_GRPC_PORT = env_int("WEAVIATE_GRPC_PORT", 50051)
WEAVIATE_API_KEY = env_str("WEAVIATE_API_KEY")
WEAVIATE_COLLECTION = env_str("WEAVIATE_COLLECTION", "ColleagueChunk")

# --- Skill packages (skills/) -----------------------------------------------------------------

# How many versions of each package are kept; older ones are deleted after each build (the
# newest is always kept).
COLLEAGUE_SKILL_KEEP_VERSIONS = env_int("COLLEAGUE_SKILL_KEEP_VERSIONS", 20)
# Who may open a package nobody granted (colleagues/access.py): "organisation" (every signed-in
# member, each seeing only the evidence they may see) or "team" (the colleague, their
# department, the managers above them, and the HR admin and curator roles).
COLLEAGUE_PACKAGE_DEFAULT_ACCESS = env_str("COLLEAGUE_PACKAGE_DEFAULT_ACCESS", "organisation")
if COLLEAGUE_PACKAGE_DEFAULT_ACCESS not in ("organisation", "team"):
    raise ImproperlyConfigured(
        "COLLEAGUE_PACKAGE_DEFAULT_ACCESS must be 'organisation' or 'team', "
        f"not {COLLEAGUE_PACKAGE_DEFAULT_ACCESS!r}"
    )
# At most this many of a colleague's most recent items are analysed per build.
COLLEAGUE_SKILL_MAX_ITEMS = env_int("COLLEAGUE_SKILL_MAX_ITEMS", 20000)

# --- Directory (LDAP; connectors/directory, README "Directory (LDAP)") ------------------------

# The LDAP or Active Directory server, e.g. ldaps://ldap.example.com. Empty: no directory sync
# and no LDAP login. The sync and the login search as LDAP_BIND_DN (empty: anonymously).
LDAP_SERVER_URI = env_str("LDAP_SERVER_URI")
LDAP_BIND_DN = env_str("LDAP_BIND_DN")
LDAP_BIND_PASSWORD = env_str("LDAP_BIND_PASSWORD")
# People: everyone below LDAP_USER_BASE matching LDAP_USER_FILTER (default: OpenLDAP's
# inetOrgPerson entries and Active Directory's user accounts, not its computers).
LDAP_USER_BASE = env_str("LDAP_USER_BASE")
LDAP_USER_FILTER = env_str(
    "LDAP_USER_FILTER", "(|(objectClass=inetOrgPerson)(&(objectCategory=person)(objectClass=user)))"
)
# Groups: with LDAP_GROUP_BASE, the groups below it matching LDAP_GROUP_FILTER, whose
# LDAP_GROUP_MEMBER_ATTR values are member DNs; without it, the people's memberOf (Active
# Directory, or OpenLDAP's memberof overlay).
LDAP_GROUP_BASE = env_str("LDAP_GROUP_BASE")
LDAP_GROUP_FILTER = env_str("LDAP_GROUP_FILTER", "(|(objectClass=groupOfNames)(objectClass=group))")
LDAP_GROUP_MEMBER_ATTR = env_str("LDAP_GROUP_MEMBER_ATTR", "member")
# Attribute names, comma-separated in order of preference: the first one an entry has wins.
LDAP_ATTR_UID = env_list("LDAP_ATTR_UID", ["uid", "sAMAccountName"])
LDAP_ATTR_MAIL = env_list("LDAP_ATTR_MAIL", ["mail"])
LDAP_ATTR_NAME = env_list("LDAP_ATTR_NAME", ["displayName", "cn"])
LDAP_ATTR_TITLE = env_list("LDAP_ATTR_TITLE", ["title"])
LDAP_ATTR_DEPARTMENT = env_list("LDAP_ATTR_DEPARTMENT", ["department", "departmentNumber"])
LDAP_ATTR_MANAGER = env_list("LDAP_ATTR_MANAGER", ["manager"])
LDAP_ATTR_MEMBER_OF = env_list("LDAP_ATTR_MEMBER_OF", ["memberOf"])
# A stable id surviving renames; an entry with none is known by its DN.
LDAP_ATTR_ID = env_list("LDAP_ATTR_ID", ["entryUUID", "objectGUID"])
LDAP_ATTR_MODIFIED = env_str("LDAP_ATTR_MODIFIED", "modifyTimestamp")
# Disabled accounts: Active Directory's userAccountControl ACCOUNTDISABLE bit always; and
# LDAP_DISABLED_ATTR holding one of LDAP_DISABLED_VALUES (empty: any value). The default is
# OpenLDAP ppolicy's administrative lock; a lockout after failed passwords is no departure.
LDAP_DISABLED_ATTR = env_str("LDAP_DISABLED_ATTR", "pwdAccountLockedTime")
LDAP_DISABLED_VALUES = env_list("LDAP_DISABLED_VALUES", ["000001010000Z"])
# Entries per page of a paged search; seconds per network operation.
LDAP_PAGE_SIZE = env_int("LDAP_PAGE_SIZE", 500)
LDAP_TIMEOUT = env_int("LDAP_TIMEOUT", 30)
# A colleague departed by the directory whose account is enabled again is reported, and made
# current again only with this on.
LDAP_REINSTATE_REENABLED = env_bool("LDAP_REINSTATE_REENABLED", default=False)
# A sync without --full reads only entries changed since the last one, except when the last
# full pass (the only one that sees deleted entries) is this many hours old; 0: never then.
LDAP_FULL_SYNC_HOURS = env_int("LDAP_FULL_SYNC_HOURS", 24)
# Roles from LDAP groups at each login and sync: "Role=group DN" pairs separated by ";", e.g.
# "HR admin=cn=hr,ou=groups,dc=example,dc=org;Auditor=cn=audit,ou=groups,dc=example,dc=org".
# Roles named here follow the groups; the others stay as granted in the admin.
LDAP_ROLE_GROUPS = env_str("LDAP_ROLE_GROUPS")
if LDAP_SERVER_URI:
    # After the login rate limiter (which must stay first), before ModelBackend.
    AUTHENTICATION_BACKENDS.insert(
        AUTHENTICATION_BACKENDS.index("django.contrib.auth.backends.ModelBackend"),
        "connectors.directory.auth.DirectoryBackend",
    )
    CELERY_IMPORTS = ["connectors.directory.tasks"]
    # Every LDAP_SYNC_MINUTES minutes (default 15): sync the directory (connectors/directory).
    CELERY_BEAT_SCHEDULE["sync-directory"] = {
        "task": "connectors.directory.tasks.sync_directory",
        "schedule": env_int("LDAP_SYNC_MINUTES", 15) * 60,
    }
