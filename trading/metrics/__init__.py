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
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from trading.metrics import definitions

log = logging.getLogger(__name__)


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


# =================================================================================================
# Helpers the work code calls (each never raises)
# =================================================================================================


@_safe
def signal_seen(strategy: str, status: str, reason: str = "", direction: str = "") -> None:
    """Count one signal: generated, then accepted or rejected (``status`` ACCEPTED/REJECTED) with the
    risk gate's reason code."""
    name = label(strategy)
    definitions.SIGNALS_GENERATED.labels(name, label(direction, "none").upper()).inc()
    definitions.STRATEGY_LAST_SIGNAL.labels(name).set(time.time())
    if str(status).upper() == "ACCEPTED":
        definitions.SIGNALS_ACCEPTED.labels(name).inc()
    else:
        definitions.SIGNALS_REJECTED.labels(name, reason_label(reason, "unknown")).inc()


@_safe
def strategy_evaluated(strategy: str, seconds: float) -> None:
    """Observe one strategy evaluation (wall seconds)."""
    definitions.STRATEGY_EVALUATION.labels(label(strategy)).observe(max(float(seconds), 0.0))


@_safe
def strategy_error(strategy: str) -> None:
    """Count an exception raised by a strategy (the guard caught it)."""
    definitions.STRATEGY_ERRORS.labels(label(strategy)).inc()
    definitions.SYSTEM_ERRORS.labels("strategy", "error").inc()


@_safe
def cycle_observed(
    seconds: float, lag_seconds: float | None = None, index: str = "NIFTY", outcome: str = "ok"
) -> None:
    """Observe one engine cycle: its wall time, how far it ran behind the market clock, its outcome."""
    idx = label(index)
    definitions.CYCLES.labels(idx, reason_label(outcome, "ok")).inc()
    definitions.CYCLE_DURATION.labels(idx).observe(max(float(seconds), 0.0))
    lag = _finite(lag_seconds)
    if lag is not None:
        definitions.CYCLE_LAG.labels(idx).set(lag)
    definitions.CYCLE_LAST_RUN.labels(idx).set(time.time())


@_safe
def stage_observed(stage: str, seconds: float) -> None:
    """Observe one stage of a cycle (features, exits, signals, risk, orders, persist)."""
    definitions.CYCLE_STAGE.labels(reason_label(stage, "other")).observe(max(float(seconds), 0.0))


@_safe
def market_updated(bar: Any, features: Mapping[str, Any] | None = None, source: str = "") -> None:
    """Count one bar from the feed and set the market gauges from it (``MarketBar``: index, time,
    close, vix) and from its feature row when given (pcr_oi, pcr_volume, max_pain, max_pain_distance,
    atm_iv as a fraction, iv_rank, straddle_premium, minutes_to_expiry)."""
    symbol = label(getattr(bar, "index", None) or (features or {}).get("index"), "NIFTY")
    definitions.MARKET_UPDATES.labels(symbol).inc()
    definitions.MARKET_LAST_UPDATE.labels(symbol).set(time.time())
    bar_time = getattr(bar, "time", None)
    if bar_time is not None and hasattr(bar_time, "timestamp"):
        definitions.MARKET_BAR_TIME.labels(symbol).set(bar_time.timestamp())
    spot = _finite(getattr(bar, "close", None))
    if spot is not None:
        definitions.SPOT.labels(symbol).set(spot)
    vix = _finite(getattr(bar, "vix", None))
    if vix is not None:
        definitions.INDIA_VIX.set(vix)
    if not features:
        return
    get = features.get
    for basis, key in (("oi", "pcr_oi"), ("volume", "pcr_volume")):
        v = _finite(get(key))
        if v is not None:
            definitions.PCR.labels(symbol, basis).set(v)
    for gauge, key, scale in (
        (definitions.MAX_PAIN, "max_pain", 1.0),
        (definitions.MAX_PAIN_DISTANCE, "max_pain_distance", 1.0),
        (definitions.ATM_IV, "atm_iv", 100.0),
        (definitions.IV_RANK, "iv_rank", 1.0),
        (definitions.STRADDLE, "straddle_premium", 1.0),
        (definitions.TIME_TO_EXPIRY, "minutes_to_expiry", 60.0),
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
    definitions.MARKET_FETCH.labels(label(source).upper()).observe(max(float(seconds), 0.0))


@_safe
def market_error(source: str, reason: str = "") -> None:
    """Count a feed failure (``reason`` a code or an exception: folded to a bounded label)."""
    if isinstance(reason, BaseException):
        reason = type(reason).__name__.lower()
    definitions.MARKET_ERRORS.labels(label(source).upper(), reason_label(reason, "unknown")).inc()
    definitions.SYSTEM_ERRORS.labels("marketdata", "warning").inc()


@_safe
def broker_call(endpoint: str, seconds: float, error: object = None, broker: str = "paper") -> None:
    """Observe one broker API call: its latency, and its failure when ``error`` (an exception or a
    code) is given."""
    b, e = label(broker).lower(), label(endpoint, "other", max_len=48)
    definitions.BROKER_LATENCY.labels(b, e).observe(max(float(seconds), 0.0))
    if error is not None and error is not False:
        code = type(error).__name__ if isinstance(error, BaseException) else error
        definitions.BROKER_ERRORS.labels(b, e, label(code, "error", max_len=48)).inc()


@_safe
def broker_retry(endpoint: str, broker: str = "kite") -> None:
    """Count one retry of a broker API call (after a transient failure)."""
    definitions.BROKER_RETRIES.labels(label(broker).lower(), label(endpoint, "other", max_len=48)).inc()


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
        definitions.ORDER_FILL_TIME.labels(name, label(order_type, "MARKET").upper()).observe(max(s, 0.0))
    slip = _finite(slippage)
    if slip is not None:
        definitions.ORDER_SLIPPAGE.labels(name).observe(slip)


@_safe
def exit_triggered(strategy: str, exit_type: str) -> None:
    """Count an exit rule that fired (STOP_LOSS, TARGET, TRAILING_STOP, TIME_EXIT, ...)."""
    definitions.EXITS_TRIGGERED.labels(label(strategy), label(exit_type, "OTHER", max_len=24).upper()).inc()


@_safe
def circuit_breaker_tripped(index: str, reason: str = "") -> None:
    """Count one trip of the circuit breaker."""
    definitions.CIRCUIT_BREAKER_TRIPS.labels(label(index), reason_label(reason, "unknown")).inc()


@_safe
def control_action(action: str) -> None:
    """Count one audited control action (kill_switch_on, breaker_reset, live_confirmed, ...)."""
    definitions.CONTROL_ACTIONS.labels(reason_label(action, "other")).inc()


@_safe
def reconciled(outcome: str = "ok", mismatches: Mapping[str, int] | None = None) -> None:
    """Count one reconciliation and the mismatches it found, by kind."""
    definitions.RECONCILIATIONS.labels(reason_label(outcome, "ok")).inc()
    for kind, n in (mismatches or {}).items():
        if n:
            definitions.RECONCILIATION_MISMATCHES.labels(reason_label(kind, "other")).inc(float(n))


@_safe
def system_error(component: str, severity: str = "error") -> None:
    """Count an error of a component (engine, broker, marketdata, journal, web, ...)."""
    sev = str(severity).lower()
    definitions.SYSTEM_ERRORS.labels(
        reason_label(component, "other"), sev if sev in ("warning", "error", "critical") else "error"
    ).inc()


@_safe
def process_started(role: str) -> None:
    """Mark this process as a live one of ``role`` (worker, trader, beat) until it exits."""
    definitions.PROCESSES.labels(reason_label(role, "other")).set(1)


@_safe
def websocket_opened() -> None:
    """A live-desk WebSocket was accepted (until ``websocket_closed``)."""
    definitions.WEBSOCKET_CONNECTIONS.inc()


@_safe
def websocket_closed() -> None:
    """A live-desk WebSocket closed."""
    definitions.WEBSOCKET_CONNECTIONS.dec()


@_safe
def websocket_sent(kind: str, count: int = 1) -> None:
    """Count ``count`` messages of ``kind`` (an event kind, ``snapshot``, ``heartbeat``) pushed to a client."""
    definitions.WEBSOCKET_MESSAGES.labels(label(kind, "other", max_len=24)).inc(count)


@_safe
def websocket_event_lag(seconds: float) -> None:
    """Observe the wall seconds from an event's write to its send on a WebSocket."""
    definitions.WEBSOCKET_EVENT_LAG.observe(max(float(seconds), 0.0))


NOTIFICATION_OUTCOMES = ("sent", "failed", "rate_limited", "retried")


@_safe
def notification(channel: str, outcome: str) -> None:
    """Count one notification attempt's outcome (sent, failed, rate_limited, retried) on a channel."""
    definitions.NOTIFICATIONS.labels(reason_label(channel, "other"), reason_label(outcome, "other")).inc()


TRADE_RECORDED_READS = ("entry_mode", "strategy_name", "net_pnl")  # the fields trade_recorded reads


@_safe
def trade_recorded(trade: Any, closed_wall_time: float | None = None) -> None:
    """Observe a trade the journal just committed (hook of ``journal.services``): its net P&L, and
    the wall seconds since ``closed_wall_time`` (Unix seconds: when the engine's cycle closed it;
    None for a trade entered by hand or imported, which has no such moment)."""
    mode = label(getattr(trade, "entry_mode", ""), "PAPER").upper()
    pnl = _finite(getattr(trade, "net_pnl", None))
    if pnl is not None:
        definitions.TRADE_PNL.labels(label(getattr(trade, "strategy_name", None)), mode).observe(pnl)
    closed = _finite(closed_wall_time)
    if closed is None or mode == "BACKTEST":
        return  # a backtest writes history: its delay says nothing about the live path
    definitions.TRADE_RECORD_DELAY.labels(mode).observe(max(time.time() - closed, 0.0))


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
    notification_channels: Iterable[str] = (),
) -> None:
    """Create the known label sets of the event counters and histograms at 0 when a process starts:
    a series that first appears already at 1 hides that event from ``increase()``/``rate()``."""
    for channel in notification_channels:
        for outcome in NOTIFICATION_OUTCOMES:
            definitions.NOTIFICATIONS.labels(reason_label(channel, "other"), outcome)
    names = [label(s) for s in strategies]
    modes = [label(m).upper() for m in modes]
    for mode in modes:
        definitions.TRADE_RECORD_DELAY.labels(mode)
    for name in names:
        definitions.SIGNALS_ACCEPTED.labels(name)
        definitions.STRATEGY_ERRORS.labels(name)
        definitions.ORDER_SLIPPAGE.labels(name)
        for mode in modes:
            definitions.TRADE_PNL.labels(name, mode)
        for order_type in order_types:
            definitions.ORDER_FILL_TIME.labels(name, label(order_type, "MARKET").upper())
        for direction in directions:
            definitions.SIGNALS_GENERATED.labels(name, label(direction, "none").upper())
        for reason in reject_reasons:
            definitions.SIGNALS_REJECTED.labels(name, reason_label(reason, "unknown"))
        for exit_type in exit_types:
            definitions.EXITS_TRIGGERED.labels(name, label(exit_type, "OTHER", max_len=24).upper())
    for index in indices:
        for outcome in cycle_outcomes:
            definitions.CYCLES.labels(label(index), reason_label(outcome, "ok"))
    for action in control_actions:
        definitions.CONTROL_ACTIONS.labels(reason_label(action, "other"))
    for component, severity in errors:
        definitions.SYSTEM_ERRORS.labels(reason_label(component, "other"), severity)


def process_families() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, type, label names) of every process metric defined here, name as exposed."""
    out = []
    for obj in vars(definitions).values():
        if isinstance(obj, Counter | Gauge | Histogram):
            out.append((obj._name, obj._type, tuple(obj._labelnames)))
    return sorted(out)
