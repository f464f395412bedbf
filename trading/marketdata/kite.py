"""Zerodha Kite as a live feed: the instrument master over HTTP, ticks over ``KiteTicker``.

Two processes, because the ticker runs on Twisted, whose reactor cannot be restarted inside one
process (DOMAIN.md section 6):

* **The ticker process** (``python -m trading.marketdata.kite``, started by ``start_ticker``) logs in
  with the day's access token, reads the instrument master (``kite.instruments("NFO")``: the real
  expiry dates, tradingsymbols and tokens of the chain), subscribes the index, India VIX and ATM +-
  ``window`` strikes of the nearest expiries in full mode, and turns ticks into one ``MarketBar`` per
  minute (``MinuteBarBuilder``). Each completed minute goes to ``BarSink``: appended to the day's
  replay file by the ``ChainRecorder`` (so every live session is also recorded), then published as
  ``{INDEX}_latest.json``, replaced atomically (write + rename).
* **The trading process** uses ``KiteFeed``: ``snapshot(at)`` reads the latest JSON (a few kB, no
  parsing of the day), ``bars``/``days`` read the recorded CSV up to the last published minute.
  A bar older than ``stale_after`` during the session raises ``FeedError`` (ticker dead or
  disconnected), which the engine treats like any feed failure.

The transport is the file system (``FeedConfig.data_dir``, ``MARKET_DATA_DIR``): it needs no service, survives a
restart of either side, and the recording is a by-product. With several hosts, run the ticker
beside the process that trades (one ticker per index; Kite allows 3 WebSocket connections per key).

Ticks -> minute bars: a tick belongs to the minute in which it **arrives** (the wall clock of the
ticker process, injected as ``clock``); spot OHLC from the index's ticks in that minute (the previous
close carried flat when none came), VIX = its last value, and each option's last state at the
minute's end: LTP, best bid/ask of the depth (NaN when the book side is empty), OI and the day's
cumulative volume (``volume_traded``). IV is left NaN: ``core.features`` solves it from the mid.
Minutes outside 09:15-15:30 IST produce no bar.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import time as time_module
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.bars import CHAIN_FIELDS, DayBars, MarketBar, OptionChain
from trading.marketdata.base import Feed, FeedError, NoData
from trading.marketdata.config import FeedConfig
from trading.marketdata.recorder import ChainRecorder
from trading.marketdata.replay import ReplayFeed

log = logging.getLogger(__name__)

__all__ = [
    "BarSink",
    "KiteContract",
    "KiteFeed",
    "KiteInstruments",
    "MinuteBarBuilder",
    "read_latest",
    "run_ticker",
    "start_ticker",
    "write_latest",
]

VIX_SYMBOL = "NSE:INDIA VIX"
MINUTE = timedelta(minutes=1)
Clock = Callable[[], datetime]


# --- the instrument master ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KiteContract:
    """One option of the chain as the instrument master lists it."""

    token: int
    tradingsymbol: str
    expiry: date
    strike: float
    option_type: str  # CE or PE
    lot_size: int


def _kite_error(exc: Exception, what: str) -> FeedError:
    return FeedError(f"Kite {what} failed: {type(exc).__name__}: {exc}")


class KiteInstruments:
    """The option contracts of one index, its spot token and India VIX's, from Kite's master.

    ``records``: rows of ``kite.instruments(fo_exchange)``; ``cash_records``: rows of the cash
    exchange(s) holding the index and ``INDIA VIX`` (segment INDICES).
    """

    def __init__(self, index: str, records: Iterable[dict], cash_records: Iterable[dict]) -> None:
        self.index = index.upper()
        spec = contracts.index_spec(self.index)
        self.contracts: dict[int, KiteContract] = {}
        for row in records:
            if row.get("name") != self.index or row.get("instrument_type") not in ("CE", "PE"):
                continue
            expiry = row["expiry"]
            if isinstance(expiry, str):
                expiry = date.fromisoformat(expiry)
            c = KiteContract(
                token=int(row["instrument_token"]),
                tradingsymbol=str(row["tradingsymbol"]),
                expiry=expiry,
                strike=float(row["strike"]),
                option_type=str(row["instrument_type"]),
                lot_size=int(row["lot_size"]),
            )
            self.contracts[c.token] = c
        if not self.contracts:
            raise FeedError(f"the {spec.fo_exchange} instrument master lists no {self.index} options")
        cash = {
            f"{r.get('exchange')}:{r.get('tradingsymbol')}": int(r["instrument_token"]) for r in cash_records
        }
        try:
            self.spot_token = cash[spec.spot_symbol]
            self.vix_token = cash[VIX_SYMBOL]
        except KeyError as exc:
            raise FeedError(f"the instrument master has no {exc.args[0]}") from None
        self.spot_symbol = spec.spot_symbol
        self._by_key = {(c.expiry, c.strike, c.option_type): c for c in self.contracts.values()}

    @classmethod
    def load(cls, kite: object, index: str) -> KiteInstruments:
        """Read the master through a ``KiteConnect`` (``instruments(exchange)``); FeedError on failure."""
        spec = contracts.index_spec(index)
        exchanges = [spec.fo_exchange]
        cash_exchanges = sorted({spec.spot_symbol.split(":")[0], VIX_SYMBOL.split(":")[0]})
        try:
            records = kite.instruments(exchanges[0])  # type: ignore[attr-defined]
            cash = [row for ex in cash_exchanges for row in kite.instruments(ex)]  # type: ignore[attr-defined]
        except Exception as exc:  # kiteconnect raises its own hierarchy and requests' errors
            raise _kite_error(exc, "instrument master") from exc
        return cls(index, records, cash)

    def expiries(self, on: date) -> list[date]:
        """Expiry dates listed on or after ``on``, ascending (the broker's, holidays included)."""
        return sorted({c.expiry for c in self.contracts.values() if c.expiry >= on})

    def strikes(self, expiry: date) -> np.ndarray:
        """Strikes listed for ``expiry`` with both a CE and a PE, ascending."""
        calls = {c.strike for c in self.contracts.values() if c.expiry == expiry and c.option_type == "CE"}
        puts = {c.strike for c in self.contracts.values() if c.expiry == expiry and c.option_type == "PE"}
        return np.array(sorted(calls & puts), dtype=float)

    def window(self, expiry: date, spot: float, steps: int) -> np.ndarray:
        """The listed strikes of ``expiry`` nearest ``spot``: the ATM one and ``steps`` on each side."""
        k = self.strikes(expiry)
        if k.size == 0:
            return k
        dist = np.abs(k - spot)
        atm = k.size - 1 - int(np.argmin(dist[::-1]))  # a tie goes to the higher strike
        return k[max(atm - steps, 0) : atm + steps + 1]

    def contract(self, expiry: date, strike: float, option_type: str) -> KiteContract | None:
        return self._by_key.get((expiry, float(strike), option_type))

    def tokens(self, expiries: Iterable[date], spot: float, steps: int) -> dict[int, KiteContract]:
        """The contracts of ATM +- ``steps`` strikes of each expiry, by instrument token."""
        out: dict[int, KiteContract] = {}
        for e in expiries:
            for k in self.window(e, spot, steps):
                for ot in ("CE", "PE"):
                    c = self.contract(e, k, ot)
                    if c is not None:
                        out[c.token] = c
        return out


# --- ticks -> minute bars ----------------------------------------------------------------------------------


def _floor_minute(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(second=0, microsecond=0)


def _in_session(minute_start: datetime) -> bool:
    ist = minute_start.astimezone(market_calendar.IST).time()
    return market_calendar.SESSION_OPEN <= ist < market_calendar.SESSION_CLOSE


@dataclass
class _Quote:
    ltp: float = math.nan
    bid: float = math.nan
    ask: float = math.nan
    oi: float = math.nan
    volume: float = math.nan


class MinuteBarBuilder:
    """Aggregates ticks into one ``MarketBar`` per minute (see the module docstring for the rules).

    ``on_ticks(ticks, now)`` and ``advance(now)`` return the bars completed by ``now``.
    ``wanted_tokens()`` is the subscription the current spot needs (the window follows spot:
    re-centred when the ATM strike moves ``recentre_steps`` away from the last centre).
    """

    def __init__(
        self,
        instruments: KiteInstruments,
        expiries: list[date],
        *,
        window: int = 20,
        recentre_steps: int = 5,
    ) -> None:
        self.instruments = instruments
        self.index = instruments.index
        self.expiries = list(expiries)
        self.window = window
        self.recentre_steps = recentre_steps
        self.quotes: dict[int, _Quote] = {}
        self._minute: datetime | None = None
        self._spot: list[float] = []  # prices of the index in the current minute
        self._last_close = math.nan
        self._vix = math.nan
        self._centre = math.nan
        self._wanted: dict[int, KiteContract] = {}

    # subscription

    def centre(self, spot: float) -> dict[int, KiteContract]:
        """Centre the subscription on ``spot``; returns the option contracts to subscribe.

        ``window + recentre_steps`` strikes each side, so that the ``window`` strikes of a bar are
        always subscribed until spot has moved far enough to re-centre.
        """
        self._centre = spot
        self._wanted.update(self.instruments.tokens(self.expiries, spot, self.window + self.recentre_steps))
        return dict(self._wanted)

    def wanted_tokens(self) -> list[int]:
        """Every instrument token the builder needs: index, VIX and the option window(s)."""
        return [self.instruments.spot_token, self.instruments.vix_token, *self._wanted]

    def _maybe_recentre(self, spot: float) -> None:
        if not self.expiries:
            return
        k = self.instruments.strikes(self.expiries[0])
        if k.size < 2 or math.isnan(self._centre):
            self.centre(spot)
            return
        step = float(np.median(np.diff(k)))
        if abs(spot - self._centre) >= self.recentre_steps * step:
            self.centre(spot)

    # ticks

    def on_ticks(self, ticks: Iterable[dict], now: datetime) -> list[MarketBar]:
        """Take in ticks that arrived at ``now``; returns the bars of the minutes that ended before."""
        bars = self.advance(now)
        for tick in ticks:
            token = int(tick.get("instrument_token", -1))
            price = float(tick.get("last_price", math.nan))
            if token == self.instruments.spot_token:
                if price > 0:
                    self._spot.append(price)
                    self._maybe_recentre(price)
            elif token == self.instruments.vix_token:
                if price > 0:
                    self._vix = price
            elif token in self._wanted:
                q = self.quotes.setdefault(token, _Quote())
                q.ltp = price
                if "volume_traded" in tick:
                    q.volume = float(tick["volume_traded"])
                if "oi" in tick:
                    q.oi = float(tick["oi"])
                depth = tick.get("depth")
                if depth:
                    q.bid = _best(depth.get("buy"))
                    q.ask = _best(depth.get("sell"))
        return bars

    def advance(self, now: datetime) -> list[MarketBar]:
        """Close every minute that ended at or before ``now``; returns their bars (session minutes)."""
        current = _floor_minute(now)
        if self._minute is None:
            self._minute = current
            return []
        bars: list[MarketBar] = []
        while self._minute < current:
            bar = self._close_minute(self._minute)
            if bar is not None:
                bars.append(bar)
            self._minute += MINUTE
        return bars

    def _close_minute(self, start: datetime) -> MarketBar | None:
        spot, self._spot = self._spot, []
        if spot:
            o, h, lo, c = spot[0], max(spot), min(spot), spot[-1]
        elif not math.isnan(self._last_close):
            o = h = lo = c = self._last_close
        else:
            return None
        self._last_close = c
        if not _in_session(start) or math.isnan(self._vix):
            return None
        chains = []
        for e in self.expiries:
            strikes = self.instruments.window(e, c, self.window)
            if strikes.size == 0:
                continue
            values = {name: np.full(strikes.size, np.nan) for name in CHAIN_FIELDS}
            for j, k in enumerate(strikes):
                for side, ot in (("call", "CE"), ("put", "PE")):
                    contract = self.instruments.contract(e, k, ot)
                    q = self.quotes.get(contract.token) if contract else None
                    if q is None:
                        continue
                    values[f"{side}_ltp"][j] = q.ltp
                    values[f"{side}_bid"][j] = q.bid
                    values[f"{side}_ask"][j] = q.ask
                    values[f"{side}_oi"][j] = q.oi
                    values[f"{side}_volume"][j] = q.volume
            chains.append(OptionChain(expiry=e, strikes=strikes.astype(float), **values))
        return MarketBar(
            index=self.index,
            time=start,
            open=o,
            high=h,
            low=lo,
            close=c,
            vix=self._vix,
            volume=0.0,
            chains=chains,
        )


def _best(levels: list[dict] | None) -> float:
    if not levels:
        return math.nan
    price = float(levels[0].get("price", 0.0))
    return price if price > 0 else math.nan


# --- the hand-over between the processes -------------------------------------------------------------------


def _json_float(x: float) -> float | None:
    return None if x != x else float(x)


def bar_to_json(bar: MarketBar) -> dict:
    """A ``MarketBar`` as plain JSON (NaN as null, times ISO 8601)."""
    return {
        "index": bar.index,
        "time": bar.time.astimezone(UTC).isoformat(),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "vix": _json_float(bar.vix),
        "volume": bar.volume,
        "chains": [
            {
                "expiry": c.expiry.isoformat(),
                "strikes": [_json_float(x) for x in np.asarray(c.strikes, dtype=float).tolist()],
                **{
                    name: [_json_float(x) for x in np.asarray(getattr(c, name), dtype=float).tolist()]
                    for name in CHAIN_FIELDS
                },
            }
            for c in bar.chains
        ],
    }


def bar_from_json(data: dict) -> MarketBar:
    """The inverse of ``bar_to_json``."""

    def arr(values: list) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return MarketBar(
        index=data["index"],
        time=datetime.fromisoformat(data["time"]),
        open=float(data["open"]),
        high=float(data["high"]),
        low=float(data["low"]),
        close=float(data["close"]),
        vix=math.nan if data.get("vix") is None else float(data["vix"]),
        volume=float(data.get("volume") or 0.0),
        chains=[
            OptionChain(
                expiry=date.fromisoformat(c["expiry"]),
                strikes=arr(c["strikes"]),
                **{name: arr(c[name]) for name in CHAIN_FIELDS},
            )
            for c in data.get("chains", [])
        ],
    )


def latest_path(directory: str | Path, index: str) -> Path:
    return Path(directory) / f"{index.upper()}_latest.json"


def write_latest(directory: str | Path, bar: MarketBar) -> Path:
    """Publish ``bar`` as the index's latest bar: write a temporary file, then rename over (atomic)."""
    path = latest_path(directory, bar.index)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(bar_to_json(bar), allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_latest(directory: str | Path, index: str) -> MarketBar | None:
    """The latest published bar of ``index``, None when nothing was published yet."""
    path = latest_path(directory, index)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise FeedError(f"cannot read {path}: {exc}") from exc
    return bar_from_json(data)


class BarSink:
    """Where the ticker process puts each completed minute: the recording, then the latest bar."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.recorder = ChainRecorder(self.directory)

    def write(self, bar: MarketBar) -> None:
        if bar.chains:
            self.recorder.record(bar)
        write_latest(self.directory, bar)


# --- the trading-process side ---------------------------------------------------------------------------------


class KiteFeed(Feed):
    """Bars published by the ticker process in ``directory`` (see the module docstring)."""

    source = "KITE"

    def __init__(
        self, directory: str | Path, index: str = "NIFTY", *, stale_after: timedelta = timedelta(minutes=3)
    ) -> None:
        self.directory = Path(directory)
        self.index = index.upper()
        self.stale_after = stale_after

    @classmethod
    def from_config(cls, config: FeedConfig) -> KiteFeed:
        """The bars the ticker process publishes in ``config.data_dir`` for ``config.index``."""
        return cls(config.data_dir, config.index)

    def _latest(self) -> MarketBar:
        bar = read_latest(self.directory, self.index)
        if bar is None:
            raise NoData(f"no {self.index} bar from the Kite ticker in {self.directory} yet: is it running?")
        return bar

    def snapshot(self, at: datetime) -> MarketBar:
        bar = self._latest()
        end = bar.time + MINUTE
        if end > at:  # our clock is behind the ticker's: the recording has the bar asked for
            return self._recording(until=at).snapshot(at)
        if at - end > self.stale_after and market_calendar.is_in_session(at - self.stale_after):
            raise FeedError(
                f"the Kite feed is stale: last {self.index} bar ended at {end:%H:%M:%S} UTC, now {at:%H:%M:%S} UTC"
            )
        return bar

    def _recording(self, until: datetime | None = None) -> ReplayFeed:
        """The recorded minutes up to ``until`` (default: the last one published complete)."""
        if until is None:
            until = self._latest().time + MINUTE
        return ReplayFeed(self.directory, self.index, until=until)

    def bars(self, start: datetime, end: datetime) -> Iterator[MarketBar]:
        return self._recording().bars(start, end)

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        return self._recording().days(start, end)


# --- the ticker process -------------------------------------------------------------------------------------


def run_ticker(
    *,
    api_key: str,
    access_token: str,
    index: str,
    directory: str | Path,
    window: int = 20,
    expiries: int = 2,
    kite_root: str | None = None,
    ws_root: str | None = None,
    clock: Clock | None = None,
    run_seconds: float | None = None,
    flush_every: float = 1.0,
) -> None:
    """Run the ticker until the session is over (or ``run_seconds``); blocks in Twisted's reactor.

    Call it only in a process of its own (``start_ticker``): the reactor cannot be restarted.
    """
    from kiteconnect import KiteConnect, KiteTicker
    from twisted.internet import reactor, task

    clock = clock or (lambda: datetime.now(UTC))
    kite = KiteConnect(api_key=api_key, access_token=access_token, root=kite_root)
    instruments = KiteInstruments.load(kite, index)
    today = clock().astimezone(market_calendar.IST).date()
    chain_expiries = instruments.expiries(today)[:expiries]
    try:
        spot = float(kite.ltp([instruments.spot_symbol])[instruments.spot_symbol]["last_price"])
    except Exception as exc:
        raise _kite_error(exc, "LTP of the index") from exc
    builder = MinuteBarBuilder(instruments, chain_expiries, window=window)
    builder.centre(spot)
    sink = BarSink(directory)
    ticker = KiteTicker(api_key, access_token, root=ws_root, reconnect=True)
    subscribed: set[int] = set()
    started = time_module.monotonic()

    def subscribe(ws: KiteTicker) -> None:
        new = [t for t in builder.wanted_tokens() if t not in subscribed]
        if new:
            ws.subscribe(new)
            ws.set_mode(ws.MODE_FULL, new)
            subscribed.update(new)

    def publish(bars: list[MarketBar]) -> None:
        for bar in bars:
            try:
                sink.write(bar)
            except Exception:  # a full disk must not kill the ticker: the next minute tries again
                log.exception("could not write the %s bar of %s", index, bar.time)

    def on_connect(ws: KiteTicker, response: object) -> None:
        subscribed.clear()
        subscribe(ws)
        log.info("Kite ticker connected: %d instruments", len(subscribed))

    def on_ticks(ws: KiteTicker, ticks: list[dict]) -> None:
        publish(builder.on_ticks(ticks, clock()))
        if ws.is_connected():
            subscribe(ws)

    def on_close(ws: KiteTicker, code: object, reason: object) -> None:
        log.warning("Kite ticker closed: %s %s", code, reason)

    def every_second() -> None:
        now = clock()
        publish(builder.advance(now))
        done = run_seconds is not None and time_module.monotonic() - started >= run_seconds
        after_close = (
            now >= market_calendar.session_close(now.astimezone(market_calendar.IST).date()) + MINUTE
        )
        if done or after_close:
            loop.stop()
            ticker.close()
            reactor.callLater(0.2, reactor.stop)

    def on_noreconnect(ws: KiteTicker) -> None:
        log.error("Kite ticker gave up reconnecting: exiting (the supervisor restarts the process)")
        reactor.callLater(0, reactor.stop)

    ticker.on_connect = on_connect
    ticker.on_noreconnect = on_noreconnect
    ticker.on_ticks = on_ticks
    ticker.on_close = on_close
    loop = task.LoopingCall(every_second)
    loop.start(flush_every, now=False)
    ticker.connect()


def start_ticker(
    *,
    api_key: str,
    access_token: str,
    index: str,
    directory: str | Path,
    kite_root: str | None = None,
    ws_root: str | None = None,
    extra_args: list[str] | None = None,
    log_file: str | Path | None = None,
) -> subprocess.Popen:
    """Start the ticker process (``python -m trading.marketdata.kite``) and return it.

    The access token goes through the environment, never the command line (visible to ``ps``).
    """
    env = dict(os.environ, KITE_API_KEY=api_key, KITE_ACCESS_TOKEN=access_token)
    args = [sys.executable, "-m", "trading.marketdata.kite", "--index", index, "--dir", str(directory)]
    if kite_root:
        args += ["--kite-root", kite_root]
    if ws_root:
        args += ["--ws-root", ws_root]
    args += extra_args or []
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # handed to the child
    root = Path(__file__).resolve().parent.parent.parent
    return subprocess.Popen(args, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)


def _test_clock(start: datetime, speed: float) -> Clock:
    """A clock that starts at ``start`` and runs ``speed`` times faster than the wall clock."""
    t0 = time_module.monotonic()
    return lambda: start + timedelta(seconds=(time_module.monotonic() - t0) * speed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kite ticker -> minute bars (own process)")
    parser.add_argument("--index", default="NIFTY")
    parser.add_argument("--dir", required=True, help="where bars are recorded and published")
    parser.add_argument("--window", type=int, default=20, help="strikes each side of the ATM")
    parser.add_argument("--expiries", type=int, default=2)
    parser.add_argument("--kite-root", default=None)
    parser.add_argument("--ws-root", default=None)
    parser.add_argument("--run-seconds", type=float, default=None)
    parser.add_argument(
        "--clock-start", type=datetime.fromisoformat, default=None, help="testing: a fake clock"
    )
    parser.add_argument("--clock-speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_key, token = os.environ.get("KITE_API_KEY", ""), os.environ.get("KITE_ACCESS_TOKEN", "")
    if not api_key or not token:
        print("KITE_API_KEY and KITE_ACCESS_TOKEN must be set in the environment", file=sys.stderr)
        return 2
    clock = _test_clock(args.clock_start, args.clock_speed) if args.clock_start else None
    try:
        run_ticker(
            api_key=api_key,
            access_token=token,
            index=args.index,
            directory=args.dir,
            window=args.window,
            expiries=args.expiries,
            kite_root=args.kite_root,
            ws_root=args.ws_root,
            clock=clock,
            run_seconds=args.run_seconds,
        )
    except FeedError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
