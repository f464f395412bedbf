"""A small, varied journal for the API, filter and export tests, written through the journal's bulk
service (``record_trades``: one transaction, one performance refresh; the same rows as ``record_trade``
one by one: tests/journal/test_record_trades.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from journal.models import Trade
from journal.services import record_trades
from tests.helpers import NOW, ist, trade_fields
from trading.core import contracts
from trading.execution.models import Order, Position
from trading.strategies.models import Signal

SYMBOLS = ("NIFTY", "BANKNIFTY", "NIFTY", "FINNIFTY")
STRATEGIES = ("PCRStrategy", "MaxPainStrategy", "VixBreakout")
MODES = ("PAPER", "PAPER", "BACKTEST", "LIVE")
EXITS = ("TARGET", "STOP_LOSS", "TIME_EXIT", "SQUARE_OFF", "MANUAL")
TAGS = ((), ("gap-up",), ("gap-up", "expiry"), ("news",), ("gap",))
STRIKES = {"NIFTY": 24000, "BANKNIFTY": 52000, "FINNIFTY": 23000}


def make_journal(n: int = 24, start: date = date(2026, 5, 4)) -> list[Trade]:
    """``n`` trades over ``n // 3`` trading days (three a day, several modes, strategies, symbols,
    winners and losers, VIX/PCR values, tags). Returns them as stored."""
    trades = []
    for i in range(n):
        day = start + timedelta(days=i // 3)
        while day.weekday() >= 5:
            day += timedelta(days=2)
        symbol = SYMBOLS[i % len(SYMBOLS)]
        expiry = day + timedelta(days=7)
        lot = contracts.lot_size(symbol, expiry)
        entry = Decimal("100") + i
        exit_ = entry + (Decimal("15.5") if i % 3 != 1 else Decimal("-12.25"))
        fields = trade_fields(
            trade_id=f"T-{i:03d}",
            entry_time=ist(day.year, day.month, day.day, 9, 20 + i % 3 * 10),
            exit_time=ist(day.year, day.month, day.day, 10 + i % 3, 5),
            symbol=symbol,
            instrument_type="CALL" if i % 2 == 0 else "PUT",
            strike_price=Decimal(STRIKES[symbol]),
            expiry_date=expiry.isoformat(),
            entry_price=entry,
            exit_price=exit_,
            quantity=lot * (1 + i % 2),
            entry_mode=MODES[i % len(MODES)],
            exit_type=EXITS[i % len(EXITS)],
            strategy_name=STRATEGIES[i % len(STRATEGIES)],
            stop_loss_price=entry - 20,
            target_price=entry + 30,
            vix_entry=11.5 + i * 0.5,
            pcr_entry=0.6 + (i % 7) * 0.1,
            tags=list(TAGS[i % len(TAGS)]),
            notes=f"note {i}" if i % 4 else "",
        )
        trades.append(fields)
    record_trades(now=NOW, trades=trades)
    return list(Trade.objects.order_by("-exit_time", "-id"))


def make_engine_rows() -> dict[str, list]:
    """Signals, orders and positions of the engine's read-only tables (7, 7 and 5 rows)."""
    base = ist(2026, 5, 5, 9, 30)
    signals = [
        Signal.objects.create(
            strategy_name="PCRStrategy" if i % 2 else "VixBreakout",
            bar_time=base + timedelta(minutes=i),
            direction="CALL",
            strength=0.5,
            status="ACCEPTED" if i % 3 else "REJECTED",
        )
        for i in range(7)
    ]
    orders = [
        Order.objects.create(
            client_order_id=f"C{i}",
            strategy_name="PCRStrategy" if i % 2 else "VixBreakout",
            tradingsymbol="NIFTY26MAY24000CE",
            instrument_type="CALL",
            strike_price=24000,
            expiry_date="2026-05-12",
            transaction_type="BUY",
            quantity=65,
            status="FILLED" if i % 2 else "REJECTED",
            created_at=base + timedelta(minutes=i // 2),
        )
        for i in range(7)
    ]
    positions = [
        Position.objects.create(
            position_id=f"P{i}",
            strategy_name="PCRStrategy",
            tradingsymbol="NIFTY26MAY24000CE",
            instrument_type="CALL",
            strike_price=24000,
            expiry_date="2026-05-12",
            quantity=65,
            entry_price=100,
            entry_time=base + timedelta(minutes=i),
            status="OPEN" if i < 2 else "CLOSED",
        )
        for i in range(5)
    ]
    return {"signals": signals, "orders": orders, "positions": positions}
