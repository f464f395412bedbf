"""Every ``trading_*`` process metric, defined once: the ``Counter``/``Gauge``/``Histogram`` objects and
their buckets. A leaf like the package (the standard library and prometheus_client only); the work code
moves them through the helpers of ``trading.metrics``, whose docstring says how they are named,
labelled and combined across processes.
"""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram, values

# prometheus_client chooses between in-memory and file-backed values when it is first imported. If
# anything imported it before settings put PROMETHEUS_MULTIPROC_DIR in the environment, switch now:
# every metric below would otherwise live only in this process's memory.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and values.ValueClass is values.MutexValue:
    values.ValueClass = values.get_value_class()

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
