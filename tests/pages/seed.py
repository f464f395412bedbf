"""A small desk with a little of everything, for the page tests: a staff user, PAPER trades over two
months and three strategies with their market context and features (one with tags edited, so its
audit shows tags), a signal, option-chain snapshots, an open position and a tripped breaker.

Kept small on purpose (browser tests share a 6-minute budget)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal as D

from django.contrib.auth.models import User

from journal.models import Trade
from journal.services import record_trade, trade_update
from tests.helpers import NOW, ist, trade_fields, user_with_role
from trading.core import calendar as market_calendar
from trading.execution.models import Position, TradingState
from trading.market.services import snapshot_store
from trading.marketdata.simulated import SimulatedFeed
from trading.strategies.models import Signal

PASSWORD = "pages-pw-1"
STRATEGIES = ("OpeningRangeBreakoutStrategy", "PCRStrategy", "SupertrendStrategy")
FEATURES = {
    "time": "2026-04-06T03:59:00+00:00",
    "close": 24012.35,
    "vwap": 23998.1,
    "vix": 13.42,
    "expected_move": 202.9,
    "ema_9": 24001.2,
    "rsi_14": 61.37,
    "atm_iv": 0.131223,
    "iv_percentile": 42.0,
    "pcr_oi": 1.0731,
    "call_oi": 23094400.0,
    "put_oi": 24783200.0,
    "max_pain": 24000.0,
    "minute": 15,
    "is_expiry_day": False,
    "expiry": "2026-05-12",
    "days_to_expiry": 6.7,
}


def staff_user() -> User:
    return user_with_role("operator", "trader", password=PASSWORD)


def trades(n: int = 12, *, start: date = date(2026, 4, 6)) -> list[Trade]:
    """``n`` PAPER trades on consecutive trading days from ``start``: wins and losses, three strategies,
    CE and PE, every market-context field, R-multiples, MAE/MFE."""
    out = []
    day = start
    for i in range(n):
        while not market_calendar.is_trading_day(day):
            day += timedelta(days=1)
        entry = ist(day.year, day.month, day.day, 9, 30 + (i % 4) * 7)
        win = i % 3 != 1
        exit_price = D("131.50") if win else D("84.00")
        fields = trade_fields(
            trade_id=f"P-{i}",
            entry_time=entry,
            exit_time=entry + timedelta(minutes=40 + i),
            expiry_date=(day + timedelta(days=(3 - day.weekday()) % 7 or 7)).isoformat(),
            instrument_type="CALL" if i % 2 == 0 else "PUT",
            strike_price=D("24000"),
            exit_price=exit_price,
            exit_type="TARGET" if win else "STOP_LOSS",
            strategy_name=STRATEGIES[i % 3],
            target_price=D("131.50"),
            spot_price_entry=D("24012.35") + i,
            spot_price_exit=D("24052.35") + i if win else D("23987.35") + i,
            vix_entry=13.42,
            vix_exit=13.9,
            pcr_entry=1.0731,
            pcr_exit=0.98,
            max_pain_entry=D("24000"),
            max_pain_exit=D("24050"),
            atm_iv_entry=0.131223,
            atm_iv_exit=0.1288,
            iv_entry=0.131223,
            iv_exit=0.1402 if win else 0.125,
            delta_entry=0.52,
            delta_exit=0.61,
            gamma_entry=0.00071,
            gamma_exit=0.00069,
            theta_entry=-11.25,
            theta_exit=-12.1,
            vega_entry=12.9,
            vega_exit=12.2,
            mae=D("-455.00") if win else D("-1040.00"),
            mfe=D("2145.00") if win else D("390.00"),
            entry_features=FEATURES,
        )
        out.append(record_trade(now=NOW, **fields))
        day += timedelta(days=3)
    return out


def tag_edit(trade: Trade, user: User) -> Trade:
    """Tags edited on the page: the audit keeps ``,eod,oi-wall,``."""
    return trade_update(trade=trade, user=user, source="page", tags=["eod", "oi-wall"])


def signal(trade: Trade) -> Signal:
    return Signal.objects.create(
        strategy_name=trade.strategy_name,
        bar_time=trade.entry_time - timedelta(minutes=1),
        direction=trade.instrument_type,
        strength=0.72,
        reason="Close 24,012 above the opening range high 23,980 + buffer",
        status="ACCEPTED",
        features=FEATURES,
        mode="PAPER",
    )


def chain_snapshots(day: date = date(2025, 10, 6)) -> None:
    feed = SimulatedFeed(seed=4, start=day - timedelta(days=5))
    for hh, mm in ((9, 16), (11, 1)):
        snapshot_store(feed.snapshot(datetime.combine(day, time(hh, mm), tzinfo=market_calendar.IST)), "SIM")


def open_position(index: str = "NIFTY") -> Position:
    return Position.objects.create(
        position_id="OPEN-1",
        strategy_name=STRATEGIES[0],
        index=index,
        tradingsymbol="NIFTY26MAY24000CE",
        instrument_type="CALL",
        strike_price=D("24000"),
        expiry_date=date(2026, 5, 28),
        quantity=65,
        entry_price=D("100.00"),
        entry_time=ist(2026, 5, 20, 10, 5),
        last_price=D("112.35"),
    )


def tripped_breaker(index: str = "NIFTY") -> TradingState:
    state, _ = TradingState.objects.get_or_create(index=index)
    state.circuit_breaker = True
    state.circuit_breaker_reason = "daily loss limit: -₹10,250.00"
    state.circuit_breaker_session = date(2026, 5, 20)
    state.save()
    return state


def desk(n: int = 12) -> dict:
    """Everything above; returns the pieces a test checks against."""
    user = staff_user()
    made = trades(n)
    edited = tag_edit(made[-1], user)
    sig = signal(made[0])
    Trade.objects.filter(pk=made[0].pk).update(signal=sig, entry_features={})
    chain_snapshots()
    position = open_position()
    tripped_breaker()
    return {"user": user, "trades": made, "tagged": edited, "signal": sig, "position": position}
