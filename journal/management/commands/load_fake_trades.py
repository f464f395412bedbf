"""Bulk-load N realistic fake trades into the journal (for benchmarks and demos), then rebuild the
performance tables.

Every trade is a valid one: for each trading day, a few templates go through ``derive_trade`` (so
charges, P&L, R-multiple... are the service's own); the day's trades are those templates shifted in
time within the same IST day (same charges, same trade date) with their own trade_id, mode,
strategy, tags and market context. Rows go in through PostgreSQL ``COPY`` (or ``bulk_create``
elsewhere). ``manage.py load_fake_trades --count 1000000`` loads a million in a few minutes.
"""

from __future__ import annotations

import json
import random
import time as clock
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from journal.derive import derive_trade
from journal.models import Trade, TradeOrigin
from trading.core import calendar as market_calendar
from trading.core import contracts

IST = ZoneInfo("Asia/Kolkata")
STRATEGIES = ("PCRStrategy", "MaxPainStrategy", "VixBreakout", "OIBuildup", "StraddleFade", "MANUAL")
MODES = ("PAPER", "PAPER", "BACKTEST", "BACKTEST", "LIVE")
TAGS = ("", "", "", ",gap-up,", ",expiry,", ",news,", ",expiry,gap-up,", ",fomo,")
# (symbol, strike, instrument, entry, exit move, exit type, hold minutes)
TEMPLATES = (
    ("NIFTY", 24000, "CALL", Decimal("120"), Decimal("18"), "TARGET", 42),
    ("NIFTY", 24000, "PUT", Decimal("95.5"), Decimal("-14.25"), "STOP_LOSS", 17),
    ("NIFTY", 24100, "CALL", Decimal("80"), Decimal("3.5"), "TIME_EXIT", 90),
    ("NIFTY", 23900, "PUT", Decimal("110"), Decimal("-6"), "SQUARE_OFF", 180),
    ("BANKNIFTY", 52000, "CALL", Decimal("310"), Decimal("42"), "TARGET", 25),
    ("BANKNIFTY", 52000, "PUT", Decimal("280"), Decimal("-35.5"), "STOP_LOSS", 11),
    ("FINNIFTY", 23000, "CALL", Decimal("60"), Decimal("9.5"), "TRAILING_STOP", 55),
    ("NIFTY", 24200, "CALL", Decimal("45"), Decimal("-1.5"), "MANUAL", 30),
)


def _expiry_after(day: date) -> date:
    """A plausible expiry a few days after ``day`` (the next Tuesday; a week later if too close)."""
    ahead = (1 - day.weekday()) % 7 or 7
    return day + timedelta(days=ahead)


def _day_templates(day: date) -> list[dict]:
    """Derived field sets of the templates for one day (entry at 09:30 IST)."""
    out = []
    expiry = _expiry_after(day)
    for i, (symbol, strike, kind, entry, move, exit_type, hold) in enumerate(TEMPLATES):
        lot = contracts.lot_size(symbol, expiry)
        entry_time = datetime.combine(day, time(9, 30), tzinfo=IST)
        values = derive_trade(
            {
                "trade_id": f"TEMPLATE-{i}",
                "entry_time": entry_time,
                "exit_time": entry_time + timedelta(minutes=hold),
                "symbol": symbol,
                "instrument_type": kind,
                "strike_price": Decimal(strike),
                "expiry_date": expiry,
                "entry_price": entry,
                "exit_price": entry + move,
                "quantity": lot * (1 + i % 3),
                "exit_type": exit_type,
                "stop_loss_price": entry - Decimal("20"),
                "target_price": entry + Decimal("30"),
            }
        )
        out.append(values)
    return out


def fake_trade_rows(count: int, *, start: date, per_day: int, seed: int = 0) -> Iterator[dict]:
    """``count`` Trade field dicts, ``per_day`` per trading day from ``start`` on."""
    rng = random.Random(seed)
    now = timezone.now()
    day = start if market_calendar.is_trading_day(start) else market_calendar.next_trading_day(start)
    made = 0
    while made < count:
        templates = _day_templates(day)
        for _ in range(min(per_day, count - made)):
            values = dict(rng.choice(templates))
            hold = values["exit_time"] - values["entry_time"]
            # Shift within the same session so the day's charges and trade date still hold.
            latest = 15 * 60 + 25 - 9 * 60 - 16 - int(hold.total_seconds() // 60)
            shift = timedelta(seconds=rng.randrange(0, max(latest, 1) * 60))
            entry_time = datetime.combine(day, time(9, 16), tzinfo=IST) + shift
            values["entry_time"] = entry_time
            values["exit_time"] = entry_time + hold
            values["trade_id"] = f"FAKE-{day:%Y%m%d}-{made:08d}"
            values["entry_mode"] = MODES[rng.randrange(len(MODES))]
            values["data_source"] = "SIM" if values["entry_mode"] != "LIVE" else "KITE"
            values["strategy_name"] = STRATEGIES[rng.randrange(len(STRATEGIES))]
            values["tags"] = TAGS[rng.randrange(len(TAGS))]
            values["vix_entry"] = round(rng.uniform(10, 28), 2)
            values["vix_exit"] = round(values["vix_entry"] + rng.uniform(-1, 1), 2)
            values["pcr_entry"] = round(rng.uniform(0.5, 1.6), 3)
            values["pcr_exit"] = round(values["pcr_entry"] + rng.uniform(-0.1, 0.1), 3)
            values["signal_strength"] = round(rng.uniform(0.3, 1.0), 3)
            values["signal_reason"] = (
                f"{values['strategy_name']} fired at strength {values['signal_strength']}"
            )
            values["entry_features"] = {"vix": values["vix_entry"], "pcr": values["pcr_entry"]}
            values["created_at"] = values["updated_at"] = now
            values["origin"] = TradeOrigin.MANUAL  # fakes: never the engine's, so never in its risk
            made += 1
            yield values
        day = market_calendar.next_trading_day(day)


_COLUMNS = [f for f in Trade._meta.concrete_fields if f.name != "id"]


def _copy_rows(rows: Iterator[dict], report) -> int:
    names = ", ".join(f'"{f.column}"' for f in _COLUMNS)
    attnames = [f.attname for f in _COLUMNS]
    n = 0
    connection.ensure_connection()
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(f"COPY journal_trade ({names}) FROM STDIN") as copy,
    ):
        for values in rows:
            row = [values.get(a) for a in attnames]
            row[attnames.index("entry_features")] = json.dumps(values["entry_features"])
            copy.write_row(row)
            n += 1
            if n % 100_000 == 0:
                report(n)
    return n


def _bulk_create_rows(rows: Iterator[dict], report, batch: int = 2000) -> int:
    n, buffer = 0, []
    for values in rows:
        buffer.append(Trade(**values))
        if len(buffer) >= batch:
            Trade.objects.bulk_create(buffer)
            n += len(buffer)
            buffer.clear()
            if n % 100_000 < batch:
                report(n)
    Trade.objects.bulk_create(buffer)
    return n + len(buffer)


def load_fake_trades(count: int, *, start: date, per_day: int, seed: int = 0, report=lambda n: None) -> int:
    """Insert ``count`` fake trades; return how many were inserted. Does not touch performance rows."""
    rows = fake_trade_rows(count, start=start, per_day=per_day, seed=seed)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _copy_rows(rows, report)
        return _bulk_create_rows(rows, report)


def rebuild_performance() -> None:
    """Recompute every DailyPerformance and StrategyPerformance row and the breakdown cells from the journal.

    Like ``analytics.services.rebuild_all``, but each key once: ``values_list(...).distinct()`` on
    Trade keeps the model's ordering columns in the SELECT DISTINCT, which makes one "distinct" key
    per trade (a million refreshes) unless the ordering is cleared.
    """
    from journal import cells
    from journal.models import DailyPerformance, StrategyPerformance
    from journal.performance import refresh_daily, refresh_strategy

    DailyPerformance.objects.all().delete()
    StrategyPerformance.objects.all().delete()
    for day, mode in Trade.objects.order_by().values_list("trade_date", "entry_mode").distinct():
        refresh_daily(day, mode)
    for name, mode in Trade.objects.order_by().values_list("strategy_name", "entry_mode").distinct():
        refresh_strategy(name, mode)
    cells.rebuild()


class Command(BaseCommand):
    help = "Bulk-load N realistic fake trades, then rebuild DailyPerformance/StrategyPerformance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=10_000)
        parser.add_argument("--per-day", type=int, default=1000, help="trades per trading day")
        parser.add_argument("--start", type=date.fromisoformat, default=date(2022, 1, 3))
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-rebuild", action="store_true", help="leave the performance tables alone")

    def handle(self, *args, count: int, per_day: int, start: date, seed: int, no_rebuild: bool, **options):
        began = clock.perf_counter()

        def report(n: int) -> None:
            self.stdout.write(f"  {n:,} trades ({clock.perf_counter() - began:.0f} s)")

        n = load_fake_trades(count, start=start, per_day=per_day, seed=seed, report=report)
        self.stdout.write(f"loaded {n:,} trades in {clock.perf_counter() - began:.1f} s")
        if not no_rebuild:
            t0 = clock.perf_counter()
            rebuild_performance()
            self.stdout.write(f"rebuilt performance tables in {clock.perf_counter() - t0:.1f} s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE journal_trade")
