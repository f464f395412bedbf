"""Kite feed against local servers speaking Kite's formats: instruments CSV / JSON over HTTP, binary
ticks over a WebSocket. Nothing here talks to Zerodha."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from kiteconnect import KiteConnect, KiteTicker

from tests.marketdata import kite_fakes as fk
from trading.core import calendar as market_calendar
from trading.core.features import FeatureBuilder
from trading.marketdata.base import FeedError, NoData
from trading.marketdata.kite.feed import KiteFeed
from trading.marketdata.kite.handover import BarSink, bar_from_json, bar_to_json, read_latest, write_latest
from trading.marketdata.kite.instruments import KiteInstruments
from trading.marketdata.kite.minute_bars import MinuteBarBuilder
from trading.marketdata.kite.ticker import start_ticker

ROOT = Path(__file__).resolve().parent.parent.parent
DAY = date(2025, 10, 6)


def ist(hh: int, mm: int, ss: float = 0, d: date = DAY) -> datetime:
    whole = int(ss)
    return datetime.combine(d, time(hh, mm, whole, int((ss - whole) * 1e6)), tzinfo=market_calendar.IST)


@pytest.fixture
def http():
    with fk.FakeKiteHTTP() as server:
        yield server


@pytest.fixture
def instruments(http: fk.FakeKiteHTTP) -> KiteInstruments:
    kite = KiteConnect(api_key="key1", access_token="tok1", root=http.url)
    return KiteInstruments.load(kite, "NIFTY")


# --- HTTP: the instrument master ------------------------------------------------------------------------


def test_instrument_master_over_http(http: fk.FakeKiteHTTP, instruments: KiteInstruments) -> None:
    assert {r["path"] for r in http.requests} == {"/instruments/NFO", "/instruments/NSE"}
    headers = http.requests[0]["headers"]
    assert headers["Authorization"] == "token key1:tok1" and headers["X-Kite-Version"] == "3"
    assert instruments.spot_token == fk.NIFTY_TOKEN and instruments.vix_token == fk.VIX_TOKEN
    assert len(instruments.contracts) == 3 * 41 * 2  # the future and BANKNIFTY rows are left out
    assert instruments.expiries(DAY) == list(fk.EXPIRIES)
    assert instruments.expiries(date(2025, 10, 8)) == list(fk.EXPIRIES[1:])
    window = instruments.window(fk.EXPIRIES[0], 24012.5, 3)
    assert window.tolist() == [23850.0, 23900.0, 23950.0, 24000.0, 24050.0, 24100.0, 24150.0]
    assert instruments.window(fk.EXPIRIES[0], 24025.0, 0).tolist() == [24050.0]  # half-way goes up
    assert instruments.window(fk.EXPIRIES[0], 22000.0, 2).tolist() == [23000.0, 23050.0, 23100.0]
    tokens = instruments.tokens(fk.EXPIRIES[:2], 24012.5, 3)
    assert len(tokens) == 2 * 7 * 2
    c = instruments.contract(fk.EXPIRIES[0], 24000.0, "PE")
    assert c is not None and c.token == fk.option_token(0, 24000.0, "PE")
    assert (
        c.tradingsymbol == fk.tradingsymbol(fk.EXPIRIES[0], 24000.0, "PE")
        and c.lot_size == 75
        and c.expiry == fk.EXPIRIES[0]
    )


def test_ltp_through_the_json_envelope(http: fk.FakeKiteHTTP) -> None:
    kite = KiteConnect(api_key="key1", access_token="tok1", root=http.url)
    data = kite.ltp(["NSE:NIFTY 50"])
    assert data["NSE:NIFTY 50"]["last_price"] == 24012.5


def test_kite_errors_become_feed_errors(http: fk.FakeKiteHTTP) -> None:
    http.fail_with = (403, "TokenException", "Incorrect `api_key` or `access_token`.")
    kite = KiteConnect(api_key="key1", access_token="expired", root=http.url)
    with pytest.raises(FeedError) as info:
        KiteInstruments.load(kite, "NIFTY")
    assert "TokenException" in str(info.value) and "access_token" in str(info.value)


def test_a_master_without_the_index_is_an_error() -> None:
    rows = [r for r in _csv_rows(fk.nfo_csv()) if r["name"] != "NIFTY"]
    with pytest.raises(FeedError, match="no NIFTY options"):
        KiteInstruments("NIFTY", rows, _csv_rows(fk.nse_csv()))
    nfo = _csv_rows(fk.nfo_csv())
    cash = [r for r in _csv_rows(fk.nse_csv()) if r["tradingsymbol"] != "INDIA VIX"]
    with pytest.raises(FeedError, match="INDIA VIX"):
        KiteInstruments("NIFTY", nfo, cash)


def _csv_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


# --- binary ticks ------------------------------------------------------------------------------------------


def test_binary_packets_parse_per_kites_layout() -> None:
    tok = fk.option_token(0, 24000.0, "CE")
    msg = fk.message(
        [
            fk.index_packet(fk.NIFTY_TOKEN, 24012.35, 24020.0, 23990.5, 24000.0, 23950.0, 1_759_722_360),
            fk.ltp_packet(fk.VIX_TOKEN, 14.37),
            fk.option_packet(tok, 112.4, volume=129_075, oi=4_512_375, bid=112.35, ask=112.6),
            fk.option_packet(tok + 256, 3.05, volume=10, oi=75, bid=0.0, ask=3.1),
        ]
    )
    ticks = KiteTicker("key1", "tok1")._parse_binary(msg)
    index, vix, opt, thin = ticks
    assert index["instrument_token"] == fk.NIFTY_TOKEN and not index["tradable"] and index["mode"] == "full"
    assert index["last_price"] == 24012.35 and index["ohlc"] == {
        "high": 24020.0,
        "low": 23990.5,
        "open": 24000.0,
        "close": 23950.0,
    }
    assert vix == {"tradable": False, "mode": "ltp", "instrument_token": fk.VIX_TOKEN, "last_price": 14.37}
    assert opt["tradable"] and opt["mode"] == "full" and opt["last_price"] == 112.4
    assert opt["volume_traded"] == 129_075 and opt["oi"] == 4_512_375
    assert opt["depth"]["buy"][0] == {"quantity": 75, "price": 112.35, "orders": 1}
    assert opt["depth"]["sell"][0]["price"] == 112.6 and len(opt["depth"]["sell"]) == 5
    assert thin["depth"]["buy"][0]["price"] == 0.0  # an empty book side


def test_ticks_become_minute_bars(instruments: KiteInstruments) -> None:
    builder = MinuteBarBuilder(instruments, list(fk.EXPIRIES[:2]), window=2)
    tokens = builder.centre(24012.5)
    assert len(tokens) == 2 * 15 * 2  # (window 2 + re-centring margin 5) each side of the ATM
    assert set(builder.wanted_tokens()) == {fk.NIFTY_TOKEN, fk.VIX_TOKEN, *tokens}
    parse = KiteTicker("key1", "tok1")._parse_binary
    ce = fk.option_token(0, 24000.0, "CE")
    pe = fk.option_token(0, 24000.0, "PE")

    def spot(price: float) -> dict:
        return parse(fk.message([fk.index_packet(fk.NIFTY_TOKEN, price, price, price, price, price, 0)]))[0]

    assert builder.on_ticks([spot(24010.0)], ist(9, 14, 59)) == []  # before the open: no bar
    assert builder.on_ticks([spot(24011.0)], ist(9, 15, 0.5)) == []
    vix = parse(fk.message([fk.ltp_packet(fk.VIX_TOKEN, 14.5)]))
    opts = parse(
        fk.message(
            [
                fk.option_packet(ce, 120.0, volume=750, oi=15000, bid=119.9, ask=120.1),
                fk.option_packet(pe, 100.0, volume=1500, oi=30000, bid=0.0, ask=100.5),
            ]
        )
    )
    builder.on_ticks(vix + opts, ist(9, 15, 10))
    builder.on_ticks([spot(24030.0), spot(23995.0)], ist(9, 15, 30))
    builder.on_ticks([spot(24005.0)], ist(9, 15, 59.9))
    (bar,) = builder.on_ticks([spot(24007.0)], ist(9, 16, 0.2))
    assert bar.time == ist(9, 15) and bar.index == "NIFTY"
    assert (bar.open, bar.high, bar.low, bar.close, bar.vix, bar.volume) == (
        24011.0,
        24030.0,
        23995.0,
        24005.0,
        14.5,
        0.0,
    )
    assert [c.expiry for c in bar.chains] == list(fk.EXPIRIES[:2])
    chain = bar.chains[0]
    assert chain.strikes.tolist() == [23900.0, 23950.0, 24000.0, 24050.0, 24100.0]
    call, put = chain.quote(24000.0, "CE"), chain.quote(24000.0, "PE")
    assert call == {
        "ltp": 120.0,
        "bid": 119.9,
        "ask": 120.1,
        "oi": 15000.0,
        "volume": 750.0,
        "iv": call["iv"],
    }
    assert math.isnan(call["iv"]) and math.isnan(put["bid"]) and put["ask"] == 100.5
    assert math.isnan(chain.quote(23900.0, "CE")["ltp"])  # subscribed, no tick yet

    # A quiet minute: the close carried flat; the quotes as last seen.
    (quiet,) = builder.advance(ist(9, 17, 1))
    assert quiet.time == ist(9, 16) and quiet.open == quiet.high == quiet.low == quiet.close == 24007.0
    assert quiet.chains[0].quote(24000.0, "CE")["ltp"] == 120.0
    assert builder.advance(ist(9, 17, 30)) == []
    # The feature frame solves the IV from the mids the feed gave.
    row = FeatureBuilder().append(bar)
    assert row["atm_strike"] == 24000.0 and 0.0 < row["atm_iv"] < 1.0
    # Spot far away: the window is re-centred and new tokens are wanted.
    before = set(builder.wanted_tokens())
    builder.on_ticks([spot(24400.0)], ist(9, 17, 40))
    assert fk.option_token(0, 24400.0, "CE") in set(builder.wanted_tokens()) - before
    # After the close no bar is made.
    late = MinuteBarBuilder(instruments, list(fk.EXPIRIES[:1]), window=1)
    late.on_ticks(vix + [spot(24000.0)], ist(15, 29, 30))
    assert [b.time for b in late.advance(ist(15, 31, 5))] == [ist(15, 29)]


# --- the hand-over and KiteFeed ----------------------------------------------------------------------------


def test_latest_bar_round_trips_through_json(instruments: KiteInstruments, tmp_path: Path) -> None:
    builder = MinuteBarBuilder(instruments, list(fk.EXPIRIES[:2]), window=1)
    builder.centre(24000.0)
    parse = KiteTicker("k", "t")._parse_binary
    ticks = parse(fk.push_message(set(builder.wanted_tokens()), 3))
    builder.on_ticks(ticks, ist(9, 20, 5))
    (bar,) = builder.advance(ist(9, 21))
    again = bar_from_json(json.loads(json.dumps(bar_to_json(bar), allow_nan=False)))
    assert again.time == bar.time and again.close == bar.close and again.vix == bar.vix
    for a, b in zip(bar.chains, again.chains):
        assert a.expiry == b.expiry and np.array_equal(a.strikes, b.strikes)
        assert np.array_equal(a.call_iv, b.call_iv, equal_nan=True) and np.array_equal(a.put_oi, b.put_oi)
    write_latest(tmp_path, bar)
    assert read_latest(tmp_path, "NIFTY").time == bar.time
    assert read_latest(tmp_path, "BANKNIFTY") is None


def test_kite_feed_reads_what_the_ticker_published(instruments: KiteInstruments, tmp_path: Path) -> None:
    feed = KiteFeed(tmp_path)
    with pytest.raises(NoData, match="is it running"):
        feed.snapshot(ist(9, 30))
    builder = MinuteBarBuilder(instruments, list(fk.EXPIRIES[:2]), window=2)
    builder.centre(24012.5)
    sink = BarSink(tmp_path)
    parse = KiteTicker("k", "t")._parse_binary
    for n in range(5):
        for bar in builder.on_ticks(
            parse(fk.push_message(set(builder.wanted_tokens()), n)), ist(9, 15 + n, 10)
        ):
            sink.write(bar)
    # Minutes 09:15..09:18 are complete and published; 09:19 is still open.
    assert feed.snapshot(ist(9, 19, 30)).time == ist(9, 18)
    assert feed.snapshot(ist(9, 18, 30)).time == ist(9, 17)  # our clock behind the ticker's: the recording
    assert feed.check(ist(9, 20)) is None
    with pytest.raises(FeedError, match="stale"):
        feed.snapshot(ist(9, 30))
    assert feed.snapshot(ist(16, 0)).time == ist(9, 18)  # after the close the last bar stands
    bars = list(feed.bars(ist(9, 0), ist(10, 0)))
    assert [b.time for b in bars] == [ist(9, m) for m in range(15, 19)]
    (day,) = feed.days(DAY, DAY)
    assert len(day) == 4 and day.expiries == fk.EXPIRIES[:2]
    assert feed.source == "KITE"


# --- the ticker in its own process against a local WebSocket server ------------------------------------------


@pytest.mark.slow
def test_ticker_process_end_to_end(http: fk.FakeKiteHTTP, tmp_path: Path) -> None:
    ws_log = tmp_path / "ws.jsonl"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.marketdata.fake_kite_ws", str(ws_log), "40"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    ticker = None
    try:
        port = int(server.stdout.readline())
        data = tmp_path / "bars"
        ticker = start_ticker(
            api_key="key1",
            access_token="tok1",
            index="NIFTY",
            directory=data,
            kite_root=http.url,
            ws_root=f"ws://127.0.0.1:{port}",
            # A fake clock from 09:14:57 IST at 60x: one second of test is one market minute.
            extra_args=["--window", "3", "--clock-start", "2025-10-06T09:14:57+05:30", "--clock-speed", "60"]
            + ["--run-seconds", "6"],
            log_file=tmp_path / "ticker.log",
        )
        assert ticker.wait(timeout=60) == 0, (tmp_path / "ticker.log").read_text()
    finally:
        if ticker is not None and ticker.poll() is None:
            ticker.kill()
        server.terminate()
        server.wait(timeout=10)
    entries = [json.loads(line) for line in ws_log.read_text().splitlines()]
    assert entries[0]["connect"] == {"api_key": "key1", "access_token": "tok1"}
    messages = [e["message"] for e in entries if "message" in e]
    subscribed = {t for m in messages if m["a"] == "subscribe" for t in m["v"]}
    assert {fk.NIFTY_TOKEN, fk.VIX_TOKEN} <= subscribed and len(subscribed) >= 2 + 2 * 7 * 2
    assert any(m["a"] == "mode" and m["v"][0] == "full" for m in messages)
    assert any(r["path"] == "/quote/ltp" for r in http.requests)

    feed = KiteFeed(data)
    latest = read_latest(data, "NIFTY")
    bars = list(feed.bars(ist(9, 0), ist(10, 0)))
    # The fake clock runs from before the open; how many minutes pass before the first tick depends
    # on how fast the process starts, so only the run of consecutive minutes is checked.
    assert len(bars) >= 2 and ist(9, 15) <= bars[0].time <= ist(9, 18)
    assert [b.time for b in bars] == [bars[0].time + timedelta(minutes=i) for i in range(len(bars))]
    assert latest is not None and latest.time == bars[-1].time
    for bar in bars:
        assert [c.expiry for c in bar.chains] == list(fk.EXPIRIES[:2])
        assert bar.chains[0].strikes.size == 7 and 23800 <= bar.close <= 24100
        assert np.isfinite(bar.chains[0].call_ltp).all() and (bar.chains[0].call_oi >= 50_000).all()
    assert feed.snapshot(latest.time + timedelta(minutes=1)).time == latest.time
    row = FeatureBuilder.from_history(feed.days(DAY, DAY)).frame().iloc[-1]
    assert row["expiry"] == fk.EXPIRIES[0] and row["atm_iv"] > 0
