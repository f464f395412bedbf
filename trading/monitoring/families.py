"""The database metrics: the ``trading_*`` families computed from the database at scrape time.

No process keeps these: ``trading.monitoring.collector.DatabaseCollector`` reads them from the database
on every scrape (state such as open positions, today's P&L, the circuit breaker and the kill switch, and
the counts the journal also keeps, trades and orders), so they are right after a restart and after a
wipe of the multiprocess directory. The process metrics are defined in ``trading.metrics``; together the
two modules define every ``trading_*`` family once (``all_families``).

They live here, beside their collector, rather than in the leaf ``trading.metrics``: only the scrape
reads them, and no work code ever moves them.
"""

from __future__ import annotations

from dataclasses import dataclass

from trading import metrics


@dataclass(frozen=True)
class DbFamily:
    """One metric family the database collector exports (name as exposed, without ``_total``)."""

    name: str
    kind: str  # counter or gauge
    documentation: str
    labels: tuple[str, ...] = ()


def _db(name: str, kind: str, documentation: str, labels: tuple[str, ...] = ()) -> DbFamily:
    if kind == "counter":
        name = name.removesuffix("_total")
    return DbFamily(name, kind, documentation, labels)


_S, _M = "strategy", "mode"
DB_FAMILIES: dict[str, DbFamily] = {
    f.name: f
    for f in (
        # trades (the journal's own counts)
        _db(
            "trading_trades_total",
            "counter",
            "Journal trades, by strategy, side, status and mode.",
            (_S, "side", "status", _M),
        ),
        _db("trading_winning_trades_total", "counter", "Journal trades with net P&L > 0.", (_S, "side", _M)),
        _db(
            "trading_trade_exits_total",
            "counter",
            "Journal trades by how they exited.",
            (_S, "exit_type", _M),
        ),
        _db(
            "trading_trade_hold_seconds_total", "counter", "Summed holding time of journal trades.", (_S, _M)
        ),
        _db(
            "trading_charges_paid_rupees_total",
            "counter",
            "Charges paid on journal trades (all items).",
            (_S, _M),
        ),
        _db(
            "trading_strategy_net_pnl_rupees",
            "gauge",
            "Net P&L of all journal trades of a strategy.",
            (_S, _M),
        ),
        _db(
            "trading_last_trade_exit_timestamp_seconds",
            "gauge",
            "Exit time (Unix seconds) of the latest trade.",
            (_M,),
        ),
        # orders (the order table's own counts)
        _db(
            "trading_orders_total",
            "counter",
            "Orders, by strategy, side, type, status and mode.",
            (_S, "side", "order_type", "status", _M),
        ),
        _db(
            "trading_orders_submitted_total",
            "counter",
            "Orders sent to the broker.",
            (_S, "side", "order_type", _M),
        ),
        _db(
            "trading_orders_filled_total",
            "counter",
            "Orders completely filled.",
            (_S, "side", "order_type", _M),
        ),
        _db(
            "trading_orders_rejected_total", "counter", "Orders rejected, by reason code.", (_S, "reason", _M)
        ),
        _db(
            "trading_orders_cancelled_total",
            "counter",
            "Orders cancelled, by reason code.",
            (_S, "reason", _M),
        ),
        _db("trading_orders_working", "gauge", "Orders submitted and not yet final.", (_S, _M)),
        # positions and P&L now
        _db("trading_positions_open", "gauge", "Open positions.", (_S, _M)),
        _db(
            "trading_positions_value_rupees",
            "gauge",
            "Market value of open positions (last price x quantity).",
            (_S, _M),
        ),
        _db("trading_positions_open_quantity", "gauge", "Units held in open positions.", (_S, _M)),
        _db("trading_unrealized_pnl_rupees", "gauge", "Mark-to-market P&L of open positions.", (_S, _M)),
        _db("trading_realized_pnl_rupees", "gauge", "Net P&L of the session's closed trades.", (_M,)),
        _db("trading_daily_pnl_rupees", "gauge", "Session P&L: realised net plus unrealised.", (_M,)),
        _db("trading_daily_pnl_percent", "gauge", "Session P&L as a percent of trading capital.", (_M,)),
        _db(
            "trading_strategy_daily_pnl_rupees",
            "gauge",
            "Net P&L of a strategy's trades this session.",
            (_S, _M),
        ),
        _db("trading_daily_trades", "gauge", "Trades closed this session.", (_M,)),
        _db("trading_daily_win_rate_percent", "gauge", "Win rate of this session's trades.", (_M,)),
        _db("trading_daily_charges_rupees", "gauge", "Charges paid this session.", (_M,)),
        _db(
            "trading_daily_max_drawdown_rupees",
            "gauge",
            "Largest fall of cumulative net P&L this session.",
            (_M,),
        ),
        _db("trading_daily_signals", "gauge", "Signals recorded this session, by status.", (_S, "status")),
        _db("trading_daily_loss_limit_rupees", "gauge", "Daily net loss at which the circuit breaker trips."),
        _db("trading_capital_rupees", "gauge", "Trading capital the sizing and P&L percent use."),
        _db(
            "trading_session_date_timestamp_seconds",
            "gauge",
            "The session the daily figures are of: the market clock's (the IST date of the engine's last"
            " bar), as Unix seconds of its midnight.",
        ),
        # control state
        _db(
            "trading_circuit_breaker_active",
            "gauge",
            "1 while the circuit breaker blocks new entries.",
            ("index",),
        ),
        _db("trading_kill_switch_active", "gauge", "1 while the kill switch is on.", ("index",)),
        _db("trading_live_confirmed", "gauge", "1 when LIVE trading was confirmed by staff.", ("index",)),
        _db("trading_live_trading_enabled", "gauge", "1 when LIVE trading is enabled in the configuration."),
        _db(
            "trading_last_bar_timestamp_seconds",
            "gauge",
            "Market-clock start (Unix seconds) of the last bar the engine processed.",
            ("index",),
        ),
        _db(
            "trading_last_cycle_timestamp_seconds",
            "gauge",
            "Wall-clock time (Unix seconds) of the engine's last cycle.",
            ("index",),
        ),
        # strategies
        _db("trading_strategy_enabled", "gauge", "1 when the strategy is switched on.", (_S,)),
        _db("trading_strategies_enabled", "gauge", "Strategies switched on."),
        _db(
            "trading_strategy_capital_allocation_rupees", "gauge", "Capital allocated to the strategy.", (_S,)
        ),
        _db(
            "trading_strategy_win_rate_percent", "gauge", "Win rate over all the strategy's trades.", (_S, _M)
        ),
        _db("trading_strategy_profit_factor_ratio", "gauge", "Sum of wins / |sum of losses|.", (_S, _M)),
        _db("trading_strategy_expectancy_rupees", "gauge", "Net P&L per trade.", (_S, _M)),
        _db(
            "trading_strategy_max_drawdown_rupees",
            "gauge",
            "Largest fall of the strategy's cumulative net P&L.",
            (_S, _M),
        ),
        _db("trading_strategy_best_trade_rupees", "gauge", "Best trade's net P&L.", (_S, _M)),
        _db("trading_strategy_worst_trade_rupees", "gauge", "Worst trade's net P&L.", (_S, _M)),
        _db(
            "trading_strategy_avg_hold_seconds",
            "gauge",
            "Average holding time of the strategy's trades.",
            (_S, _M),
        ),
        # system
        _db(
            "trading_trade_spool_depth",
            "gauge",
            "Trades and close events waiting in the local spool for the database.",
        ),
        _db(
            "trading_market_session_open",
            "gauge",
            "1 while the market clock is in a session of the exchange's calendar (the wall clock with the"
            " Kite feed; the close of the engine's last bar with the simulated and replay feeds).",
            ("exchange",),
        ),
        _db(
            "trading_build_info",
            "gauge",
            "Version and configuration of the desk (always 1).",
            ("version", "python_version", "trading_mode"),
        ),
        _db("trading_metrics_database_up", "gauge", "1 when the scrape could read the database."),
        _db(
            "trading_metrics_collect_seconds",
            "gauge",
            "Wall time the database collector took in this scrape.",
        ),
        _db(
            "trading_metrics_multiprocess_files",
            "gauge",
            "Metric files in the multiprocess directory (one set per live process).",
        ),
    )
}


def all_families() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, type, label names) of every ``trading_*`` family: process and database metrics."""
    database = [(f.name, f.kind, f.labels) for f in DB_FAMILIES.values()]
    return sorted(metrics.process_families() + database)
