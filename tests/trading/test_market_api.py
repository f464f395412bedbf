"""The option-chain API and page: errors, shape, and values against the stored snapshot."""

from __future__ import annotations

import math
from datetime import date, datetime, time

import numpy as np
import pytest
from rest_framework.authtoken.models import Token
from scipy.stats import norm

from tests.helpers import user_with_role
from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.bars import MarketBar, OptionChain
from trading.core.options import bs_price, year_fraction
from trading.market.models import MarketSnapshot
from trading.market.services import ChainError, latest_chain, snapshot_store
from trading.marketdata.simulated import SimulatedFeed

pytestmark = pytest.mark.django_db
D1, D2 = date(2025, 10, 6), date(2025, 10, 7)
URL = "/api/market/chain"


def ist(d: date, hh: int, mm: int) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=market_calendar.IST)


@pytest.fixture(scope="module")
def feed() -> SimulatedFeed:
    return SimulatedFeed(seed=4, start=date(2025, 10, 1))


@pytest.fixture
def bars(feed: SimulatedFeed) -> dict[str, MarketBar]:
    """The previous close (D1 15:29), the session's first bar and the latest bar (D2 10:00), stored."""
    out = {
        "close": feed.snapshot(ist(D1, 15, 30)),
        "open": feed.snapshot(ist(D2, 9, 16)),
        "latest": feed.snapshot(ist(D2, 10, 1)),
    }
    for bar in out.values():
        snapshot_store(bar, "SIM")
    return out


@pytest.fixture
def user():
    return user_with_role("viewer", "trader", password="pw-123456")


@pytest.fixture
def api(client, user):
    client.force_login(user)
    return client


def naive_max_pain(k, c, p) -> float:
    pain = [sum(c[j] * max(P - k[j], 0) + p[j] * max(k[j] - P, 0) for j in range(len(k))) for P in k]
    return float(k[int(np.argmin(pain))])


def bs_delta(spot, strike, t, r, vol, call: bool) -> float:
    d1 = (math.log(spot / strike) + (r + vol * vol / 2) * t) / (vol * math.sqrt(t))
    return norm.cdf(d1) if call else norm.cdf(d1) - 1.0


# --- errors -----------------------------------------------------------------------------------------------


def test_anonymous_gets_401(client, bars) -> None:
    assert client.get(URL).status_code == 401


def test_unknown_index_is_400(api, bars) -> None:
    r = api.get(URL, {"index": "FOO"})
    assert r.status_code == 400
    assert "unknown index 'FOO'" in r.json()["detail"] and "NIFTY" in r.json()["detail"]


def test_malformed_expiry_is_400(api, bars) -> None:
    r = api.get(URL, {"index": "NIFTY", "expiry": "07-10-2025"})
    assert r.status_code == 400
    assert r.json()["detail"] == "expiry must be a date YYYY-MM-DD, got '07-10-2025'"


def test_expiry_not_in_the_chain_is_400_and_lists_the_available(api, bars) -> None:
    r = api.get(URL, {"index": "NIFTY", "expiry": "2025-10-09"})
    assert r.status_code == 400
    detail = r.json()["detail"]
    expiries = [c.expiry.isoformat() for c in bars["latest"].chains]
    assert "expiry 2025-10-09 is not in the latest NIFTY chain" in detail
    assert detail.endswith("available: " + ", ".join(expiries))


def test_no_snapshot_is_404(api, bars) -> None:
    r = api.get(URL, {"index": "BANKNIFTY"})
    assert r.status_code == 404 and "no market snapshot of BANKNIFTY" in r.json()["detail"]


# --- values ----------------------------------------------------------------------------------------------------


def test_chain_values_against_the_stored_bar(api, bars) -> None:
    bar = bars["latest"]
    chain = bar.chains[0]
    r = api.get(URL, {"index": "nifty"})
    assert r.status_code == 200
    d = r.json()
    assert d["index"] == "NIFTY" and d["source"] == "SIM" and d["expiry"] == chain.expiry.isoformat()
    assert d["expiries"] == [c.expiry.isoformat() for c in bar.chains]
    assert datetime.fromisoformat(d["time"]) == bar.time
    assert d["spot"] == bar.close and d["vix"] == pytest.approx(bar.vix)
    k, c_oi, p_oi = chain.strikes, chain.call_oi, chain.put_oi
    assert [row["strike"] for row in d["strikes"]] == k.tolist()
    assert d["pcr_oi"] == pytest.approx(p_oi.sum() / c_oi.sum())
    assert d["pcr_volume"] == pytest.approx(chain.put_volume.sum() / chain.call_volume.sum())
    assert d["max_pain"] == naive_max_pain(k, c_oi, p_oi)
    assert d["support"] == k[int(np.argmax(p_oi))] and d["resistance"] == k[int(np.argmax(c_oi))]
    step = contracts.strike_step("NIFTY", D2)
    assert d["atm_strike"] == math.floor(bar.close / step + 0.5) * step
    t = year_fraction(ist(D2, 10, 1), chain.expiry)
    r_ = contracts.risk_free_rate(D2)
    assert d["days_to_expiry"] == pytest.approx(t * 365, abs=1e-3)
    prev = bars["close"].chains[0]  # same weekly on both days (D2 is its expiry day)
    assert prev.expiry == chain.expiry
    assert datetime.fromisoformat(d["oi_change_since"]) == bars["close"].time
    for j, row in enumerate(d["strikes"]):
        for side, name in (("call", "call"), ("put", "put")):
            got = row[side]
            for f in ("ltp", "bid", "ask", "oi", "volume", "iv"):
                assert got[f] == pytest.approx(float(getattr(chain, f"{name}_{f}")[j])), (j, side, f)
            vol = float(getattr(chain, f"{name}_iv")[j])
            assert got["delta"] == pytest.approx(
                bs_delta(bar.close, k[j], t, r_, vol, side == "call"), abs=1e-9
            )
            before = np.nonzero(prev.strikes == k[j])[0]
            if before.size:
                expected = float(getattr(chain, f"{name}_oi")[j] - getattr(prev, f"{name}_oi")[before[0]])
                assert got["oi_change"] == pytest.approx(expected)
            else:
                assert got["oi_change"] is None
    atm = d["strikes"][[row["strike"] for row in d["strikes"]].index(d["atm_strike"])]
    assert d["atm_iv"] == pytest.approx((atm["call"]["iv"] + atm["put"]["iv"]) / 2)


def test_second_expiry_and_token_auth(client, user, bars) -> None:
    token = Token.objects.create(user=user)
    second = bars["latest"].chains[1]
    r = client.get(
        URL, {"index": "NIFTY", "expiry": second.expiry.isoformat()}, HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert r.status_code == 200
    d = r.json()
    assert d["expiry"] == second.expiry.isoformat()
    assert d["strikes"][0]["put"]["oi"] == second.put_oi[0]


def test_iv_and_delta_are_solved_when_the_feed_sends_no_iv() -> None:
    strikes = np.array([23900.0, 24000.0, 24100.0])
    at = ist(D1, 11, 0)
    expiry = D2
    t = year_fraction(at + (ist(D1, 11, 1) - at), expiry)
    r = contracts.risk_free_rate(D1)
    call = np.round(bs_price(0.15, 24010.0, strikes, t, r, True), 8)
    put = np.round(bs_price(0.15, 24010.0, strikes, t, r, False), 8)
    nan = np.full(3, np.nan)
    chain = OptionChain(
        expiry=expiry,
        strikes=strikes,
        call_ltp=call,
        call_bid=call,
        call_ask=call,
        call_oi=np.array([10.0, 20.0, 30.0]),
        call_volume=np.ones(3),
        call_iv=nan,
        put_ltp=put,
        put_bid=put,
        put_ask=put,
        put_oi=np.array([30.0, 20.0, 10.0]),
        put_volume=np.ones(3),
        put_iv=nan,
    )
    bar = MarketBar(
        index="NIFTY", time=at, open=24000, high=24020, low=23990, close=24010.0, vix=14.0, chains=[chain]
    )
    snap = snapshot_store(bar, "KITE")
    assert snap.atm_iv == pytest.approx(0.15, abs=1e-7) and snap.pcr == 1.0
    d = latest_chain("NIFTY")
    assert d["source"] == "KITE" and d["oi_change_since"] is None
    for row in d["strikes"]:
        assert row["call"]["iv"] == pytest.approx(0.15, abs=1e-7)
        assert row["call"]["delta"] == pytest.approx(
            bs_delta(24010.0, row["strike"], t, r, 0.15, True), abs=1e-6
        )
        assert row["put"]["delta"] == pytest.approx(
            bs_delta(24010.0, row["strike"], t, r, 0.15, False), abs=1e-6
        )
        assert row["call"]["oi_change"] is None


def test_store_is_idempotent_and_prunes(bars, feed) -> None:
    assert MarketSnapshot.objects.count() == 3
    snapshot_store(bars["latest"], "SIM")
    assert MarketSnapshot.objects.count() == 3
    snap = MarketSnapshot.objects.get(time=bars["latest"].time)
    assert snap.spot == bars["latest"].close and set(snap.chain) == {
        c.expiry.isoformat() for c in bars["latest"].chains
    }
    first = snap.chain[bars["latest"].chains[0].expiry.isoformat()]
    assert set(first) == {"strikes", "CE", "PE"} and set(first["CE"]) == {
        "ltp",
        "bid",
        "ask",
        "oi",
        "volume",
        "iv",
    }
    later = feed.snapshot(ist(date(2025, 10, 9), 9, 30))
    snapshot_store(later, "SIM", keep_days=2)
    assert MarketSnapshot.objects.filter(time__lt=ist(D2, 9, 30)).count() == 0
    assert MarketSnapshot.objects.count() == 2


def test_compact_shape_is_read_too(api) -> None:
    t = ist(D1, 10, 0)
    MarketSnapshot.objects.create(
        index="NIFTY",
        time=t,
        source="SIM",
        spot=24010.0,
        vix=14.0,
        chain={
            "expiry": "2025-10-07",
            "strikes": [23950.0, 24000.0, 24050.0],
            "call_ltp": [120.0, 90.0, 60.0],
            "put_ltp": [60.0, 80.0, 110.0],
            "call_oi": [100.0, 300.0, 500.0],
            "put_oi": [600.0, 200.0, 100.0],
        },
    )
    d = api.get(URL).json()
    assert d["expiry"] == "2025-10-07" and d["resistance"] == 24050.0 and d["support"] == 23950.0
    assert d["strikes"][1]["call"]["bid"] is None and d["strikes"][1]["call"]["ltp"] == 90.0
    assert d["strikes"][1]["call"]["iv"] > 0  # solved from the LTP


def test_latest_chain_errors_directly(bars) -> None:
    with pytest.raises(ChainError) as info:
        latest_chain("NIFTY", "2030-01-01")
    assert info.value.status == 400
    with pytest.raises(ChainError) as info:
        latest_chain("SENSEX")
    assert info.value.status == 404


# --- the page ---------------------------------------------------------------------------------------------------


def test_page_needs_login(client, bars) -> None:
    r = client.get("/market/chain/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_page_shows_the_chain_and_the_chart(api, bars) -> None:
    bar = bars["latest"]
    r = api.get("/market/chain/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "NIFTY option chain" in html
    assert 'id="oi-chart"' in html and "vendor/chart.umd.min.js" in html and 'id="chain-data"' in html
    assert html.count('<td class="strike">') == bar.chains[0].strikes.size
    assert f"{bar.chains[0].strikes[0]:g}" in html
    assert 'class="atm"' in html
    r = api.get("/market/chain/", {"expiry": bar.chains[1].expiry.isoformat()})
    assert (
        r.status_code == 200 and f'value="{bar.chains[1].expiry.isoformat()}" selected' in r.content.decode()
    )


def test_page_shows_errors(api, bars) -> None:
    r = api.get("/market/chain/", {"expiry": "2030-01-01"})
    assert r.status_code == 400 and "is not in the latest NIFTY chain" in r.content.decode()
    r = api.get("/market/chain/", {"index": "SENSEX"})  # no snapshot yet: the page's empty state
    assert r.status_code == 200 and "no market snapshot of SENSEX" in r.content.decode()
