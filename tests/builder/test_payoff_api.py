"""``POST /api/builder/payoff`` against figures worked by hand for every template (NIFTY, lot 65 for
the 2026-05-05 and 2026-05-12 expiries; the premiums of tests/core/combos/conftest.py), the curve, the
Greeks and probability of profit against independent formulas, and bad legs refused by name."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import pytest
from rest_framework.test import APIClient

from tests.helpers import user_with_role
from trading.core import calendar as market_calendar

pytestmark = pytest.mark.django_db
URL = "/api/builder/payoff"
NEAR, FAR = "2026-05-05", "2026-05-12"
R = 0.055  # the dated risk-free rate in May 2026 (repo 5.25% + 0.25%)


@pytest.fixture
def client() -> APIClient:
    c = APIClient()
    c.force_authenticate(user_with_role("viewer"))
    return c


def leg(
    kind: str, side: str, strike: float | None, premium: float | None, expiry: str = NEAR, lots: int = 1, **x
):
    out = {"type": kind, "side": side, "strike": strike, "expiry": expiry, "lots": lots, **x}
    if premium is not None:
        out["premium"] = premium
    return out


def payoff(client: APIClient, legs: list[dict], **over) -> dict:
    body = {"index": "NIFTY", "spot": 24000, "days_to_expiry": 1, "iv": 0.14, "legs": legs, **over}
    response = client.post(URL, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


# Each template's legs on the hand-made chain, and its figures worked by hand (rupees, lot 65).
TEMPLATES = {
    # credit 150 + 140 = 290 -> 18,850; loss unlimited; breakevens 24,000 -+ 290
    "short_straddle": (
        [leg("CE", "SELL", 24000, 150), leg("PE", "SELL", 24000, 140)],
        18850.0,
        None,
        [23710.0, 24290.0],
    ),
    # credit 70 + 60 = 130 -> 8,450; breakevens 23,800 - 130, 24,200 + 130
    "short_strangle": (
        [leg("CE", "SELL", 24200, 70), leg("PE", "SELL", 23800, 60)],
        8450.0,
        None,
        [23670.0, 24330.0],
    ),
    # credit 70 + 60 - 25 - 20 = 85 -> 5,525; wings 200: loss (200 - 85) x 65 = 7,475
    "iron_condor": (
        [
            leg("CE", "BUY", 24400, 25),
            leg("PE", "BUY", 23600, 20),
            leg("CE", "SELL", 24200, 70),
            leg("PE", "SELL", 23800, 60),
        ],
        5525.0,
        -7475.0,
        [23715.0, 24285.0],
    ),
    # credit 290 - 130 = 160 -> 10,400; loss (200 - 160) x 65 = 2,600
    "iron_butterfly": (
        [
            leg("CE", "BUY", 24200, 70),
            leg("PE", "BUY", 23800, 60),
            leg("CE", "SELL", 24000, 150),
            leg("PE", "SELL", 24000, 140),
        ],
        10400.0,
        -2600.0,
        [23840.0, 24160.0],
    ),
    # debit 80 -> loss 5,200; profit (200 - 80) x 65 = 7,800; breakeven 24,080
    "bull_call_spread": (
        [leg("CE", "BUY", 24000, 150), leg("CE", "SELL", 24200, 70)],
        7800.0,
        -5200.0,
        [24080.0],
    ),
    # debit 80 -> loss 5,200; profit 7,800; breakeven 23,920
    "bear_put_spread": (
        [leg("PE", "BUY", 24000, 140), leg("PE", "SELL", 23800, 60)],
        7800.0,
        -5200.0,
        [23920.0],
    ),
    # credit 80 -> profit 5,200; loss 7,800; breakeven 23,920
    "bull_put_spread": (
        [leg("PE", "BUY", 23800, 60), leg("PE", "SELL", 24000, 140)],
        5200.0,
        -7800.0,
        [23920.0],
    ),
    # credit 80 -> profit 5,200; loss 7,800; breakeven 24,080
    "bear_call_spread": (
        [leg("CE", "BUY", 24200, 70), leg("CE", "SELL", 24000, 150)],
        5200.0,
        -7800.0,
        [24080.0],
    ),
    # debit 290 -> loss 18,850; profit unlimited
    "long_straddle": (
        [leg("CE", "BUY", 24000, 150), leg("PE", "BUY", 24000, 140)],
        None,
        -18850.0,
        [23710.0, 24290.0],
    ),
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_against_hand_worked_figures(client, name):
    legs, max_profit, max_loss, breakevens = TEMPLATES[name]
    d = payoff(client, legs)
    assert (d["max_profit"], d["max_loss"]) == (max_profit, max_loss)
    assert d["breakevens"] == breakevens
    assert [x["lot_size"] for x in d["legs"]] == [65] * len(legs)
    assert d["evaluation_expiry"] == NEAR
    # The curve at expiry is the textbook payoff: check it at every point against a second implementation.
    for spot, pnl in zip(d["curve"]["spot"], d["curve"]["at_expiry"]):
        expected = 0.0
        for x in legs:
            value = max(spot - x["strike"], 0) if x["type"] == "CE" else max(x["strike"] - spot, 0)
            expected += (1 if x["side"] == "BUY" else -1) * 65 * (value - x["premium"])
        assert pnl == pytest.approx(expected, abs=0.01)
    # Bounded figures are the curve's own extremes where the curve reaches them.
    if max_loss is not None:
        assert min(d["curve"]["at_expiry"]) >= max_loss - 0.01


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _bs_call(spot: float, strike: float, t: float, r: float, vol: float) -> float:
    s = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + (r + 0.5 * vol * vol) * t) / s
    return spot * _n(d1) - strike * math.exp(-r * t) * _n(d1 - s)


def test_calendar_spread_far_leg_by_black76_at_its_iv(client):
    # Sell the 05-05 24,000 CE at 150, buy the 05-12 one at 260 (IV 14%). At 05-05 15:30 the far call
    # has 7 days left: Black-76 on F = S e^{r tau} equals Black-Scholes on S with q = 0.
    legs = [leg("CE", "BUY", 24000, 260, expiry=FAR, iv=0.14), leg("CE", "SELL", 24000, 150)]
    d = payoff(client, legs)
    tau = 7 / 365

    def pnl(spot: float) -> float:
        return 65 * ((150 - max(spot - 24000, 0)) + (_bs_call(spot, 24000, tau, R, 0.14) - 260))

    assert d["max_profit"] == pytest.approx(pnl(24000.0), abs=0.01)  # the peak is at the strike
    assert d["max_loss"] == pytest.approx(-7150.0, abs=0.01)  # spot 0: the debit 110 x 65
    for spot, value in zip(d["curve"]["spot"][::20], d["curve"]["at_expiry"][::20]):
        assert value == pytest.approx(pnl(spot), abs=0.01)
    assert len(d["breakevens"]) == 2
    for b in d["breakevens"]:
        assert abs(pnl(b)) < 1.0  # within a rupee of zero at the rounded breakeven


def test_today_greeks_and_probability_of_profit_against_formulas(client):
    # One long 24,000 CE, one day to expiry (now = 05-04 15:30 IST), IV 14%.
    d = payoff(client, [leg("CE", "BUY", 24000, 150)])
    t, vol = 1 / 365, 0.14
    assert d["now"] == (market_calendar.session_close(date(2026, 5, 5)) - timedelta(days=1)).isoformat()
    s = vol * math.sqrt(t)
    d1 = (math.log(24000 / 24000) + (R + 0.5 * vol * vol) * t) / s
    assert d["greeks"]["delta"] == pytest.approx(65 * _n(d1), abs=1e-3)
    assert d["greeks"]["gamma"] == pytest.approx(
        65 * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) / (24000 * s), abs=1e-5
    )
    assert d["legs"][0]["greeks"]["delta"] == d["greeks"]["delta"]
    # Today's value at the spot: 65 x (Black-Scholes - 150).
    i = d["curve"]["spot"].index(24000.0)
    assert d["curve"]["today"][i] == pytest.approx(65 * (_bs_call(24000, 24000, t, R, vol) - 150), abs=0.01)
    # POP: P(S_T > 24,150) with ln S_T ~ N(ln S + (r - v^2/2) t, v^2 t).
    z = (math.log(24150 / 24000) - (R - 0.5 * vol * vol) * t) / s
    assert d["breakevens"] == [24150.0]
    assert d["probability_of_profit"] == pytest.approx(1 - _n(z), abs=1e-4)
    assert d["max_profit"] is None and d["max_loss"] == -9750.0


def test_a_missing_premium_is_the_model_price(client):
    d = payoff(client, [leg("CE", "BUY", 24000, None)], days_to_expiry=7)
    expected = _bs_call(24000, 24000, 7 / 365, R, 0.14)
    assert d["legs"][0]["premium_source"] == "model"
    assert d["legs"][0]["premium"] == pytest.approx(expected, abs=0.006)
    assert d["max_loss"] == pytest.approx(-65 * d["legs"][0]["premium"], abs=0.01)


def test_margin_estimate_covered_and_uncovered(client):
    condor = payoff(client, TEMPLATES["iron_condor"][0])
    assert condor["margin"]["fully_covered"] is True and condor["margin"]["is_estimate"] is True
    assert condor["margin"]["total"] == 7475.0  # every short covered: the maximum loss
    straddle = payoff(client, TEMPLATES["short_straddle"][0])
    # Each uncovered ATM short: max(6% x 24,000 - 0, 3% x 24,000) + 2% x 24,000 = 1,920 per unit x 65.
    assert straddle["margin"]["fully_covered"] is False
    assert straddle["margin"]["total"] == 2 * 1920.0 * 65


def test_each_leg_takes_its_own_contracts_lot():
    # On 2025-12-22 the 2025-12-23 weekly still trades in lots of 75, the 2026-01-06 weekly in 65.
    c = APIClient()
    c.force_authenticate(user_with_role("viewer"))
    legs = [
        leg("CE", "SELL", 26000, 100, expiry="2025-12-23"),
        leg("CE", "BUY", 26000, 250, expiry="2026-01-06", iv=0.12),
    ]
    d = payoff(c, legs, spot=26000)
    assert [x["quantity"] for x in d["legs"]] == [75, 65]
    assert d["max_loss"] is None  # 75 short units outgrow 65 long ones


def test_a_future_leg(client):
    # Long 1 lot of the May future at 24,100 and a long 24,000 PE at 140: a synthetic long call.
    d = payoff(
        client,
        [
            {"type": "FUT", "side": "BUY", "expiry": "2026-05-26", "lots": 1, "premium": 24100},
            leg("PE", "BUY", 24000, 140, expiry="2026-05-26"),
        ],
        days_to_expiry=0,
    )
    assert d["legs"][0]["strike"] is None and d["legs"][0]["lot_size"] == 65
    # Below 24,000: (24,000 - 24,100 - 140) x 65 = -15,600; profit unlimited.
    assert (d["max_profit"], d["max_loss"]) == (None, -15600.0)
    assert d["breakevens"] == [24240.0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"spot": -1}, "spot"),
        ({"iv": 14}, "iv"),
        ({"iv": "x"}, "iv"),
        ({"index": "NIFTYX"}, "index"),
        ({"days_to_expiry": -2}, "days_to_expiry"),
        ({"legs": []}, "legs"),
        ({"legs": [leg("XE", "BUY", 24000, 1)]}, "legs[0].type"),
        ({"legs": [leg("CE", "BUY", 24000, 1), leg("CE", "HOLD", 24000, 1)]}, "legs[1].side"),
        ({"legs": [leg("CE", "BUY", None, 1)]}, "legs[0].strike"),
        ({"legs": [leg("CE", "BUY", -5, 1)]}, "legs[0].strike"),
        ({"legs": [leg("CE", "BUY", 24000, 1, expiry="2026-05-06")]}, "legs[0].expiry"),
        ({"legs": [leg("CE", "BUY", 24000, 1, expiry="next week")]}, "legs[0].expiry"),
        ({"legs": [leg("CE", "BUY", 24000, 1, lots=0)]}, "legs[0].lots"),
        ({"legs": [leg("CE", "BUY", 24000, 1, lots=1.5)]}, "legs[0].lots"),
        ({"legs": [leg("CE", "BUY", 24000, -3)]}, "legs[0].premium"),
        ({"legs": [leg("CE", "BUY", 24000, 1, qty=3)]}, "legs[0].qty"),
        (
            {"legs": [{"type": "FUT", "side": "BUY", "strike": 24000, "expiry": "2026-05-26"}]},
            "legs[0].strike",
        ),
        ({"legs": [{"type": "FUT", "side": "BUY", "expiry": NEAR}]}, "legs[0].expiry"),  # not a monthly
        ({"legs": "CE"}, "legs"),
        ({"legs": ["CE"]}, "legs[0]"),
    ],
)
def test_bad_input_is_a_400_naming_the_leg_and_field(client, change, field):
    body = {
        "index": "NIFTY",
        "spot": 24000,
        "days_to_expiry": 1,
        "iv": 0.14,
        "legs": [leg("CE", "BUY", 24000, 150)],
        **change,
    }
    response = client.post(URL, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_without_days_the_callers_clock_is_now(client, monkeypatch):
    clock = datetime.combine(date(2026, 5, 4), time(12, 0), tzinfo=market_calendar.IST)
    monkeypatch.setattr("trading.builder.api.timezone.now", lambda: clock)
    body = {"spot": 24000, "iv": 0.14, "legs": [leg("CE", "BUY", 24000, 150)]}
    d = client.post(URL, body, format="json").json()
    assert d["days_to_expiry"] == pytest.approx(1 + 3.5 / 24)  # 05-04 12:00 -> 05-05 15:30
    expired = client.post(
        URL, {**body, "legs": [leg("CE", "BUY", 24000, 150, expiry="2026-04-28")]}, format="json"
    )
    assert expired.status_code == 400 and list(expired.json()) == ["legs[0].expiry"]


def test_who_may_compute():
    body = {"spot": 24000, "iv": 0.14, "days_to_expiry": 1, "legs": [leg("CE", "BUY", 24000, 150)]}
    assert APIClient().post(URL, body, format="json").status_code == 401
    nobody = APIClient()
    nobody.force_authenticate(user_with_role(None, "nobody"))
    assert nobody.post(URL, body, format="json").status_code == 403
