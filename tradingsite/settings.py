"""Settings of the options desk: one file, every knob from the environment.

With no environment at all the system runs embedded: SQLite under ``var/``, Celery tasks eager and
in-process, no Redis, PAPER trading. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def envstr(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


TESTING = "pytest" in sys.modules or envbool("TESTING")

# --- Security -----------------------------------------------------------------------------------
DEBUG = envbool("DEBUG", False)


def _weak_secret_key(key: str) -> str:
    """Why ``key`` is too weak for production ('' when it is not): Django's own rule (check W009)."""
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"it starts with {SECRET_KEY_INSECURE_PREFIX!r}"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"{len(key)} characters, at least {SECRET_KEY_MIN_LENGTH} needed"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"{len(set(key))} distinct characters, at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} needed"
    return ""


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        weak = _weak_secret_key(key)
        if weak and not DEBUG and not TESTING:
            raise ImproperlyConfigured(
                f"SECRET_KEY is too weak for DEBUG off ({weak}): set a random one, e.g. "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
        return key
    if not DEBUG and not TESTING and not envbool("ALLOW_DEV_SECRET_KEY"):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off: refusing to start with a development key. "
            "Set SECRET_KEY (or DEBUG=1 for development)."
        )
    # A development key, generated once and kept under var/ so sessions survive restarts.
    path = VAR_DIR / "dev_secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
# HTTPS (production behind a TLS proxy: README, "Production"). Off by default: `make run` and the
# tests speak plain HTTP on loopback. /healthz and /metrics are never redirected (machines fetch them
# over the private network).
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", False)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)  # e.g. 31536000 (a year) once HTTPS works
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)


def _proxy_ssl_header(header: str) -> tuple[str, str] | None:
    """``SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto`` (the header the TLS proxy sets to ``https``)
    as Django's (META key, value) pair; None when unset."""
    if not header:
        return None
    return "HTTP_" + header.strip().upper().replace("-", "_"), "https"


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(envstr("SECURE_PROXY_SSL_HEADER"))
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Applications --------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_prometheus",
    "channels",
    "trading",
    "journal",
    "analytics",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "tradingsite.middleware.refuse_nul_in_query",
    "tradingsite.middleware.DatabaseUnavailableMiddleware",  # 503, never 500, while the database is away
    "tradingsite.streaming.stream_for_asgi",  # before WhiteNoise: static files stream under ASGI too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "tradingsite.middleware.sync_below",  # innermost: the whole chain above runs in one thread (ASGI)
]

ROOT_URLCONF = "tradingsite.urls"
WSGI_APPLICATION = "tradingsite.wsgi.application"
ASGI_APPLICATION = "tradingsite.asgi.application"

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
                "tradingsite.context_processors.desk",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'desk.sqlite3'}")
# Under ASGI (no persistent connections) up to this many idle connections per process are kept and
# handed to the next requests (tradingsite/postgresql/base.py); 0: each request's is closed.
DB_KEEP_IDLE = envint("DB_KEEP_IDLE", 0)
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db["ENGINE"] = "django_prometheus.db.backends.postgresql"
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("connect_timeout", envint("DB_CONNECT_TIMEOUT", 3))
    _db["CONN_HEALTH_CHECKS"] = True
    if DB_KEEP_IDLE > 0 and _db["CONN_MAX_AGE"] == 0:
        # Connections of finished requests kept for the next ones (the ASGI server turns it on).
        _db["ENGINE"] = "tradingsite.postgresql"
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["ENGINE"] = "django_prometheus.db.backends.sqlite3"
    # WAL + immediate transactions: the web server and the trading loop never meet "database is
    # locked" (a deferred transaction that later wants to write cannot wait for the lock).
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    )
    _db["CONN_MAX_AGE"] = 0 if TESTING else _db.get("CONN_MAX_AGE", 60)
    # A file, not :memory:, so that tests can drop and reopen the connection (the spool tests do).
    _db["TEST"] = {"NAME": str(Path(os.environ.get("TMPDIR", "/tmp")) / f"desk-test-{os.getpid()}.sqlite3")}
DATABASES = {"default": _db}
IS_POSTGRES = "postgresql" in _db["ENGINE"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery ------------------------------------------------------------------------------
REDIS_URL = envstr("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.NativeRedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Embedded default: no broker, every task runs in the caller's process.
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# A task lost with its worker must come back: ack after the work, re-queue when the worker dies,
# and a visibility timeout short enough (Redis default is an hour) that it comes back within 2 min.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 60),
    # Sweep for unacked messages every 5 s (kombu's default scans every 10 x 10 s = 100 s, which on
    # top of the visibility timeout would bring a task lost with its worker back only after ~160 s).
    "unacked_restore_interval": envint("CELERY_UNACKED_RESTORE_INTERVAL", 5),
    "unacked_restore_throttle": 1,
}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 50)
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 40)
CELERY_TIMEZONE = "Asia/Kolkata"
CELERY_WORKER_MAX_TASKS_PER_CHILD = envint("CELERY_WORKER_MAX_TASKS_PER_CHILD", 1000)
# The beat schedule is kept beside the tasks it names (trading/schedule.py imports no Django).
from trading.schedule import BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE

# --- Internationalisation: stored in UTC, shown in IST -------------------------------------------
LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = False
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from static/ without a collectstatic step (make run works on a fresh clone).
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Django's ModelBackend reading a user's permissions in one query rather than two (trading/access.py).
AUTHENTICATION_BACKENDS = ["trading.access.RoleBackend"]

# --- REST framework -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous request gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trading.access.TokenAuthentication",  # DRF's, in one SQL statement
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every endpoint names the permission it needs (trading/access.py); one that names none refuses.
    "DEFAULT_PERMISSION_CLASSES": ["trading.access.RolePermission"],
    # JSON nested too deep, or with NUL characters, is a 400 (trading/inputs.py).
    "DEFAULT_PARSER_CLASSES": [
        "tradingsite.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Options desk API",
    "DESCRIPTION": "Trade journal, orders, positions, signals and market data of the options desk.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from static/vendor (npm swagger-ui-dist), not a CDN; no call to the online validator.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # One name per shared choice set (trades, orders, positions and signals use the same ones).
    # Every operation documents 400/401/403/404 (tradingsite/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tradingsite.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "InstrumentTypeEnum": "trading.choices.InstrumentType",
        "ModeEnum": "trading.choices.Mode",
        "SideEnum": "trading.choices.Side",
        "DataSourceEnum": "trading.choices.DataSource",
    },
}

# --- Trading --------------------------------------------------------------------------------------
TRADING_MODE = envstr("TRADING_MODE", "PAPER").upper()
if TRADING_MODE not in ("PAPER", "LIVE"):
    raise ImproperlyConfigured(f"TRADING_MODE must be PAPER or LIVE, not {TRADING_MODE!r}")
LIVE_TRADING_ENABLED = envbool("LIVE_TRADING_ENABLED", False)
TRADING_INDEX = envstr("TRADING_INDEX", "NIFTY")
TRADING_CAPITAL = envfloat("TRADING_CAPITAL", 500000.0)
# The report's Monte Carlo: the chance of the equity touching this fraction of TRADING_CAPITAL (docs/research.md).
MONTE_CARLO_FLOOR = envfloat("MONTE_CARLO_FLOOR", 0.9)
RESEARCH_MAX_CANDIDATES = envint("RESEARCH_MAX_CANDIDATES", 64)  # combinations of one walk-forward study
BROKERAGE_PER_ORDER = envstr("BROKERAGE_PER_ORDER", "20")
TRADE_SPOOL_PATH = Path(envstr("TRADE_SPOOL_PATH", str(VAR_DIR / "trade_spool.jsonl")))
# Tradebook import: legs of one underlying opened within this many seconds of the first are one combo
# (journal.combo_grouping.group_combos); the import preview lets the user change it per file.
JOURNAL_COMBO_WINDOW_SECONDS = envint("JOURNAL_COMBO_WINDOW_SECONDS", 60)

# Analytics (docs/analytics.md): the yearly risk-free rate of Sharpe and Sortino (a fraction), and the
# bounds of the VIX-regime and PCR breakdowns as "low,high" (unset: journal.buckets' defaults, the
# strategies' vix_low/vix_high and DOMAIN.md's "0.7-1.3 normal" PCR reading). Breakdowns read the
# pre-aggregated cells (journal.cells) when they can; ANALYTICS_BREAKDOWN_CELLS=0 always groups the trades.
ANALYTICS_RISK_FREE_RATE = envfloat("ANALYTICS_RISK_FREE_RATE", 0.0)
ANALYTICS_VIX_BOUNDS = tuple(float(x) for x in envlist("ANALYTICS_VIX_BOUNDS"))
ANALYTICS_PCR_BOUNDS = tuple(float(x) for x in envlist("ANALYTICS_PCR_BOUNDS"))
ANALYTICS_BREAKDOWN_CELLS = envbool("ANALYTICS_BREAKDOWN_CELLS", True)


def _capital_by_mode(items: list[str]) -> dict[str, float]:
    """``["PAPER=500000", "LIVE=200000"]`` -> {mode: rupees}; a bad item stops the start, named."""
    out: dict[str, float] = {}
    for item in items:
        mode, _, amount = item.partition("=")
        mode = mode.strip().upper()
        try:
            rupees = float(amount)
        except ValueError:
            rupees = math.nan
        if mode not in ("PAPER", "LIVE", "BACKTEST", "ALL") or not (math.isfinite(rupees) and rupees > 0):
            raise ImproperlyConfigured(
                f"ANALYTICS_CAPITAL item {item!r}: expected MODE=rupees with MODE one of PAPER, LIVE, "
                "BACKTEST, ALL and a positive amount"
            )
        out[mode] = rupees
    return out


# The starting capital of analytics' equity and returns per mode, "PAPER=500000,LIVE=200000"; a mode
# not named (and mode=ALL unless "ALL=" is given) starts from TRADING_CAPITAL.
ANALYTICS_CAPITAL = _capital_by_mode(envlist("ANALYTICS_CAPITAL"))

# Risk and execution (trading.core.risk.RiskConfig, trading.core.orders.ContractRule); times in IST.
RISK_PER_TRADE = envfloat("RISK_PER_TRADE", 0.01)  # fraction of TRADING_CAPITAL at risk per trade
RISK_MAX_LOTS = envint("RISK_MAX_LOTS", 20)
STOP_LOSS_PCT = envfloat("STOP_LOSS_PCT", 0.30)  # of the premium, at VIX_REFERENCE
TARGET_PCT = envfloat("TARGET_PCT", 0.60)
TRAIL_PCT = envfloat("TRAIL_PCT", 0.20)
TRAIL_ACTIVATION_PCT = envfloat("TRAIL_ACTIVATION_PCT", 0.20)
VIX_REFERENCE = envfloat("VIX_REFERENCE", 15.0)
ENTRY_START = envstr("ENTRY_START", "09:20")
NO_ENTRY_AFTER = envstr("NO_ENTRY_AFTER", "14:45")
SQUARE_OFF_AT = envstr("SQUARE_OFF_AT", "15:15")
MAX_OPEN_POSITIONS = envint("MAX_OPEN_POSITIONS", 5)
DAILY_LOSS_LIMIT = envfloat("DAILY_LOSS_LIMIT", 10000.0)  # rupees, net
MAX_CONSECUTIVE_LOSSES = envint("MAX_CONSECUTIVE_LOSSES", 4)
CONTRACT_EXPIRY = envstr("CONTRACT_EXPIRY", "nearest_weekly")  # nearest_weekly, next_weekly, monthly
CONTRACT_STRIKE = envstr("CONTRACT_STRIKE", "ATM")  # ATM, OTM, DELTA
CONTRACT_OTM_STEPS = envint("CONTRACT_OTM_STEPS", 1)
CONTRACT_TARGET_DELTA = envfloat("CONTRACT_TARGET_DELTA", 0.5)
ORDER_TYPE = envstr("ORDER_TYPE", "MARKET")
# The margin ESTIMATE of multi-leg combos in paper trading and backtests (trading.core.combos.margin;
# LIVE asks the broker's basket margin): fractions of the spot.
MARGIN_SPAN_PCT = envfloat("MARGIN_SPAN_PCT", 0.06)
MARGIN_FLOOR_PCT = envfloat("MARGIN_FLOOR_PCT", 0.03)
MARGIN_EXPOSURE_PCT = envfloat("MARGIN_EXPOSURE_PCT", 0.02)
MARGIN_ITM_LONG_COVERS = envbool("MARGIN_ITM_LONG_COVERS", True)
TRADING_BROKER = envstr("TRADING_BROKER", "")  # LIVE's broker (default kite); PAPER is paper, always
# The simulated market of the paper desk (Celery beat path; runtrader takes --seed/--start).
SIM_SEED = envint("SIM_SEED", 7)
SIM_START = envstr("SIM_START", "2025-01-01")
# Market data (trading/marketdata/registry.py): sim | replay | kite | store. The Kite ticker process publishes
# minute bars and records the day's chain (replay format, docs/replay-format.md) under MARKET_DATA_DIR.
MARKET_FEED = envstr("MARKET_FEED", "sim").lower()
MARKET_DATA_DIR = Path(envstr("MARKET_DATA_DIR", str(VAR_DIR / "marketdata")))
MARKET_REPLAY_PATH = envstr("MARKET_REPLAY_PATH", "")
FEATURE_WARMUP_SESSIONS = envint("FEATURE_WARMUP_SESSIONS", 5)
CYCLE_LOCK_TIMEOUT = envint("CYCLE_LOCK_TIMEOUT", 30)  # seconds a cycle waits for its index's lock

KITE_API_KEY = envstr("KITE_API_KEY")
KITE_API_SECRET = envstr("KITE_API_SECRET")
KITE_ROOT_URL = envstr("KITE_ROOT_URL", "https://api.kite.trade")
KITE_LOGIN_URL = envstr("KITE_LOGIN_URL", "https://kite.zerodha.com/connect/login")
KITE_ALGO_ID = envstr("KITE_ALGO_ID")
KITE_STATIC_IP = envstr("KITE_STATIC_IP")
# Live order working (trading/brokers/kite/): re-price up to N times (Kite allows 25 modifications),
# waiting this long for a fill each time; the marketable LIMIT sits this many ticks over the touch.
KITE_TIMEOUT = envfloat("KITE_TIMEOUT", 7.0)
KITE_MAX_RETRIES = envint("KITE_MAX_RETRIES", 5)
KITE_RETRY_WAIT_SECONDS = envfloat("KITE_RETRY_WAIT_SECONDS", 2.0)
KITE_POLL_SECONDS = envfloat("KITE_POLL_SECONDS", 0.5)
KITE_PRICE_BUFFER_TICKS = envint("KITE_PRICE_BUFFER_TICKS", 2)
# Paper fills (trading/core/fills.py): slippage against the taker in 0.05 ticks, order-to-fill latency.
PAPER_SLIPPAGE_TICKS = envint("PAPER_SLIPPAGE_TICKS", 0)
PAPER_LATENCY_MS = envint("PAPER_LATENCY_MS", 0)

# --- Metrics --------------------------------------------------------------------------------------
METRICS_TOKEN = envstr("METRICS_TOKEN") or (
    Path(envstr("METRICS_TOKEN_FILE")).read_text().strip() if envstr("METRICS_TOKEN_FILE") else ""
)
PROMETHEUS_EXPORT_MIGRATIONS = False
# prometheus_client multiprocess mode: every process on this host (web workers, trading loop, Celery
# children) writes its metrics to files here and the web server's /metrics sums them. It must be in the
# environment before prometheus_client is first imported, which is why settings sets it (tests get a
# directory of their own per process). See trading/monitoring/multiprocess.py and docs/metrics.md.
PROMETHEUS_MULTIPROC_DIR = envstr(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(os.environ.get("TMPDIR", "/tmp")) / f"desk-prometheus-{os.getpid()}")
    if TESTING
    else str(VAR_DIR / "prometheus"),
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# A Celery worker on another host serves its own metrics on this port (0: off; on the web server's host
# the web /metrics already includes the workers through the shared directory).
WORKER_METRICS_PORT = envint("WORKER_METRICS_PORT", 0)
WORKER_METRICS_ADDR = envstr("WORKER_METRICS_ADDR", "0.0.0.0")

# --- The live desk: events, WebSocket, notifications (docs/livedesk.md) -----------------------------------
# Events older than this are pruned from the outbox; a client whose position is older gets a fresh snapshot.
OUTBOX_RETENTION_DAYS = envfloat("OUTBOX_RETENTION_DAYS", 7.0)
# How often the WebSocket relay looks for new events (seconds): the floor of the event-to-browser latency.
DESK_STREAM_POLL_SECONDS = envfloat("DESK_STREAM_POLL_SECONDS", 0.025)
# Channels: with REDIS_URL (or CHANNELS_REDIS_URL) channels-redis fans the events out across web processes
# (one relay reads the outbox, elected by a Redis lock); without it each web process tails the outbox itself.
CHANNELS_REDIS_URL = envstr("CHANNELS_REDIS_URL", REDIS_URL)
if CHANNELS_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Each WebSocket joins the group and listens through this pool: room for a burst of
                # connections (redis-py's asyncio pool refuses, rather than waits, past its size).
                "hosts": [
                    {
                        "address": CHANNELS_REDIS_URL,
                        "max_connections": envint("CHANNELS_REDIS_MAX_CONNECTIONS", 2000),
                        # Longer than channels-redis's 5 s blocking pop: redis-py 8's default socket
                        # timeout is also 5 s, and a busy process lost the race (a dropped socket).
                        "socket_timeout": 15,
                    }
                ],
                "capacity": 500,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 500}}
    }

# Notifications (trading/notifications): a consumer of the outbox beside the trading loop (embedded) or on
# its own Celery queue (distributed). Each channel sends only the event types listed for it:
# fill, trade_closed, breaker, kill_switch, feed, spool, daily_summary.
NOTIFY_EVENTS_DEFAULT = "trade_closed,breaker,kill_switch,feed,spool,daily_summary"
TELEGRAM_BOT_TOKEN = envstr("TELEGRAM_BOT_TOKEN")
TELEGRAM_CHAT_ID = envstr("TELEGRAM_CHAT_ID")
TELEGRAM_API_BASE = envstr("TELEGRAM_API_BASE", "https://api.telegram.org")
TELEGRAM_EVENTS = envlist("TELEGRAM_EVENTS", NOTIFY_EVENTS_DEFAULT)
TELEGRAM_MESSAGES_PER_MINUTE = envfloat("TELEGRAM_MESSAGES_PER_MINUTE", 20.0)  # Telegram: ~20/min to a group
NOTIFY_EMAIL_TO = envlist("NOTIFY_EMAIL_TO")
NOTIFY_EMAIL_EVENTS = envlist("NOTIFY_EMAIL_EVENTS", "breaker,kill_switch,feed,spool,daily_summary")
NOTIFY_EMAILS_PER_MINUTE = envfloat("NOTIFY_EMAILS_PER_MINUTE", 6.0)
NOTIFY_RETRIES = envint(
    "NOTIFY_RETRIES", 3
)  # attempts after the first, with backoff; then logged and counted
NOTIFY_TIMEOUT = envfloat("NOTIFY_TIMEOUT", 10.0)  # seconds per HTTP call to the Bot API
NOTIFY_POLL_SECONDS = envfloat("NOTIFY_POLL_SECONDS", 1.0)
NOTIFY_SPOOL_ALERT_SECONDS = envint("NOTIFY_SPOOL_ALERT_SECONDS", 180)  # spool waiting longer: "not draining"
NOTIFY_DAILY_SUMMARY_AT = envstr("NOTIFY_DAILY_SUMMARY_AT", "15:45")  # IST, on the wall clock (live desk)
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "options-desk@localhost")
# Research (backtest runs, sweep combinations) on its own queue: the trading workers (Procfile
# "worker", no -Q: the default queue only) never take it, so a sweep never delays a cycle.
CELERY_TASK_ROUTES = {
    "trading.tasks.notify": {"queue": "notifications"},
    "trading.tasks.backtest_run": {"queue": "research"},
    "trading.tasks.sweep_combination": {"queue": "research"},
    "trading.tasks.sweep_prepare": {"queue": "research"},
}

# --- Backtest runs and sweeps (docs/backtests.md) -------------------------------------------------
BACKTEST_STALE_SECONDS = envint("BACKTEST_STALE_SECONDS", 300)  # RUNNING with no sign of life: FAILED
BACKTEST_TIME_LIMIT = envint("BACKTEST_TIME_LIMIT", 3600)  # seconds a backtest task may run (hard)
# A run done, how long its journal waits for a database that is away (a restart) before it gives up.
BACKTEST_DB_WAIT_SECONDS = envint("BACKTEST_DB_WAIT_SECONDS", 60)
# Embedded (no broker): a run or sweep started from a page runs in a thread of the web process and the
# page answers at once (``make run`` sets it for its web server); off, the request runs it to the end.
BACKTEST_EMBEDDED_BACKGROUND = envbool("BACKTEST_EMBEDDED_BACKGROUND", False)
SWEEP_EMBEDDED_WORKERS = envint("SWEEP_EMBEDDED_WORKERS", 2)  # processes of the embedded sweep pool

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Market-data store (trading/marketdata/store, docs/marketdata-store.md) ------------------------
# Parquet partitions by kind, index and date: bhavcopy end-of-day chains, minute spot/chains/futures,
# daily index closes and India VIX. `manage.py marketdata import|list|verify|eod` reads and fills it.
# MARKETDATA_DIR is the one name; the older MARKET_DATA_DIR (the Kite ticker's directory) is still read
# as its fallback, so an environment that set only that keeps its store where it was.
MARKETDATA_DIR = Path(envstr("MARKETDATA_DIR", envstr("MARKET_DATA_DIR", str(VAR_DIR / "marketdata"))))
