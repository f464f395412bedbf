"""The ticker process: Kite's WebSocket ticks -> minute bars, recorded and published (own process,
since Twisted's reactor cannot be restarted)."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time as time_module
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiteconnect import KiteConnect, KiteTicker
from twisted.internet import reactor, task

from trading.core import calendar as market_calendar
from trading.core.bars import MarketBar
from trading.marketdata.base import FeedError
from trading.marketdata.kite.handover import BarSink
from trading.marketdata.kite.instruments import KiteInstruments, kite_error
from trading.marketdata.kite.minute_bars import MINUTE, MinuteBarBuilder

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class TickerSession:
    """One run of the ticker: the bar builder, where bars go, the subscription, and the WebSocket's
    callbacks. ``stop`` ends the run (the loop, the socket, the reactor); it is called once the
    session has closed or ``run_seconds`` have passed."""

    def __init__(
        self,
        builder: MinuteBarBuilder,
        sink: BarSink,
        *,
        clock: Clock,
        run_seconds: float | None,
        stop: Callable[[], None],
    ) -> None:
        self.builder = builder
        self.sink = sink
        self.clock = clock
        self.run_seconds = run_seconds
        self.stop = stop
        self.subscribed: set[int] = set()
        self.started = time_module.monotonic()

    def subscribe(self, ws: KiteTicker) -> None:
        """Subscribe (full mode) whatever the builder wants and is not subscribed yet."""
        new = [token for token in self.builder.wanted_tokens() if token not in self.subscribed]
        if new:
            ws.subscribe(new)
            ws.set_mode(ws.MODE_FULL, new)
            self.subscribed.update(new)

    def publish(self, bars: list[MarketBar]) -> None:
        """Record and publish ``bars``; a failed write is logged (a full disk must not kill the
        ticker: the next minute tries again)."""
        for bar in bars:
            try:
                self.sink.write(bar)
            except Exception:  # noqa: BLE001 - see the docstring
                log.exception("could not write the %s bar of %s", self.builder.index, bar.time)

    def on_connect(self, ws: KiteTicker, response: object) -> None:
        self.subscribed.clear()
        self.subscribe(ws)
        log.info("Kite ticker connected: %d instruments", len(self.subscribed))

    def on_ticks(self, ws: KiteTicker, ticks: list[dict]) -> None:
        self.publish(self.builder.on_ticks(ticks, self.clock()))
        if ws.is_connected():
            self.subscribe(ws)

    def on_close(self, ws: KiteTicker, code: object, reason: object) -> None:
        log.warning("Kite ticker closed: %s %s", code, reason)

    def every_second(self) -> None:
        """Close the minutes that ended; stop after the session (or ``run_seconds``)."""
        now = self.clock()
        self.publish(self.builder.advance(now))
        if self.is_over(now):
            self.stop()

    def is_over(self, now: datetime) -> bool:
        """True a minute after the session's close, or once ``run_seconds`` have passed."""
        if self.run_seconds is not None and time_module.monotonic() - self.started >= self.run_seconds:
            return True
        return now >= market_calendar.session_close(now.astimezone(market_calendar.IST).date()) + MINUTE


def centred_builder(
    kite: KiteConnect, index: str, now: datetime, *, window: int, expiries: int
) -> MinuteBarBuilder:
    """A bar builder for the ``expiries`` nearest expiries listed at ``now``, its strike window
    centred on the index's last price. Raises ``FeedError`` when Kite cannot tell."""
    instruments = KiteInstruments.load(kite, index)
    chain_expiries = instruments.expiries(now.astimezone(market_calendar.IST).date())[:expiries]
    try:
        spot = float(kite.ltp([instruments.spot_symbol])[instruments.spot_symbol]["last_price"])
    except Exception as exc:  # kiteconnect raises its own hierarchy and requests' errors
        raise kite_error(exc, "LTP of the index") from exc
    builder = MinuteBarBuilder(instruments, chain_expiries, window=window)
    builder.centre(spot)
    return builder


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
    clock = clock or (lambda: datetime.now(UTC))
    kite = KiteConnect(api_key=api_key, access_token=access_token, root=kite_root)
    builder = centred_builder(kite, index, clock(), window=window, expiries=expiries)
    ticker = KiteTicker(api_key, access_token, root=ws_root, reconnect=True)

    def stop() -> None:
        loop.stop()
        ticker.close()
        reactor.callLater(0.2, reactor.stop)

    def give_up(ws: KiteTicker) -> None:
        log.error("Kite ticker gave up reconnecting: exiting (the supervisor restarts the process)")
        reactor.callLater(0, reactor.stop)

    session = TickerSession(builder, BarSink(directory), clock=clock, run_seconds=run_seconds, stop=stop)
    ticker.on_connect = session.on_connect
    ticker.on_noreconnect = give_up
    ticker.on_ticks = session.on_ticks
    ticker.on_close = session.on_close
    loop = task.LoopingCall(session.every_second)
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
    root = Path(__file__).resolve().parents[3]  # the project, where ``trading`` is importable
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
