"""What each notification says: an outbox event (or the spool watch, or the day's close) as a
``Message``. Types a channel can opt into (``TELEGRAM_EVENTS``, ``NOTIFY_EMAIL_EVENTS``):

* ``fill`` - an order filled (entry or exit), with quantity and price;
* ``trade_closed`` - a trade recorded, with its net P&L;
* ``breaker`` - the circuit breaker tripped (or was reset);
* ``kill_switch`` - the kill switch turned on or off;
* ``feed`` - the market feed went down or stale (and came back);
* ``spool`` - trades are waiting in the spool and it is not draining (the database is away);
* ``daily_summary`` - after the close: the day's trades as a table, with totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from html import escape

from trading import outbox
from trading.core import calendar as market_calendar
from trading.notifications.transports import Message

FILL = "fill"
TRADE_CLOSED = "trade_closed"
BREAKER = "breaker"
KILL_SWITCH = "kill_switch"
FEED = "feed"
SPOOL = "spool"
DAILY_SUMMARY = "daily_summary"
TYPES = (FILL, TRADE_CLOSED, BREAKER, KILL_SWITCH, FEED, SPOOL, DAILY_SUMMARY)


def _rupees(value) -> str:
    if value in (None, ""):
        return "-"
    return f"Rs {Decimal(str(value)):,.2f}"


def type_of(event: outbox.OutboxEvent) -> str | None:
    """The notification type of an outbox event, None when it is not one a trader is told about."""
    data = event.data
    if event.kind == outbox.FILL and data.get("complete"):
        return FILL
    if event.kind == outbox.TRADE_RECORDED:
        return TRADE_CLOSED
    if event.kind == outbox.BREAKER:
        return BREAKER
    if event.kind == outbox.KILL_SWITCH:
        return KILL_SWITCH
    if event.kind == outbox.FEED:
        return FEED
    if event.kind == outbox.SESSION_CLOSED:
        return DAILY_SUMMARY
    return None


def message_of(event: outbox.OutboxEvent) -> Message | None:
    """The message of an event of a notification type (the daily summary is built by ``daily_summary``)."""
    data = event.data
    kind = type_of(event)
    if kind == FILL:
        side = "Bought" if data.get("transaction_type") == "BUY" else "Sold"
        what = "entry" if data.get("purpose") == "ENTRY" else "exit"
        return Message(
            FILL,
            f"Fill: {side} {data.get('quantity')} {data.get('tradingsymbol')} @ {data.get('price')}",
            f"{data.get('strategy')} {what}, order {data.get('client_order_id')} ({data.get('mode')})",
        )
    if kind == TRADE_CLOSED:
        net = Decimal(str(data.get("net_pnl") or 0))
        return Message(
            TRADE_CLOSED,
            f"Trade closed: {data.get('tradingsymbol')} net {_rupees(net)}",
            f"{data.get('strategy')} {data.get('quantity')} @ {data.get('entry_price')} -> {data.get('exit_price')} "
            f"({data.get('exit_type')}); gross {_rupees(data.get('gross_pnl'))}, charges {_rupees(data.get('charges'))}, "
            f"net {_rupees(net)}; trade {data.get('trade_id')}",
        )
    if kind == BREAKER:
        if data.get("on"):
            return Message(
                BREAKER,
                f"Circuit breaker TRIPPED ({event.index})",
                f"{data.get('reason')}: no new entries today.",
            )
        return Message(
            BREAKER,
            f"Circuit breaker reset ({event.index})",
            f"by {data.get('user') or 'system'}: {data.get('reason')}",
        )
    if kind == KILL_SWITCH:
        state = "ON: squaring off, no new entries" if data.get("on") else "off"
        return Message(
            KILL_SWITCH,
            f"Kill switch {state} ({event.index})",
            f"by {data.get('user') or 'system'}: {data.get('reason') or 'no reason given'}",
        )
    if kind == FEED:
        state = data.get("state")
        title = {"down": "Market feed DOWN", "stale": "Market feed STALE", "up": "Market feed back"}.get(
            state, "Feed"
        )
        return Message(FEED, f"{title} ({event.index})", data.get("detail") or f"was {data.get('previous')}")
    return None


def spool_message(depth: int, waiting_seconds: float) -> Message:
    """Trades waiting in the spool for ``waiting_seconds``: the database is not taking them."""
    return Message(
        SPOOL,
        f"Spool not draining: {depth} write(s) waiting",
        f"{depth} spooled write(s) (closed positions, trades) have waited {waiting_seconds / 60:.0f} min: "
        "the database is unreachable or refusing them. Exits go on; entries are stopped.",
    )


def spool_drained_message() -> Message:
    return Message(SPOOL, "Spool drained", "Every spooled close and trade is in the database again.")


def daily_summary(index: str, session, trades: Iterable) -> Message:
    """The day's table: each trade (exit time, strategy, contract, quantity, entry, exit, why, net) and
    the totals (trades, wins, win rate, gross, charges, net). ``trades``: journal ``Trade`` rows."""
    rows = list(trades)
    gross = sum((t.gross_pnl for t in rows), Decimal(0))
    charges = sum((t.total_charges for t in rows), Decimal(0))
    net = sum((t.net_pnl for t in rows), Decimal(0))
    wins = sum(1 for t in rows if t.net_pnl > 0)
    rate = f"{wins / len(rows) * 100:.0f}%" if rows else "-"
    totals = (
        f"{len(rows)} trade(s), {wins} win(s) ({rate}); gross {_rupees(gross)}, charges {_rupees(charges)}, "
        f"net {_rupees(net)}"
    )
    header = ("Exit", "Strategy", "Contract", "Qty", "Entry", "Exit px", "Why", "Net")
    table = [
        (
            f"{t.exit_time.astimezone(market_calendar.IST):%H:%M}",
            t.strategy_name[:16],
            t.tradingsymbol,
            str(t.quantity),
            f"{t.entry_price}",
            f"{t.exit_price}",
            t.exit_type,
            f"{t.net_pnl:,.2f}",
        )
        for t in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *table]]
    text = f"{totals}\n\n" + "\n".join(lines) if rows else "No trade today."
    html_rows = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in table)
    html_table = (
        f"<p>{escape(totals)}</p><table border='1' cellpadding='4' cellspacing='0'>"
        + "<tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in header)
        + f"</tr>{html_rows}</table>"
    )
    subject = f"Daily summary {index} {session}: net {_rupees(net)}"
    return Message(DAILY_SUMMARY, subject, text, html_table if rows else "")


def telegram_html(message: Message) -> Message:
    """Telegram has no tables: the plain text in <pre> keeps the columns aligned."""
    return Message(message.kind, message.subject, message.text, f"<pre>{escape(message.text)}</pre>")
