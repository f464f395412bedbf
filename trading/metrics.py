"""Every ``trading_*`` metric the work code moves, defined once, and the small functions it calls.

A leaf: this module imports nothing of the project (only the standard library and prometheus_client),
so any layer - the brokers, the feeds, the engine's Django side - may record a metric without pulling
in the database or Django. Reading the metrics is ``trading.monitoring``'s job.

* **Process metrics** (the ``Counter``/``Gauge``/``Histogram`` objects below) are moved by the process
  that does the work: the trading loop, a Celery child, a web worker. In multiprocess mode
  (``settings.PROMETHEUS_MULTIPROC_DIR``, always set by settings) each process writes them to its own
  file and the web server's ``/metrics`` adds the files up, so a counter moved in a Celery worker shows
  on the web server (``trading.monitoring.multiprocess``). Gauges say how processes combine:
  ``mostrecent`` for market readings, ``max`` for timestamps, ``livesum`` for things that die with their
  process.
* **Database metrics** (open positions, today's P&L, circuit breaker, trade and order counts) are not
  kept by any process: ``trading.monitoring.families`` names them and
  ``trading.monitoring.collector.DatabaseCollector`` computes them from the database at scrape time.

Naming: prefix ``trading_``, counters end in ``_total``, units in the name (``_seconds``, ``_rupees``,
``_percent``, ``_ratio``, ``_points``). Labels have bounded values (strategy, side, mode, index, reason
codes) - never a trade or order id; free text is folded to ``other`` by ``reason_label``.

Every helper function swallows its own errors: a metric must never stop a trade.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram, values

log = logging.getLogger(__name__)

# prometheus_client chooses between in-memory and file-backed values when it is first imported. If
# anything imported it before settings put PROMETHEUS_MULTIPROC_DIR in the environment, switch now:
# every metric below would otherwise live only in this process's memory.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and values.ValueClass is values.MutexValue:
    values.ValueClass = values.get_value_class()

F = TypeVar("F", bound=Callable[..., Any])

# --- label hygiene -------------------------------------------------------------------------------

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_NAME = re.compile(r"[^A-Za-z0-9_.:\-]")
FORBIDDEN_LABELS = frozenset(
    {"trade_id", "order_id", "client_order_id", "broker_order_id", "position_id", "signal_id", "id", "pid"}
)


def label(value: object, default: str = "unknown", max_len: int = 64) -> str:
    """A label value from a name (strategy, index, endpoint): printable, at most ``max_len`` chars."""
    text = "" if value is None else str(value).strip()
    if not text:
        return default
    return _NAME.sub("_", text)[:max_len]


def reason_label(value: object, default: str = "none") -> str:
    """A bounded reason label: a snake_case code (``price_band``, ``max_open_positions``) is kept;
    the text before a colon is tried (``circuit_breaker: daily loss`` -> ``circuit_breaker``); any other
    free text (a broker's message) becomes ``other``, so a label never grows without bound."""
    text = "" if value is None else str(value).strip()
    if not text:
        return default
    head = text.split(":", 1)[0].strip().lower().replace("-", "_")
    return head if _CODE.match(head) else "other"


def _safe(fn: F) -> F:
    """Run a metrics helper; log and swallow anything it raises."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - metrics never break the work they measure
            log.debug("metrics helper %s failed", fn.__name__, exc_info=True)
            return None

    return wrapper  # type: ignore[return-value]


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- buckets ------------------------------------------------------------------------------------

FAST_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CYCLE_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
API_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FILL_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
TASK_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELAY_SECONDS = (0.1, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)
_PNL_STEPS = (250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
PNL_RUPEES = (*(-x for x in reversed(_PNL_STEPS)), 0.0, *_PNL_STEPS)  # symmetric around zero
SLIPPAGE_RUPEES = (-2.0, -0.5, -0.1, 0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)

# =================================================================================================
# Process metrics
# =================================================================================================

# --- signals and strategies -----------------------------------------------------------------------
SIGNALS_GENERATED = Counter(
    "trading_signals_generated_total", "Signals the strategies produced.", ["strategy", "direction"]
)
SIGNALS_ACCEPTED = Counter(
    "trading_signals_accepted_total", "Signals that passed the risk gate.", ["strategy"]
)
SIGNALS_REJECTED = Counter(
    "trading_signals_rejected_total", "Signals the risk gate refused, by reason code.", ["strategy", "reason"]
)
STRATEGY_EVALUATION = Histogram(
    "trading_strategy_evaluation_seconds",
    "Wall time of one strategy's evaluation on one bar.",
    ["strategy"],
    buckets=FAST_SECONDS,
)
STRATEGY_ERRORS = Counter(
    "trading_strategy_errors_total", "Exceptions raised by strategy code (caught by the guard).", ["strategy"]
)
STRATEGY_LAST_SIGNAL = Gauge(
    "trading_strategy_last_signal_timestamp_seconds",
    "Wall-clock time (Unix seconds) the desk saw the strategy's latest signal (a replay's signals are"
    " as recent as the replay, so time() minus it is an age in any run).",
    ["strategy"],
    multiprocess_mode="max",
)

# --- the cycle --------------------------------------------------------------------------------------
CYCLES = Counter(
    "trading_cycles_total", "Engine cycles run, by outcome (ok, error, skipped).", ["index", "outcome"]
)
CYCLE_DURATION = Histogram(
    "trading_cycle_duration_seconds", "Wall time of one engine cycle.", ["index"], buckets=CYCLE_SECONDS
)
CYCLE_LAG = Gauge(
    "trading_cycle_lag_seconds",
    "How far the latest cycle ended behind its bar's close on the market clock: the wall clock minus"
    " the close with the Kite feed; the cycle's own wall time with a simulated or replayed market,"
    " whose clock waits for the cycle.",
    ["index"],
    multiprocess_mode="mostrecent",
)
CYCLE_STAGE = Histogram(
    "trading_cycle_stage_seconds",
    "Wall time of one stage of a cycle (features, exits, signals, risk, orders, persist).",
    ["stage"],
    buckets=FAST_SECONDS,
)
CYCLE_LAST_RUN = Gauge(
    "trading_cycle_last_run_timestamp_seconds",
    "Wall-clock time (Unix seconds) the latest cycle finished.",
    ["index"],
    multiprocess_mode="max",
)
EXITS_TRIGGERED = Counter(
    "trading_exits_triggered_total", "Exit rules that fired on open positions.", ["strategy", "exit_type"]
)
CIRCUIT_BREAKER_TRIPS = Counter(
    "trading_circuit_breaker_trips_total",
    "Times the circuit breaker tripped, by reason.",
    ["index", "reason"],
)
CONTROL_ACTIONS = Counter(
    "trading_control_actions_total",
    "Control actions taken (kill switch, breaker reset, live confirmation, configuration change).",
    ["action"],
)
RECONCILIATIONS = Counter(
    "trading_reconciliation_runs_total",
    "Reconciliations of orders and positions with the broker.",
    ["outcome"],
)
RECONCILIATION_MISMATCHES = Counter(
    "trading_reconciliation_mismatches_total",
    "Differences found between the broker and the database, by kind.",
    ["kind"],
)

# --- market data ------------------------------------------------------------------------------------
MARKET_UPDATES = Counter(
    "trading_market_data_updates_total", "Market bars received from the feed.", ["symbol"]
)
MARKET_LAST_UPDATE = Gauge(
    "trading_market_data_last_update_timestamp_seconds",
    "Wall-clock time (Unix seconds) the latest bar arrived.",
    ["symbol"],
    multiprocess_mode="max",
)
MARKET_BAR_TIME = Gauge(
    "trading_market_bar_timestamp_seconds",
    "Market-clock start (Unix seconds) of the latest bar.",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
MARKET_FETCH = Histogram(
    "trading_market_data_fetch_seconds",
    "Wall time to get one bar from the feed.",
    ["source"],
    buckets=API_SECONDS,
)
MARKET_ERRORS = Counter(
    "trading_market_data_errors_total", "Feed failures (no data, stale, unreachable).", ["source", "reason"]
)
SPOT = Gauge(
    "trading_spot_points",
    "Spot level of the index (close of the latest bar).",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
INDIA_VIX = Gauge(
    "trading_india_vix_percent", "India VIX at the latest bar.", [], multiprocess_mode="mostrecent"
)
PCR = Gauge(
    "trading_pcr_ratio",
    "Put-call ratio of the nearest expiry, by open interest or volume.",
    ["symbol", "basis"],
    multiprocess_mode="mostrecent",
)
MAX_PAIN = Gauge(
    "trading_max_pain_points",
    "Max-pain strike of the nearest expiry.",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
MAX_PAIN_DISTANCE = Gauge(
    "trading_max_pain_distance_points",
    "Spot minus the max-pain strike.",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
ATM_IV = Gauge(
    "trading_atm_iv_percent",
    "At-the-money implied volatility (annualised).",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
IV_RANK = Gauge(
    "trading_iv_rank_percent",
    "IV rank of the ATM IV over the last year (0..100).",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
STRADDLE = Gauge(
    "trading_atm_straddle_premium_rupees",
    "ATM call + put premium per unit.",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
TIME_TO_EXPIRY = Gauge(
    "trading_time_to_expiry_seconds",
    "Time left to the nearest expiry.",
    ["symbol"],
    multiprocess_mode="mostrecent",
)

# --- broker and orders --------------------------------------------------------------------------------
BROKER_LATENCY = Histogram(
    "trading_broker_api_latency_seconds",
    "Wall time of one broker API call.",
    ["broker", "endpoint"],
    buckets=API_SECONDS,
)
BROKER_ERRORS = Counter(
    "trading_broker_api_errors_total",
    "Broker API calls that failed, by error.",
    ["broker", "endpoint", "error"],
)
BROKER_RETRIES = Counter(
    "trading_broker_api_retries_total",
    "Broker API calls retried after a transient failure (a timeout, a network error, HTTP 429).",
    ["broker", "endpoint"],
)
ORDER_FILL_TIME = Histogram(
    "trading_order_fill_time_seconds",
    "Time from an order's time to its complete fill, on the market clock (a paper fill: its latency).",
    ["strategy", "order_type"],
    buckets=FILL_SECONDS,
)
ORDER_SLIPPAGE = Histogram(
    "trading_order_slippage_rupees",
    "Fill price worse than the reference price, rupees per unit: a BUY's fill minus the quote's ask it"
    " was sized on, a SELL's bid minus its fill (negative: price improvement). MARKET and LIMIT orders.",
    ["strategy"],
    buckets=SLIPPAGE_RUPEES,
)

# --- Celery and processes -----------------------------------------------------------------------------
TASK_DURATION = Histogram(
    "trading_celery_task_duration_seconds",
    "Wall time of one Celery task run.",
    ["task"],
    buckets=TASK_SECONDS,
)
TASKS = Counter("trading_celery_tasks_total", "Celery task runs, by final state.", ["task", "state"])
TASK_FAILURES = Counter(
    "trading_celery_task_failures_total",
    "Celery task runs that raised, by exception class.",
    ["task", "exception"],
)
TASK_RETRIES = Counter("trading_celery_task_retries_total", "Celery task retries scheduled.", ["task"])
TASKS_RUNNING = Gauge(
    "trading_celery_tasks_in_progress", "Celery tasks running now.", ["task"], multiprocess_mode="livesum"
)
PROCESSES = Gauge(
    "trading_processes",
    "Live processes of each role (worker, trader, beat).",
    ["role"],
    multiprocess_mode="livesum",
)

# --- system -------------------------------------------------------------------------------------------
SYSTEM_ERRORS = Counter(
    "trading_system_errors_total",
    "Errors by component and severity (warning, error, critical).",
    ["component", "severity"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "trading_websocket_connections", "Open dashboard WebSocket connections.", [], multiprocess_mode="livesum"
)
WEBSOCKET_MESSAGES = Counter(
    "trading_websocket_messages_sent_total",
    "Messages pushed to live-desk WebSockets: events by kind, snapshots, heartbeats.",
    ["kind"],
)
WEBSOCKET_EVENT_LAG = Histogram(
    "trading_websocket_event_lag_seconds",
    "From an event's write in the outbox to its send on a live-desk WebSocket (oldest event of a frame).",
    [],
    buckets=LAG_SECONDS,
)
NOTIFICATIONS = Counter(
    "trading_notifications_total",
    "Notifications by channel (telegram, email) and outcome (sent, failed, rate_limited, retried).",
    ["channel", "outcome"],
)
TRADE_PNL = Histogram(
    "trading_trade_pnl_rupees",
    "Net P&L of each trade as the journal recorded it (observed by the recording process).",
    ["strategy", "mode"],
    buckets=PNL_RUPEES,
)
TRADE_RECORD_DELAY = Histogram(
    "trading_trade_record_delay_seconds",
    "Wall seconds from the cycle that closed a trade to its commit in the journal (large after a spool"
    " replay; never the market clock, so a simulated session measures the same path).",
    ["mode"],
    buckets=DELAY_SECONDS,
)

# =================================================================================================
# Helpers the work code calls (each never raises)
# =================================================================================================


@_safe
def signal_seen(strategy: str, status: str, reason: str = "", direction: str = "") -> None:
    """Count one signal: generated, then accepted or rejected (``status`` ACCEPTED/REJECTED) with the
    risk gate's reason code."""
    name = label(strategy)
    SIGNALS_GENERATED.labels(name, label(direction, "none").upper()).inc()
    STRATEGY_LAST_SIGNAL.labels(name).set(time.time())
    if str(status).upper() == "ACCEPTED":
        SIGNALS_ACCEPTED.labels(name).inc()
    else:
        SIGNALS_REJECTED.labels(name, reason_label(reason, "unknown")).inc()


@_safe
def strategy_evaluated(strategy: str, seconds: float) -> None:
    """Observe one strategy evaluation (wall seconds)."""
    STRATEGY_EVALUATION.labels(label(strategy)).observe(max(float(seconds), 0.0))


@_safe
def strategy_error(strategy: str) -> None:
    """Count an exception raised by a strategy (the guard caught it)."""
    STRATEGY_ERRORS.labels(label(strategy)).inc()
    SYSTEM_ERRORS.labels("strategy", "error").inc()


@_safe
def cycle_observed(
    seconds: float, lag_seconds: float | None = None, index: str = "NIFTY", outcome: str = "ok"
) -> None:
    """Observe one engine cycle: its wall time, how far it ran behind the market clock, its outcome."""
    idx = label(index)
    CYCLES.labels(idx, reason_label(outcome, "ok")).inc()
    CYCLE_DURATION.labels(idx).observe(max(float(seconds), 0.0))
    lag = _finite(lag_seconds)
    if lag is not None:
        CYCLE_LAG.labels(idx).set(lag)
    CYCLE_LAST_RUN.labels(idx).set(time.time())


@_safe
def stage_observed(stage: str, seconds: float) -> None:
    """Observe one stage of a cycle (features, exits, signals, risk, orders, persist)."""
    CYCLE_STAGE.labels(reason_label(stage, "other")).observe(max(float(seconds), 0.0))


@_safe
def market_updated(bar: Any, features: Mapping[str, Any] | None = None, source: str = "") -> None:
    """Count one bar from the feed and set the market gauges from it (``MarketBar``: index, time,
    close, vix) and from its feature row when given (pcr_oi, pcr_volume, max_pain, max_pain_distance,
    atm_iv as a fraction, iv_rank, straddle_premium, minutes_to_expiry)."""
    symbol = label(getattr(bar, "index", None) or (features or {}).get("index"), "NIFTY")
    MARKET_UPDATES.labels(symbol).inc()
    MARKET_LAST_UPDATE.labels(symbol).set(time.time())
    bar_time = getattr(bar, "time", None)
    if bar_time is not None and hasattr(bar_time, "timestamp"):
        MARKET_BAR_TIME.labels(symbol).set(bar_time.timestamp())
    spot = _finite(getattr(bar, "close", None))
    if spot is not None:
        SPOT.labels(symbol).set(spot)
    vix = _finite(getattr(bar, "vix", None))
    if vix is not None:
        INDIA_VIX.set(vix)
    if not features:
        return
    get = features.get
    for basis, key in (("oi", "pcr_oi"), ("volume", "pcr_volume")):
        v = _finite(get(key))
        if v is not None:
            PCR.labels(symbol, basis).set(v)
    for gauge, key, scale in (
        (MAX_PAIN, "max_pain", 1.0),
        (MAX_PAIN_DISTANCE, "max_pain_distance", 1.0),
        (ATM_IV, "atm_iv", 100.0),
        (IV_RANK, "iv_rank", 1.0),
        (STRADDLE, "straddle_premium", 1.0),
        (TIME_TO_EXPIRY, "minutes_to_expiry", 60.0),
    ):
        v = _finite(get(key))
        if v is not None:
            gauge.labels(symbol).set(v * scale)


@contextmanager
def timed_market_fetch(source: str) -> Iterator[None]:
    """``with timed_market_fetch("SIM"): bar = feed.snapshot(at)`` observes the fetch time, and counts
    an exception leaving the block as a feed error (it is re-raised)."""
    start = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        market_error(source, exc)
        raise
    market_fetched(source, time.perf_counter() - start)


@_safe
def market_fetched(source: str, seconds: float) -> None:
    """Observe the wall time of getting one bar from a feed (SIM, REPLAY, KITE)."""
    MARKET_FETCH.labels(label(source).upper()).observe(max(float(seconds), 0.0))


@_safe
def market_error(source: str, reason: str = "") -> None:
    """Count a feed failure (``reason`` a code or an exception: folded to a bounded label)."""
    if isinstance(reason, BaseException):
        reason = type(reason).__name__.lower()
    MARKET_ERRORS.labels(label(source).upper(), reason_label(reason, "unknown")).inc()
    SYSTEM_ERRORS.labels("marketdata", "warning").inc()


@_safe
def broker_call(endpoint: str, seconds: float, error: object = None, broker: str = "paper") -> None:
    """Observe one broker API call: its latency, and its failure when ``error`` (an exception or a
    code) is given."""
    b, e = label(broker).lower(), label(endpoint, "other", max_len=48)
    BROKER_LATENCY.labels(b, e).observe(max(float(seconds), 0.0))
    if error is not None and error is not False:
        code = type(error).__name__ if isinstance(error, BaseException) else error
        BROKER_ERRORS.labels(b, e, label(code, "error", max_len=48)).inc()


@_safe
def broker_retry(endpoint: str, broker: str = "kite") -> None:
    """Count one retry of a broker API call (after a transient failure)."""
    BROKER_RETRIES.labels(label(broker).lower(), label(endpoint, "other", max_len=48)).inc()


@contextmanager
def timed_broker_call(endpoint: str, broker: str = "paper") -> Iterator[None]:
    """``with timed_broker_call("place_order", "kite"): ...`` observes the latency, and an exception
    leaving the block as an error (it is re-raised)."""
    start = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        broker_call(endpoint, time.perf_counter() - start, error=exc, broker=broker)
        raise
    broker_call(endpoint, time.perf_counter() - start, broker=broker)


def instrument_kite(kite: Any) -> Any:
    """Time every REST call of a ``KiteConnect`` client by its route (``order.place``, ``orders``,
    ``order.info``, ``quote``, ...): latency, and errors by exception class. Returns ``kite``; anything
    that is not a real KiteConnect (a test double) is returned untouched."""
    original = getattr(kite, "_request", None)
    if not type(kite).__module__.startswith("kiteconnect") or original is None:
        return kite
    if getattr(original, "_desk_metrics", False):
        return kite

    def _request(route, method, *args, **kwargs):
        start = time.perf_counter()
        try:
            result = original(route, method, *args, **kwargs)
        except Exception as exc:
            broker_call(route, time.perf_counter() - start, error=exc, broker="kite")
            raise
        broker_call(route, time.perf_counter() - start, broker="kite")
        return result

    _request._desk_metrics = True  # type: ignore[attr-defined]
    kite._request = _request
    return kite


@_safe
def order_filled(
    strategy: str, order_type: str, seconds: float | None, slippage: float | None = None
) -> None:
    """Observe a complete fill: seconds from submission, and slippage in rupees per unit."""
    name = label(strategy)
    s = _finite(seconds)
    if s is not None:
        ORDER_FILL_TIME.labels(name, label(order_type, "MARKET").upper()).observe(max(s, 0.0))
    slip = _finite(slippage)
    if slip is not None:
        ORDER_SLIPPAGE.labels(name).observe(slip)


@_safe
def exit_triggered(strategy: str, exit_type: str) -> None:
    """Count an exit rule that fired (STOP_LOSS, TARGET, TRAILING_STOP, TIME_EXIT, ...)."""
    EXITS_TRIGGERED.labels(label(strategy), label(exit_type, "OTHER", max_len=24).upper()).inc()


@_safe
def circuit_breaker_tripped(index: str, reason: str = "") -> None:
    """Count one trip of the circuit breaker."""
    CIRCUIT_BREAKER_TRIPS.labels(label(index), reason_label(reason, "unknown")).inc()


@_safe
def control_action(action: str) -> None:
    """Count one audited control action (kill_switch_on, breaker_reset, live_confirmed, ...)."""
    CONTROL_ACTIONS.labels(reason_label(action, "other")).inc()


@_safe
def reconciled(outcome: str = "ok", mismatches: Mapping[str, int] | None = None) -> None:
    """Count one reconciliation and the mismatches it found, by kind."""
    RECONCILIATIONS.labels(reason_label(outcome, "ok")).inc()
    for kind, n in (mismatches or {}).items():
        if n:
            RECONCILIATION_MISMATCHES.labels(reason_label(kind, "other")).inc(float(n))


@_safe
def system_error(component: str, severity: str = "error") -> None:
    """Count an error of a component (engine, broker, marketdata, journal, web, ...)."""
    sev = str(severity).lower()
    SYSTEM_ERRORS.labels(
        reason_label(component, "other"), sev if sev in ("warning", "error", "critical") else "error"
    ).inc()


@_safe
def process_started(role: str) -> None:
    """Mark this process as a live one of ``role`` (worker, trader, beat) until it exits."""
    PROCESSES.labels(reason_label(role, "other")).set(1)


@_safe
def websocket_opened() -> None:
    """A live-desk WebSocket was accepted (until ``websocket_closed``)."""
    WEBSOCKET_CONNECTIONS.inc()


@_safe
def websocket_closed() -> None:
    """A live-desk WebSocket closed."""
    WEBSOCKET_CONNECTIONS.dec()


@_safe
def websocket_sent(kind: str, count: int = 1) -> None:
    """Count ``count`` messages of ``kind`` (an event kind, ``snapshot``, ``heartbeat``) pushed to a client."""
    WEBSOCKET_MESSAGES.labels(label(kind, "other", max_len=24)).inc(count)


@_safe
def websocket_event_lag(seconds: float) -> None:
    """Observe the wall seconds from an event's write to its send on a WebSocket."""
    WEBSOCKET_EVENT_LAG.observe(max(float(seconds), 0.0))


@_safe
def notification(channel: str, outcome: str) -> None:
    """Count one notification attempt's outcome (sent, failed, rate_limited, retried) on a channel."""
    NOTIFICATIONS.labels(reason_label(channel, "other"), reason_label(outcome, "other")).inc()


@_safe
def trade_recorded(trade: Any, closed_wall_time: float | None = None) -> None:
    """Observe a trade the journal just committed (hook of ``journal.services``): its net P&L, and
    the wall seconds since ``closed_wall_time`` (Unix seconds: when the engine's cycle closed it;
    None for a trade entered by hand or imported, which has no such moment)."""
    mode = label(getattr(trade, "entry_mode", ""), "PAPER").upper()
    pnl = _finite(getattr(trade, "net_pnl", None))
    if pnl is not None:
        TRADE_PNL.labels(label(getattr(trade, "strategy_name", None)), mode).observe(pnl)
    closed = _finite(closed_wall_time)
    if closed is None or mode == "BACKTEST":
        return  # a backtest writes history: its delay says nothing about the live path
    TRADE_RECORD_DELAY.labels(mode).observe(max(time.time() - closed, 0.0))


@_safe
def preset(
    *,
    strategies: Iterable[str] = (),
    directions: Iterable[str] = (),
    reject_reasons: Iterable[str] = (),
    exit_types: Iterable[str] = (),
    indices: Iterable[str] = (),
    cycle_outcomes: Iterable[str] = (),
    control_actions: Iterable[str] = (),
    modes: Iterable[str] = (),
    order_types: Iterable[str] = (),
    errors: Iterable[tuple[str, str]] = (),
) -> None:
    """Create the known label sets of the event counters and histograms at 0 when a process starts:
    a series that first appears already at 1 hides that event from ``increase()``/``rate()``."""
    names = [label(s) for s in strategies]
    modes = [label(m).upper() for m in modes]
    for mode in modes:
        TRADE_RECORD_DELAY.labels(mode)
    for name in names:
        SIGNALS_ACCEPTED.labels(name)
        STRATEGY_ERRORS.labels(name)
        ORDER_SLIPPAGE.labels(name)
        for mode in modes:
            TRADE_PNL.labels(name, mode)
        for order_type in order_types:
            ORDER_FILL_TIME.labels(name, label(order_type, "MARKET").upper())
        for direction in directions:
            SIGNALS_GENERATED.labels(name, label(direction, "none").upper())
        for reason in reject_reasons:
            SIGNALS_REJECTED.labels(name, reason_label(reason, "unknown"))
        for exit_type in exit_types:
            EXITS_TRIGGERED.labels(name, label(exit_type, "OTHER", max_len=24).upper())
    for index in indices:
        for outcome in cycle_outcomes:
            CYCLES.labels(label(index), reason_label(outcome, "ok"))
    for action in control_actions:
        CONTROL_ACTIONS.labels(reason_label(action, "other"))
    for component, severity in errors:
        SYSTEM_ERRORS.labels(reason_label(component, "other"), severity)


def process_families() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, type, label names) of every process metric defined here, name as exposed."""
    out = []
    for obj in globals().values():
        if isinstance(obj, Counter | Gauge | Histogram):
            out.append((obj._name, obj._type, tuple(obj._labelnames)))
    return sorted(out)
