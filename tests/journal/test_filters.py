"""TradeFilterSet: every filter against a plain-Python reference over the same trades, and every
malformed value reported under its parameter's name."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from journal.filters import TradeFilterSet
from journal.models import Trade
from tests.journal.api_data import make_journal

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def journal():
    return make_journal()


def _ids(params: dict) -> set[int]:
    fs = TradeFilterSet(data=params, queryset=Trade.objects.all())
    assert fs.is_valid(), fs.errors
    return set(fs.qs.values_list("id", flat=True))


def _ref(trades, predicate) -> set[int]:
    return {t.id for t in trades if predicate(t)}


CASES = [
    ({"date_from": "2026-05-06"}, lambda t: t.trade_date >= date(2026, 5, 6)),
    ({"date_to": "2026-05-06"}, lambda t: t.trade_date <= date(2026, 5, 6)),
    (
        {"date_from": "2026-05-05", "date_to": "2026-05-06"},
        lambda t: date(2026, 5, 5) <= t.trade_date <= date(2026, 5, 6),
    ),
    (
        {"exit_from": "2026-05-05T11:00:00+05:30"},
        lambda t: t.exit_time >= datetime(2026, 5, 5, 11, tzinfo=IST),
    ),
    # A naive date-time is IST.
    ({"exit_to": "2026-05-05T11:05"}, lambda t: t.exit_time <= datetime(2026, 5, 5, 11, 5, tzinfo=IST)),
    ({"strategy": "PCRStrategy"}, lambda t: t.strategy_name == "PCRStrategy"),
    ({"symbol": "banknifty"}, lambda t: t.symbol == "BANKNIFTY"),
    ({"instrument_type": "PUT"}, lambda t: t.instrument_type == "PUT"),
    ({"instrument_type": "ce"}, lambda t: t.instrument_type == "CALL"),
    ({"mode": "paper"}, lambda t: t.entry_mode == "PAPER"),
    ({"mode": "BACKTEST"}, lambda t: t.entry_mode == "BACKTEST"),
    ({"status": "CLOSED"}, lambda t: True),
    ({"winning": "true"}, lambda t: t.net_pnl > 0),
    ({"winning": "false"}, lambda t: t.net_pnl <= 0),
    ({"winning": "0"}, lambda t: t.net_pnl <= 0),
    # Exact tag: "gap" must not match "gap-up".
    ({"tag": "gap"}, lambda t: "gap" in t.tag_list),
    ({"tag": "gap-up"}, lambda t: "gap-up" in t.tag_list),
    ({"tag": "EXPIRY"}, lambda t: "expiry" in t.tag_list),
    ({"exit_type": "stop_loss"}, lambda t: t.exit_type == "STOP_LOSS"),
    ({"pnl_min": "0"}, lambda t: t.net_pnl >= 0),
    ({"pnl_max": "-100.5"}, lambda t: t.net_pnl <= Decimal("-100.5")),
    ({"pnl_min": "-1000", "pnl_max": "1500"}, lambda t: Decimal(-1000) <= t.net_pnl <= 1500),
    ({"vix_min": "15"}, lambda t: t.vix_entry >= 15),
    ({"vix_max": "14.5"}, lambda t: t.vix_entry <= 14.5),
    ({"pcr_min": "0.9"}, lambda t: t.pcr_entry >= 0.9 - 1e-9),
    ({"pcr_max": "0.75"}, lambda t: t.pcr_entry <= 0.75),
    (
        {"mode": "PAPER", "winning": "yes", "symbol": "NIFTY", "date_from": "2026-05-05"},
        lambda t: (
            t.entry_mode == "PAPER"
            and t.net_pnl > 0
            and t.symbol == "NIFTY"
            and t.trade_date >= date(2026, 5, 5)
        ),
    ),
    ({}, lambda t: True),
]


@pytest.mark.parametrize("params,predicate", CASES, ids=[repr(p) for p, _ in CASES])
def test_filter_matches_reference(journal, params, predicate):
    expected = _ref(journal, predicate)
    got = _ids(params)
    assert got == expected
    # The data must make each case mean something (except the match-all ones).
    if params and params != {"status": "CLOSED"}:
        assert 0 < len(expected) < len(journal), params


def test_journal_has_the_variety_the_cases_need(journal):
    assert {t.entry_mode for t in journal} == {"PAPER", "BACKTEST", "LIVE"}
    assert any(t.net_pnl > 0 for t in journal) and any(t.net_pnl <= 0 for t in journal)


BAD = [
    ("date_from", "2026-13-01"),
    ("date_to", "yesterday"),
    ("exit_from", "2026-05-05T25:00"),
    ("exit_to", "0001-01-01T00:00:00+14:00"),
    ("exit_from", "9999-12-31T23:59:59-12:00"),
    ("instrument_type", "FUT"),
    ("mode", "REAL"),
    ("status", "OPEN"),
    ("winning", "maybe"),
    ("tag", "a,b"),
    ("exit_type", "PANIC"),
    ("pnl_min", "abc"),
    ("pnl_max", "NaN"),
    ("pnl_min", "1e400"),
    ("vix_min", "inf"),
    ("vix_max", "--1"),
    ("pcr_min", "1e999999999"),
    ("pcr_max", "0x10"),
    ("strategy", "x" * 65),
    ("symbol", "NIFTY\x00"),
]


@pytest.mark.parametrize("name,value", BAD, ids=[f"{n}={v[:20]!r}" for n, v in BAD])
def test_malformed_value_is_reported_under_its_name(name, value):
    fs = TradeFilterSet(data={name: value}, queryset=Trade.objects.all())
    assert not fs.is_valid()
    assert list(fs.errors) == [name]


def test_daily_countable_only_with_date_and_mode():
    fs = TradeFilterSet(data={"mode": "PAPER", "date_from": "2026-01-01", "page": "3"})
    assert fs.is_valid() and fs.is_daily_countable
    fs = TradeFilterSet(data={"mode": "PAPER", "tag": "x"})
    assert fs.is_valid() and not fs.is_daily_countable
