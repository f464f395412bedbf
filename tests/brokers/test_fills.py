"""The paper fill model and the exchange's checks, worked by hand (trading.core.fills)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from tests.brokers.market import EXPIRY, STRIKE, make_bar
from tests.helpers import ist
from trading.core import contracts, fills

AT = ist(2026, 5, 5, 10, 0)


def q(bid, ask, ltp=None) -> fills.Quote:
    return fills.Quote.of(bid, ask, ltp)


# --- MARKET -------------------------------------------------------------------------------------------


def test_market_buy_pays_the_ask_plus_slippage_and_fills_after_the_latency():
    config = fills.FillConfig(slippage_ticks=2, latency=timedelta(milliseconds=250))
    d = fills.place_fill(
        transaction_type="BUY",
        order_type="MARKET",
        limit_price=None,
        quote=q(100, 100.5),
        at=AT,
        config=config,
    )
    # 100.50 ask + 2 x 0.05
    assert (d.status, d.price, d.at) == ("FILLED", D("100.60"), AT + timedelta(milliseconds=250))


def test_market_sell_gets_the_bid_minus_slippage():
    config = fills.FillConfig(slippage_ticks=3)
    d = fills.place_fill(
        transaction_type="SELL",
        order_type="MARKET",
        limit_price=None,
        quote=q(100, 100.5),
        at=AT,
        config=config,
    )
    assert (d.status, d.price, d.at) == ("FILLED", D("99.85"), AT)


def test_market_sell_never_below_one_tick():
    d = fills.place_fill(
        transaction_type="SELL",
        order_type="MARKET",
        limit_price=None,
        quote=q(0.05, 0.10),
        at=AT,
        config=fills.FillConfig(slippage_ticks=5),
    )
    assert d.price == D("0.05")


def test_market_without_a_seller_is_rejected_no_quote():
    d = fills.place_fill(
        transaction_type="BUY", order_type="MARKET", limit_price=None, quote=q(100, None), at=AT
    )
    assert (d.status, d.reason) == ("REJECTED", "no_quote")
    d = fills.place_fill(transaction_type="BUY", order_type="MARKET", limit_price=None, quote=None, at=AT)
    assert d.reason == "no_quote"


# --- LIMIT --------------------------------------------------------------------------------------------


def test_marketable_limit_buy_fills_at_the_ask_plus_slippage_capped_by_its_limit():
    config = fills.FillConfig(slippage_ticks=2)
    quote = q(100, 100.5, 100.2)
    above = fills.place_fill(
        transaction_type="BUY", order_type="LIMIT", limit_price=D("101"), quote=quote, at=AT, config=config
    )
    assert (above.status, above.price) == ("FILLED", D("100.60"))
    tight = fills.place_fill(
        transaction_type="BUY", order_type="LIMIT", limit_price=D("100.55"), quote=quote, at=AT, config=config
    )
    assert (tight.status, tight.price) == ("FILLED", D("100.55"))


def test_marketable_limit_sell_fills_at_the_bid_floored_by_its_limit():
    config = fills.FillConfig(slippage_ticks=2)
    quote = q(100, 100.5, 100.2)
    d = fills.place_fill(
        transaction_type="SELL", order_type="LIMIT", limit_price=D("99"), quote=quote, at=AT, config=config
    )
    assert (d.status, d.price) == ("FILLED", D("99.90"))
    d = fills.place_fill(
        transaction_type="SELL", order_type="LIMIT", limit_price=D("99.95"), quote=quote, at=AT, config=config
    )
    assert (d.status, d.price) == ("FILLED", D("99.95"))


def test_non_marketable_limit_rests_open_then_fills_at_its_own_price():
    quote = q(100, 100.5, 100.2)
    d = fills.place_fill(
        transaction_type="BUY", order_type="LIMIT", limit_price=D("100.40"), quote=quote, at=AT
    )
    assert (d.status, d.price) == ("OPEN", None)
    later = AT + timedelta(minutes=3)
    still = fills.resting_fill(
        transaction_type="BUY", limit_price=D("100.40"), quote=q(100.1, 100.45), at=later
    )
    assert still.status == "OPEN"
    # The ask came down through the limit: the resting order trades at 100.40, not at 100.00.
    hit = fills.resting_fill(transaction_type="BUY", limit_price=D("100.40"), quote=q(99.5, 100.0), at=later)
    assert (hit.status, hit.price, hit.at) == ("FILLED", D("100.40"), later)


# --- price bands and tick -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "low", "high"),
    [
        (D("100"), D("60.00"), D("140.00")),  # > 50: +-40 %
        (D("50.05"), D("30.05"), D("70.05")),  # 30.03 rounds up, 70.07 rounds down to the tick
        (D("50"), D("30.00"), D("70.00")),  # <= 50: +-Rs 20
        (D("30"), D("10.00"), D("50.00")),
        (D("10"), D("0.05"), D("30.00")),  # never below one tick
    ],
)
def test_price_band_both_regimes(reference, low, high):
    assert fills.price_band(reference) == (low, high)


@pytest.mark.parametrize(
    ("price", "reference", "reason"),
    [
        (D("140.00"), D("100"), ""),  # the band edge is allowed
        (D("140.05"), D("100"), "price_band"),
        (D("60.00"), D("100"), ""),
        (D("59.95"), D("100"), "price_band"),
        (D("70.05"), D("50.05"), ""),  # premium > 50: 40 %
        (D("70.05"), D("50"), "price_band"),  # premium <= 50: Rs 20
        (D("50.05"), D("30"), "price_band"),
        (D("9.95"), D("30"), "price_band"),
        (D("10.00"), D("30"), ""),
        (D("100.03"), D("100"), "invalid_price"),  # off the 0.05 tick
        (D("0"), D("100"), "invalid_price"),
        (None, D("100"), "invalid_price"),
        (D("500"), None, ""),  # no reference, no band check
    ],
)
def test_price_reject_reason(price, reference, reason):
    assert fills.price_reject_reason(price, reference) == reason


def test_limit_outside_the_band_is_rejected_price_band_at_placement():
    quote = q(99.5, 100.5, 100)
    d = fills.place_fill(
        transaction_type="BUY", order_type="LIMIT", limit_price=D("140.05"), quote=quote, at=AT
    )
    assert (d.status, d.reason) == ("REJECTED", "price_band")
    d = fills.place_fill(
        transaction_type="SELL", order_type="LIMIT", limit_price=D("59.95"), quote=quote, at=AT
    )
    assert (d.status, d.reason) == ("REJECTED", "price_band")
    low = q(29, 31, 30)
    d = fills.place_fill(transaction_type="BUY", order_type="LIMIT", limit_price=D("50.05"), quote=low, at=AT)
    assert (d.status, d.reason) == ("REJECTED", "price_band")
    d = fills.place_fill(transaction_type="BUY", order_type="LIMIT", limit_price=D("50.00"), quote=low, at=AT)
    assert (d.status, d.price) == ("FILLED", D("31.00"))


def test_limit_off_the_tick_is_rejected_invalid_price():
    d = fills.place_fill(
        transaction_type="BUY", order_type="LIMIT", limit_price=D("100.02"), quote=q(100, 100.5), at=AT
    )
    assert (d.status, d.reason) == ("REJECTED", "invalid_price")


def test_band_reference_is_the_mid_without_a_last_price():
    assert fills.Quote.of(99, 101).reference == D("100.00")
    assert fills.Quote.of(float("nan"), 0, None).reference is None


def test_marketable_limit_price_for_the_live_broker():
    quote = q(100, 100.5, 100.2)
    assert fills.marketable_limit_price("BUY", quote, buffer_ticks=2) == D("100.60")
    assert fills.marketable_limit_price("SELL", quote, buffer_ticks=2) == D("99.90")
    # pulled inside the band: ask 139.95 + 2 ticks would be 140.05 > 140.00 (reference 100)
    assert fills.marketable_limit_price("BUY", q(139, 139.95, 100), buffer_ticks=2) == D("140.00")
    assert fills.marketable_limit_price("BUY", q(100, None), buffer_ticks=2) is None


def test_round_to_tick():
    assert fills.round_to_tick(D("100.024")) == D("100.00")
    assert fills.round_to_tick(D("100.025")) == D("100.05")
    assert fills.round_to_tick(D("100.01"), rounding="ROUND_CEILING") == D("100.05")
    assert fills.round_to_tick(100.0999, rounding="ROUND_FLOOR") == D("100.05")


# --- freeze-quantity split ----------------------------------------------------------------------------


def test_nifty_freeze_split_into_whole_lot_children_of_at_most_27_lots():
    expiry = date(2026, 5, 12)
    lot = contracts.lot_size("NIFTY", expiry)
    freeze = contracts.freeze_quantity("NIFTY", date(2026, 5, 5))
    assert (lot, freeze, freeze // lot) == (65, 1800, 27)
    assert fills.split_quantity(60 * 65, lot, freeze) == [1755, 1755, 390]
    assert fills.split_quantity(27 * 65, lot, freeze) == [1755]
    assert fills.split_quantity(28 * 65, lot, freeze) == [1755, 65]
    assert fills.split_quantity(54 * 65, lot, freeze) == [1755, 1755]
    assert all(q % 65 == 0 and q <= 1800 for q in fills.split_quantity(1000 * 65, lot, freeze))


def test_banknifty_split_and_bad_quantities():
    assert fills.split_quantity(45 * 30, 30, 600) == [600, 600, 150]
    with pytest.raises(ValueError, match="whole number of lots"):
        fills.split_quantity(100, 65, 1800)
    with pytest.raises(ValueError, match="whole number of lots"):
        fills.split_quantity(0, 65, 1800)
    with pytest.raises(ValueError, match="exceeds the freeze"):
        fills.split_quantity(2000, 2000, 1800)


# --- aggregation and quotes ---------------------------------------------------------------------------


def test_parent_status_and_average_price():
    assert fills.parent_status([("FILLED", 65, 65), ("FILLED", 65, 65)]) == "FILLED"
    assert fills.parent_status([("FILLED", 65, 65), ("OPEN", 0, 65)]) == "PARTIALLY_FILLED"
    assert fills.parent_status([("SUBMITTED", 0, 65), ("OPEN", 0, 65)]) == "OPEN"
    assert fills.parent_status([("REJECTED", 0, 65), ("REJECTED", 0, 65)]) == "REJECTED"
    assert fills.parent_status([("FILLED", 65, 65), ("CANCELLED", 0, 65)]) == "CANCELLED"
    assert fills.parent_status([("FILLED", 65, 65), ("EXPIRED", 0, 65)]) == "EXPIRED"
    average = fills.average_price([(1755, D("100.05"), AT), (390, D("100.60"), AT)])
    # (1755 x 100.05 + 390 x 100.60) / 2145 = 100.15
    assert average == D("100.15")


def test_quote_from_bar():
    bar = make_bar(bid=100, ask=100.5, ltp=100.2)
    assert fills.quote_from_bar(bar, EXPIRY, STRIKE, "CE") == fills.Quote(D("100.0"), D("100.5"), D("100.2"))
    assert fills.quote_from_bar(bar, EXPIRY, 99999, "CE") is None
    assert fills.quote_from_bar(bar, date(2030, 1, 1), STRIKE, "CE") is None
    assert fills.quote_from_bar(None, EXPIRY, STRIKE, "CE") is None
