"""The research mode (plain bars, ``ema_cross``, long/flat, fill at the next open): against a naive
loop written here, against backtrader itself on a short generated series, the numpy path against the
event loop, and bad files refused by line."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from trading.core.features import ema
from trading.core.research import long_flat_trips, research_signals, run_research
from trading.core.strategies.base import crossover
from trading.core.strategies.examples import example
from trading.marketdata.plain_bars import PlainBarsError, read_plain_bars, write_round_trips


def _bars_csv(path: Path, n: int = 1500, seed: int = 3) -> Path:
    """A random walk of minute bars, two decimals, ``n`` bars over consecutive minutes."""
    rng = np.random.default_rng(seed)
    close = np.round(20000 + np.cumsum(rng.normal(0, 6, n)), 2)
    opens = np.round(np.concatenate(([close[0]], close[:-1])) + rng.normal(0, 1, n), 2)
    high = np.round(np.maximum(opens, close) + rng.uniform(0, 3, n), 2)
    low = np.round(np.minimum(opens, close) - rng.uniform(0, 3, n), 2)
    start = np.datetime64("2025-03-03T09:15:00")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["datetime", "open", "high", "low", "close", "volume"])
        for i in range(n):
            t = str(start + np.timedelta64(i, "m")).replace("T", " ")
            w.writerow([t, f"{opens[i]:.2f}", f"{high[i]:.2f}", f"{low[i]:.2f}", f"{close[i]:.2f}", 1000 + i])
    return path


def _naive_trips(rows: list[dict]) -> list[tuple[str, str, float, float]]:
    """ema_cross written out bar by bar: EMA(n) from the mean of the first n closes, then
    alpha = 2/(n+1); a cross is a sign change of EMA9 - EMA21 against its last non-zero value; a
    signal at a bar's close fills at the next bar's open; long or flat."""

    def ema_list(closes: list[float], n: int) -> list[float]:
        out = [math.nan] * len(closes)
        if len(closes) < n:
            return out
        out[n - 1] = math.fsum(closes[:n]) / n
        a = 2.0 / (n + 1.0)
        for i in range(n, len(closes)):
            out[i] = out[i - 1] * (1.0 - a) + closes[i] * a
        return out

    closes = [r["close"] for r in rows]
    fast, slow = ema_list(closes, 9), ema_list(closes, 21)
    trips, held, pending, last_nonzero = [], None, None, None
    for i, r in enumerate(rows):
        if pending == "buy":
            held = (r["time"], r["open"])
        elif pending == "sell":
            trips.append((held[0], r["time"], held[1], r["open"]))
            held = None
        pending = None
        if math.isnan(slow[i]):
            continue
        diff = fast[i] - slow[i]
        if last_nonzero is None:
            last_nonzero = diff
            continue
        if last_nonzero < 0 < diff and held is None:
            pending = "buy"
        elif last_nonzero > 0 > diff and held is not None:
            pending = "sell"
        if diff != 0:
            last_nonzero = diff
    return trips


def _rows(path: Path) -> list[dict]:
    with open(path) as f:
        return [
            {"time": r["datetime"], "open": float(r["open"]), "close": float(r["close"])}
            for r in csv.DictReader(f)
        ]


def test_ema_cross_trades_equal_a_naive_loop(tmp_path) -> None:
    path = _bars_csv(tmp_path / "bars.csv")
    result = run_research(read_plain_bars(path), example("ema_cross"))
    got = [(t.entry_time, t.exit_time, t.entry_price, t.exit_price) for t in result.trips]
    want = _naive_trips(_rows(path))
    assert len(want) > 20
    assert got == want


def test_ema_cross_trades_identical_to_backtrader(tmp_path) -> None:
    bt = pytest.importorskip("backtrader")
    path = _bars_csv(tmp_path / "bars.csv", n=1200, seed=11)

    class Cross(bt.Strategy):
        def __init__(self):
            self.cross = bt.ind.CrossOver(bt.ind.EMA(period=9), bt.ind.EMA(period=21))
            self.fills = []

        def notify_order(self, order):
            if order.status == order.Completed:
                when = bt.num2date(order.executed.dt).strftime("%Y-%m-%d %H:%M:%S")
                self.fills.append((when, order.executed.price, order.isbuy()))

        def next(self):
            if not self.position and self.cross > 0:
                self.buy(size=1)
            elif self.position and self.cross < 0:
                self.close()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(
        bt.feeds.GenericCSVData(
            dataname=str(path),
            dtformat="%Y-%m-%d %H:%M:%S",
            datetime=0,
            open=1,
            high=2,
            low=3,
            close=4,
            volume=5,
            openinterest=-1,
            timeframe=bt.TimeFrame.Minutes,
        )
    )
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(10_000_000)
    fills = cerebro.run()[0].fills
    theirs = [
        [a[0], b[0], f"{a[1]:.2f}", f"{b[1]:.2f}"]
        for a, b in zip(fills[0::2], fills[1::2])
        if a[2] and not b[2]
    ]
    out = tmp_path / "trades.csv"
    write_round_trips(out, run_research(read_plain_bars(path), example("ema_cross")).trips)
    with open(out) as f:
        ours = list(csv.reader(f))
    assert ours[0] == ["entry_time", "exit_time", "entry_price", "exit_price"]
    assert len(theirs) > 20
    assert ours[1:] == theirs


def test_the_numpy_path_equals_the_event_loop(tmp_path) -> None:
    for seed in (1, 2, 5):
        bars = read_plain_bars(_bars_csv(tmp_path / f"b{seed}.csv", n=2000, seed=seed))
        strategy = example("ema_cross")
        loop = run_research(bars, strategy).trips
        direction = research_signals(bars, strategy)
        assert long_flat_trips(bars.times, bars.open, direction) == loop
        assert len(loop) > 20


def test_long_flat_trips_by_hand() -> None:
    # CALL at 1 (fills 2), a second CALL ignored, PUT at 4 (fills 5); a first PUT does nothing;
    # CALL at 6 fills at 7, PUT on the last bar never fills: that position is not reported.
    times = [f"t{i}" for i in range(9)]
    opens = np.arange(100.0, 109.0)
    direction = np.array([-1, 1, 0, 1, -1, 0, 1, 0, -1], dtype=np.int8)
    trips = long_flat_trips(times, opens, direction)
    assert [(t.entry_time, t.exit_time, t.entry_price, t.exit_price) for t in trips] == [
        ("t2", "t5", 102.0, 105.0)
    ]


def test_sma_seeded_ema_and_crossover_by_hand() -> None:
    xs = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    got = ema(xs, 3, seed="sma")
    assert np.isnan(got[:2]).all()
    assert got[2] == 2.0  # (1 + 2 + 3) / 3
    assert got[3] == 2.0 * 0.5 + 4.0 * 0.5 and got[4] == got[3] * 0.5 + 5.0 * 0.5
    assert ema(xs, 3)[0] == 1.0  # the default seed: the first value
    # touching zero and going back is no cross; going through is one, on the row it goes through
    a = np.array([np.nan, -1.0, 0.0, -1.0, 0.0, 2.0, 1.0, -3.0])
    assert crossover(a, 0.0).tolist() == [0, 0, 0, 0, 0, 1, 0, -1]


@pytest.mark.parametrize(
    ("line", "text", "reason"),
    [
        (3, "2025-03-03 09:16:00,10,11,9,10\n", "5 fields"),
        (3, "2025-03-03 09:16:00,10,11,x,10,5\n", "low 'x' is not a number"),
        (3, "2025-03-03 09:15:00,10,11,9,10,5\n", "not after the bar before it"),
        (3, "2025-03-03 09:16:00,10,9,8,10,5\n", "low must be <= open, close <= high"),
        (3, "2025-03-03 09:16:00,10,11,9,-10,5\n", "finite and positive"),
        (3, "yesterday,10,11,9,10,5\n", "not a date and time"),
        (3, "2025-03-03 09:16:00,10,11,9,nan,5\n", "close 'nan' is not a finite number"),
        (3, "2025-03-03 09:16:00,10,11,9,,5\n", "close '' is not a number"),
    ],
)
def test_a_bad_row_is_refused_with_its_line(tmp_path, line, text, reason) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("datetime,open,high,low,close,volume\n2025-03-03 09:15:00,10,11,9,10,5\n" + text)
    with pytest.raises(PlainBarsError) as err:
        read_plain_bars(path)
    assert err.value.line == line
    assert reason in err.value.reason


def test_a_wrong_header_is_refused(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,open,high,low,close,volume\n2025-03-03 09:15:00,10,11,9,10,5\n")
    with pytest.raises(PlainBarsError, match="line 1: header"):
        read_plain_bars(path)


def test_a_byte_order_mark_and_crlf_lines_read_as_the_plain_file(tmp_path) -> None:
    """A spreadsheet's "CSV UTF-8" starts with a byte-order mark, and Windows ends lines with CRLF."""
    plain = _bars_csv(tmp_path / "bars.csv")
    text = plain.read_text()
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    a, b = read_plain_bars(plain), read_plain_bars(marked)
    assert a.times == b.times
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


def test_the_trades_csv_appears_whole_or_not_at_all(tmp_path) -> None:
    """A write that fails half-way (here the trips run out with an error) leaves the file that was
    there as it was, and no temporary file beside it; a whole write replaces it."""
    bars = read_plain_bars(_bars_csv(tmp_path / "bars.csv"))
    trips = run_research(bars, example("ema_cross"), quantity=1).trips
    assert trips
    out = tmp_path / "trades.csv"
    out.write_text("the earlier file\n")

    def failing():
        yield from trips
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_round_trips(out, failing())
    assert out.read_text() == "the earlier file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.csv", "trades.csv"]
    assert write_round_trips(out, trips) == len(trips)
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["entry_time", "exit_time", "entry_price", "exit_price"]
    assert len(rows) == len(trips) + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.csv", "trades.csv"]


def test_the_command_refuses_an_output_it_cannot_write_before_the_run(tmp_path) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    path = _bars_csv(tmp_path / "bars.csv")
    for target, reason in [
        (tmp_path / "missing" / "trades.csv", "does not exist"),
        (tmp_path, "is a folder"),
    ]:
        with pytest.raises(CommandError, match=reason):
            call_command("backtest", "--bars", str(path), "--strategy", "ema_cross", "--trades-csv", str(target),
                         stdout=StringIO())  # fmt: skip
    assert not (tmp_path / "missing").exists()
    with pytest.raises(CommandError, match="nope.csv: no such file"):
        call_command(
            "backtest", "--bars", str(tmp_path / "nope.csv"), "--strategy", "ema_cross", stdout=StringIO()
        )


def test_the_command_writes_the_trades_csv(tmp_path) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    path = _bars_csv(tmp_path / "bars.csv")
    out = tmp_path / "trades.csv"
    text = StringIO()
    call_command(
        "backtest", "--bars", str(path), "--strategy", "ema_cross", "--instrument", "FUT",
        "--quantity", "1", "--trades-csv", str(out), stdout=text,
    )  # fmt: skip
    with open(out) as f:
        rows = list(csv.reader(f))[1:]
    want = _naive_trips(_rows(path))
    assert rows == [[a, b, f"{pa:.2f}", f"{pb:.2f}"] for a, b, pa, pb in want]
    assert f"{len(want)} round trips" in text.getvalue()
    (tmp_path / "bad.csv").write_text("datetime,open,high,low,close,volume\n2025-03-03 09:15:00,1,1,1\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("backtest", "--bars", str(tmp_path / "bad.csv"), stdout=StringIO())
    with pytest.raises(CommandError, match="example strategy"):
        call_command("backtest", "--bars", str(path), "--strategy", "PCRStrategy", stdout=StringIO())
