"""Benchmark: backtests - the plain-bars research path against backtrader, the 14 strategies over a year,
``manage.py backtest --data store`` over a year, and peak memory for 1 and 12 months.

Run: ``.venv/bin/python bench/backtest.py [--days 250] [--months 12] [--skip-store | --store-only] [--work var/bench/backtest]``.

Prints, in one run (median of 3 each):

1. **Plain bars, ema_cross, a year of minute bars**: ``../shared/anchors/make_bars.py`` writes the
   bars (once, kept in ``--work``); ``../shared/anchors/bt_backtrader.py`` runs the strategy in
   backtrader (pinned 1.9.78.123) and writes its trades - run in this process (``runpy``); ours runs
   in this process through the research event loop (``manage.py backtest --bars``'s path). Both are
   timed from reading the CSV to writing the trades, in this thread's CPU time (the machine is
   shared: wall clock is printed beside it). The two trade files are compared row by row (identical,
   or the bench fails); then bars/s of each and the ratio (goal: at least 50x). The numpy path too.
2. **A year of all 14 strategies** through ``run_backtest``: the simulated sessions stream in, and
   the CPU time spent simulating is measured apart - the engine alone and the whole including the
   simulation; then, in a forked process, the year pre-built in memory: the engine on pre-built bars
   (goal < 0.5 s), the same on two cores (the features and signals in a forked process,
   ``days_again``), in wall clock; the same split in time over every core (``core.parts.run_parts``:
   the same trades, checked), in wall clock; and where one pass's time goes:
   the same year once more on one core, the features, the signals, the cycles (by what they did:
   opened a position, closed one, or neither) and the holding between them each timed apart. The
   same pass against the code of the day issue 18 was filed, as the ratio its goal names ("at least
   10x today's"): ``bench/engine_then.py``.
3. **``manage.py backtest --data store`` over a year** of store data (the simulated year written
   into a store once, in ``--work``, not counted): wall clock of the child process, Django start-up
   and journaling included (goal < 4 s) - three warm runs, after a cold first run timed apart (it
   decodes the Parquet files and writes the decoded sessions beside the store, ``store/decoded.py``,
   which later runs memory-map); each run's figures are printed too. Alternating with each, the
   same run with ``--features-inline --checks-inline`` (everything in the one process) for the
   ratio. Then the memory runs, 1 month and 12 (goal: < 400 MB, 12 months within 10% of 1 month):
   the peak of the PSS of the command and its helper processes (the features and signals, the
   journal's checks) summed, sampled every 25 ms - a page they share counts once; beside it the
   processes' RSS peaks added, an upper bound (a forked helper's RSS counts every page it shares
   with the command). The same two runs cold (the decoded files removed first), the PSS too. The
   database is ``DATABASE_URL``'s (migrated first; used as it is), by default a SQLite file in
   ``--work`` copied from a freshly migrated one before each timed run (a
   journal holding no other backtest), then the year twice more into the journal the last run left
   (re-running a year: the performance rows are rebuilt from every BACKTEST trade of its days and
   strategies). The project's bytecode is compiled first.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import csv
import gc
import io
import multiprocessing
import os
import re
import runpy
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trading.brokers.paper import PaperBroker  # noqa: E402
from trading.core import calendar as market_calendar  # noqa: E402
from trading.core.apart import can_fork  # noqa: E402
from trading.core.backtest import HELD_BATCH, run_backtest  # noqa: E402
from trading.core.parts import run_parts  # noqa: E402
from trading.core.research import long_flat_trips, research_signals, run_research  # noqa: E402
from trading.core.simulator import MarketSimulator  # noqa: E402
from trading.core.state import EngineConfig, StrategySlot  # noqa: E402
from trading.core.strategies import registry  # noqa: E402
from trading.core.strategies.examples import example  # noqa: E402
from trading.marketdata.plain_bars import read_plain_bars, write_round_trips  # noqa: E402


def _anchors() -> Path:
    """``../shared/anchors`` of the checkout (``BENCH_ANCHORS`` overrides)."""
    candidates = [os.environ.get("BENCH_ANCHORS", ""), ROOT.parent / "shared" / "anchors"]
    candidates.append(ROOT.parent.parent / "shared" / "anchors")
    for c in candidates:
        if c and (Path(c) / "bt_backtrader.py").exists():
            return Path(c)
    raise SystemExit("../shared/anchors/bt_backtrader.py not found (set BENCH_ANCHORS)")


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


# --- 1. plain bars against backtrader ------------------------------------------------------------------


def plain_bars(work: Path, days: int) -> bool:
    anchors = _anchors()
    bars = work / f"bars-{days}.csv"
    if not bars.exists():
        subprocess.run([sys.executable, str(anchors / "make_bars.py"), str(days), str(bars)], check=True)
    theirs_csv = work / "trades-backtrader.csv"
    bt_times, bt_cpu, n_bt = [], [], 0
    for _ in range(3):
        # The anchor script itself, in this process (runpy): its own timer (cerebro built -> run
        # done) and this thread's CPU time over the whole script (reading the CSV -> trades written).
        printed = io.StringIO()
        argv, sys.argv = sys.argv, [str(anchors / "bt_backtrader.py"), str(bars), str(theirs_csv)]
        c = time.thread_time()
        try:
            with contextlib.redirect_stdout(printed):
                runpy.run_path(str(anchors / "bt_backtrader.py"), run_name="__main__")
        finally:
            sys.argv = argv
        bt_cpu.append(time.thread_time() - c)
        m = re.search(r"(\d+) bars in ([0-9.]+)s", printed.getvalue())
        if not m:
            raise SystemExit(f"cannot read backtrader's output: {printed.getvalue()!r}")
        n_bt = int(m.group(1))
        bt_times.append(float(m.group(2)))
    ours_csv = work / "trades-ours.csv"
    strategy = example("ema_cross")
    ours_times, cpu_times, numpy_times = [], [], []
    for _ in range(3):
        w, c = time.perf_counter(), time.thread_time()
        data = read_plain_bars(bars)
        result = run_research(data, strategy)
        write_round_trips(ours_csv, result.trips)
        ours_times.append(time.perf_counter() - w)
        cpu_times.append(time.thread_time() - c)
        c = time.thread_time()
        data = read_plain_bars(bars)
        trips = long_flat_trips(data.times, data.open, research_signals(data, strategy))
        write_round_trips(work / "trades-numpy.csv", trips)
        numpy_times.append(time.thread_time() - c)
    with open(theirs_csv) as f:
        theirs = list(csv.reader(f))
    with open(ours_csv) as f:
        ours = list(csv.reader(f))
    with open(work / "trades-numpy.csv") as f:
        numpy_rows = list(csv.reader(f))
    same = ours == theirs and numpy_rows == ours
    differing = sum(1 for a, b in zip(ours, theirs, strict=False) if a != b) + abs(len(ours) - len(theirs))
    n = len(data)
    bt, mine, cpu, vec = _median(bt_times), _median(ours_times), _median(cpu_times), _median(numpy_times)
    btc = _median(bt_cpu)
    print(f"1. plain bars, ema_cross, {n:,} minute bars ({bars.name}), median of 3 each, in this process:")
    print(
        f"   trades: {len(ours) - 1:,} round trips; ours vs backtrader row by row: "
        f"{'IDENTICAL' if same else f'{differing} rows DIFFER'} (numpy path {'equal' if numpy_rows == ours else 'DIFFERS'})"
    )
    print(
        f"   backtrader 1.9.78.123: CPU {btc:.3f} s = {n_bt / btc:,.0f} bars/s (the script, CSV in -> trades out); "
        f"wall {bt:.3f} s by its own timer"
    )
    print(
        f"   research event loop:   CPU {cpu:.3f} s = {n / cpu:,.0f} bars/s (CSV in -> trades out) -> "
        f"{btc / cpu:.0f}x backtrader (goal >= 50x); wall {mine:.3f} s"
    )
    print(f"   numpy path:            CPU {vec:.3f} s = {n / vec:,.0f} bars/s -> {btc / vec:.0f}x backtrader")
    return same


# --- 2. the 14 strategies over a year ------------------------------------------------------------------


class _TimedSessions:
    """Simulated sessions, one at a time; the thread CPU time spent simulating kept apart."""

    def __init__(self, sim: MarketSimulator, sessions: list[date]) -> None:
        self.sim, self.sessions, self.cpu = sim, sessions, 0.0

    def __iter__(self):
        for d in self.sessions:
            c = time.thread_time()
            day = self.sim.day(d)
            self.cpu += time.thread_time() - c
            yield day


def _sessions(start: date, days: int) -> list[date]:
    return market_calendar.trading_days_from(MarketSimulator(seed=0, start=start).first_session, days)


def _broker() -> PaperBroker:
    """A backtest's paper broker: not observed in the desk's broker metrics (``live.backtest_broker``)."""
    broker = PaperBroker()
    broker.observed = False
    return broker


def engine_year(days: int, start: date) -> float:
    sessions = _sessions(start, days)
    slots = {name: StrategySlot(name=name) for name in registry.names()}
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    warm = MarketSimulator(seed=0, start=start)
    run_backtest(  # imports, numba's cache, first calls: not counted
        _TimedSessions(warm, sessions[:2]), strategies=slots, broker=_broker(), config=config
    )
    engine_cpu, total_cpu, total_wall, result = [], [], [], None
    for _ in range(3):
        sim = MarketSimulator(seed=0, start=start)
        feed = _TimedSessions(sim, sessions)
        w, c = time.perf_counter(), time.thread_time()
        result = run_backtest(
            feed,
            strategies=slots,
            broker=_broker(),
            config=config,
            iv_history=sim.warmup_history(),
            keep_signals=False,
        )
        total_wall.append(time.perf_counter() - w)
        total_cpu.append(time.thread_time() - c)
        engine_cpu.append(total_cpu[-1] - feed.cpu)
    s = result.summary()
    e, t = _median(engine_cpu), _median(total_cpu)
    print(
        f"2. a year of all {len(slots)} strategies, {s['sessions']} sessions, {s['bars']:,} bars (median of 3):"
    )
    print(
        f"   engine, sessions streamed from the simulator (its CPU taken out): {e:.2f} s CPU; "
        f"{s['cycles']:,} bars went through run_cycle, {s['trades']} trades, {s['signals']} signals"
    )
    print(f"   with the simulation:      {t:.2f} s CPU, {_median(total_wall):.2f} s wall (simulated year)")
    if can_fork():
        # In a process of its own: the year held in memory (~1.5 GB) would stay in this one's heap
        # and slow part 3's runs (measured: 4.0-4.5 s against 3.5-3.6 s without it).
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
            one, walls, cpus, split, parts = pool.submit(
                _engine_in_memory, sessions, slots, config, start, s
            ).result()
        print(
            f"   engine on pre-built bars: {_median(one):.2f} s CPU (goal < 0.5 s; the year built in memory "
            f"first, a list: its signals {HELD_BATCH} sessions a pass; median of 5) - "
            + ", ".join(f"{c:.2f}" for c in one)
        )
        print(
            f"   on two cores:             {_median(walls):.2f} s wall, this thread {_median(cpus):.2f} s CPU "
            "(pre-built sessions in memory; features and signals in a forked process)"
        )
        if split:
            print(
                f"   split in time over {os.cpu_count()} cores: {_median(split):.2f} s wall (core.parts.run_parts: "
                "the same trades as one run; median of 3) - " + ", ".join(f"{c:.2f}" for c in split)
            )
        _print_parts(parts)
    return e


class _Parts:
    """Where one pass's time goes: wall seconds and calls of its parts, each part timed by wrapping
    the function the loop calls (a cycle counted by what it did: opened a position, closed one, both,
    or neither - the signals refused). Nested parts are not double-counted: none of these calls
    another."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds
        self.calls[part] = self.calls.get(part, 0) + 1

    @contextlib.contextmanager
    def wrapped(self):
        from trading.core import backtest as core_backtest  # noqa: PLC0415
        from trading.core.session_prep import SessionPrep  # noqa: PLC0415

        clock = time.perf_counter
        run_cycle, hold, features, signals_of = (
            core_backtest.engine.run_cycle, core_backtest.hold_quietly, SessionPrep.features,
            SessionPrep.signals_of,
        )  # fmt: skip

        def timed_cycle(**kw):
            t = clock()
            result = run_cycle(**kw)
            kind = "entry and exit" if result.opened and result.closed else (
                "entry" if result.opened else "exit" if result.closed else "no trade"
            )  # fmt: skip
            self.add(f"cycles: {kind}", clock() - t)
            return result

        def timed(name, fn):
            def call(*args, **kw):
                t = clock()
                try:
                    return fn(*args, **kw)
                finally:
                    self.add(name, clock() - t)

            return call

        core_backtest.engine.run_cycle = timed_cycle
        core_backtest.hold_quietly = timed("holding (hold_quietly)", hold)
        SessionPrep.features = timed("features", features)
        SessionPrep.signals_of = timed("signals", signals_of)
        try:
            yield self
        finally:
            core_backtest.engine.run_cycle, core_backtest.hold_quietly = run_cycle, hold
            SessionPrep.features, SessionPrep.signals_of = features, signals_of


def _print_parts(parts: tuple[float, dict, dict]) -> None:
    total, seconds, calls = parts
    print(f"   where one pass goes (in memory, one core, each part wrapped and timed: {total:.2f} s wall):")
    for name in sorted(seconds, key=seconds.get, reverse=True):
        print(
            f"     {name:<24} {seconds[name]:6.3f} s {100 * seconds[name] / total:5.1f}%  "
            f"{calls[name]:>6,} calls, {1e6 * seconds[name] / calls[name]:7.1f} us each"
        )
    rest = total - sum(seconds.values())
    print(f"     {'the rest (bars, loop)':<24} {rest:6.3f} s {100 * rest / total:5.1f}%")


def _engine_in_memory(
    sessions: list[date], slots: dict, config: EngineConfig, start: date, summary: dict
) -> tuple[list[float], list[float], list[float], list[float], tuple[float, dict, dict]]:
    """The same year pre-built in memory (a list of sessions): the CPU seconds of each of 5 runs on
    one core; then the wall and CPU seconds of 3 on two cores - the features and signals computed in
    a forked process while this one trades (``run_backtest(days_again=...)``, as ``manage.py
    backtest --data store`` does); then the wall seconds of 3 split in time over every core
    (``core.parts.run_parts``); then one pass more on one core with its parts timed (``_Parts``):
    its wall seconds, and each part's seconds and calls. Every run must make the same trades."""
    sim = MarketSimulator(seed=0, start=start)
    built = [sim.day(d) for d in sessions]
    iv_history = sim.warmup_history()
    # What is loaded and built so far lives as long as this process: kept out of the garbage
    # collector's full passes, as manage.py backtest does with its start-up's objects (a full pass
    # landing in one of the runs cost ~0.1 s of it).
    gc.collect()
    gc.freeze()
    one = []
    for _ in range(5):
        c = time.thread_time()
        result = run_backtest(
            built, strategies=slots, broker=_broker(), config=config, iv_history=iv_history,
            keep_signals=False,
        )  # fmt: skip
        one.append(time.thread_time() - c)
        if result.summary() != summary:
            raise SystemExit("the year built in memory made other trades than streamed")
    walls, cpus = [], []
    for _ in range(3):
        w, c = time.perf_counter(), time.thread_time()
        result = run_backtest(
            built, strategies=slots, broker=_broker(), config=config, iv_history=iv_history,
            keep_signals=False, days_again=lambda: built,
        )  # fmt: skip
        walls.append(time.perf_counter() - w)
        cpus.append(time.thread_time() - c)
        if result.summary() != summary:
            raise SystemExit("the year on two cores made other trades than on one")
    split = []
    cores = os.cpu_count() or 1
    for _ in range(3 if cores > 1 else 0):
        w = time.perf_counter()
        result = run_parts(
            built, cores=cores, strategies=slots, broker=_broker(), config=config, iv_history=iv_history,
            keep_signals=False,
        )  # fmt: skip
        split.append(time.perf_counter() - w)
        if result.summary() != summary:
            raise SystemExit("the year split in time over the cores made other trades than in one run")
    with _Parts().wrapped() as parts:  # one pass more, inline, its parts timed
        w = time.perf_counter()
        result = run_backtest(
            built, strategies=slots, broker=_broker(), config=config, iv_history=iv_history,
            keep_signals=False,
        )  # fmt: skip
        total = time.perf_counter() - w
    if result.summary() != summary:
        raise SystemExit("the year with its parts timed made other trades")
    return one, walls, cpus, split, (total, parts.seconds, parts.calls)


# --- 3. manage.py backtest --data store ----------------------------------------------------------------


def _build_store(root: Path, sessions: list[date], start: date) -> None:
    """The simulated sessions written into a market-data store (once; not counted)."""
    from trading.marketdata.store.minute import day_frames
    from trading.marketdata.store.store import MarketDataStore

    done = root / ".complete"
    if done.exists() and done.read_text() == f"{sessions[0]} {sessions[-1]} {len(sessions)}":
        return
    shutil.rmtree(root, ignore_errors=True)
    store = MarketDataStore(root)
    sim = MarketSimulator(seed=0, start=start)
    t0 = time.perf_counter()
    for n, d in enumerate(sessions, 1):
        staged = []
        with store.lock():
            for kind, frame in day_frames(sim.day(d)).items():
                part = store.stage(kind, "NIFTY", d, frame)
                if part is not None:
                    staged.append(part)
            store.commit(staged)
        if n % 25 == 0:
            print(f"   (building the store: {n}/{len(sessions)} sessions, {time.perf_counter() - t0:.0f} s)")
    done.write_text(f"{sessions[0]} {sessions[-1]} {len(sessions)}")


# Runs manage.py in the child and reports the child's own peak RSS (VmHWM starts afresh at exec; the
# ru_maxrss of wait4 would count the parent's memory, which a vfork-ed child shares until its exec).
_WRAPPER = """
import atexit, runpy, sys
def _peak():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                print('PEAK_RSS_KB', line.split()[1], flush=True)
    # each helper process (forked, reaped before this runs: the features, the journal's checks): its
    # own peak, as the project recorded it when it reaped it
    from trading.core import apart
    for kb in apart.reaped_peaks_kb:
        print('CHILD_PEAK_RSS_KB', kb, flush=True)
atexit.register(_peak)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


ONE_PROCESS = ("--features-inline", "--checks-inline")


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, ()))
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _PssPeak:
    """The highest sum of the PSS (proportional set size: a page shared by n processes counts 1/n in
    each, so the sum counts it once) of a process and its descendants, sampled every ``every`` s by
    a thread - in the memory runs only (the sampling takes CPU the timed runs would miss)."""

    def __init__(self, pid: int, every: float = 0.025) -> None:
        self.pid, self.every, self.peak_kb = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in _tree(self.pid)))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb * 1024


def _child(args: list[str], env: dict, *, pss: bool = False) -> tuple[float, float, int, str, int]:
    """Wall and CPU seconds (its own and its children's: the helper processes), peak RSS (bytes: the
    process's own plus each helper's, an upper bound - a forked helper's RSS counts every page it
    shares with the process), output of ``manage.py ARGS`` in a child process, and (``pss``) the
    peak of the processes' PSS summed (bytes; else 0)."""
    w = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRAPPER, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = _PssPeak(proc.pid) if pss else None
    out = proc.stdout.read()
    pss_peak = sampler.stop() if sampler is not None else 0
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - w
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{out}")
    peak = sum(int(kb) * 1024 for kb in re.findall(r"^(?:CHILD_)?PEAK_RSS_KB (\d+)$", out, re.M))
    lines = [line for line in out.splitlines() if "PEAK_RSS_KB" not in line]
    return wall, usage.ru_utime + usage.ru_stime, peak, "\n".join(lines), pss_peak


def store_year(work: Path, days: int, months: int, start: date) -> None:
    sessions = _sessions(start, days)
    root = work / "store"
    _build_store(root, sessions, start)
    # The project's bytecode compiled first (not counted), as any install has it: where
    # PYTHONDONTWRITEBYTECODE is set, each run would otherwise compile ~130 modules (0.3-0.5 s).
    for package in ("analytics", "journal", "trading", "tradingsite"):
        compileall.compile_dir(ROOT / package, quiet=1)
    env = dict(os.environ, MARKETDATA_DIR=str(root), DEBUG="1")
    sqlite = "DATABASE_URL" not in env
    # Each timed run journals into a database holding no other backtest: a year's journaling rebuilds
    # the performance rows of its days and strategies from every BACKTEST trade there, so a database
    # kept between runs would make each run (and each bench) slower than the last. SQLite: a migrated
    # template copied before each run. Another DATABASE_URL is used as it is (its history counts).
    template, db_file = work / "bench-template.sqlite3", work / "bench.sqlite3"
    if sqlite:
        env["DATABASE_URL"] = f"sqlite:///{db_file}"
        db_file.unlink(missing_ok=True)
        _child(["migrate", "--noinput", "-v", "0"], env)
        shutil.copyfile(db_file, template)
    else:
        _child(["migrate", "--noinput", "-v", "0"], env)

    def run(args: list[str], *, fresh: bool = True, pss: bool = False) -> tuple[float, float, int, str, int]:
        if sqlite and fresh:
            shutil.copyfile(template, db_file)
        return _child(args, env, pss=pss)

    names = [a for n in registry.names() for a in ("--strategy", n)]
    year = ["backtest", "--data", "store", "--start", str(sessions[0]), "--end", str(sessions[-1]), *names]
    # The first run over a store decodes each session from Parquet and writes its decoded file beside
    # the store (store/decoded.py); later runs memory-map those. That cold run is timed apart (the
    # decoded files removed first, so it is cold every time), then three warm runs.
    shutil.rmtree(root / ".decoded", ignore_errors=True)
    cold = run(year)
    # Alternating with --features-inline --checks-inline (everything in the one process, as before),
    # in the same minutes: the figure of the forked helpers against the one-process run.
    runs, inline = [], []
    for _ in range(3):
        runs.append(run(year))
        inline.append(run([*year, *ONE_PROCESS]))
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    rss_year = max(r[2] for r in runs)  # the processes' RSS peaks added
    summary = runs[-1][3].strip().splitlines()[-1]
    # The same year again into the journal the last run left: each run finds one more year of BACKTEST
    # trades on its days and strategies (what a trader re-running a year sees).
    again = [run(year, fresh=False) for _ in range(2)] if sqlite else []
    month_end = sessions[min(len(sessions), max(1, round(len(sessions) / months))) - 1]
    month = ["backtest", "--data", "store", "--start", str(sessions[0]), "--end", str(month_end), *names]
    # The memory runs (warm, as the year's), the PSS of the processes sampled: 1 month, then 12.
    months_runs = [run(month, pss=True) for _ in range(2)]
    years_runs = [run(year, pss=True) for _ in range(2)]
    rss_month = max(r[2] for r in months_runs)
    # The same two cold (the decoded files removed before each): the first run over a store decodes
    # its Parquet files, in the command and in the features process.
    cold_pss = []
    for args in (month, year):
        shutil.rmtree(root / ".decoded", ignore_errors=True)
        cold_pss.append(run(args, pss=True)[4])
    pss_month, pss_year = max(r[4] for r in months_runs), max(r[4] for r in years_runs)
    db = env["DATABASE_URL"].split(":", 1)[0]
    print(
        f"3. manage.py backtest --data store, {len(sessions)} sessions {sessions[0]}..{sessions[-1]} ({db}):"
    )
    print(
        f"   wall clock {_median(walls):.2f} s (median of 3; goal < 4 s), CPU {_median(cpus):.2f} s; "
        "Django start-up and journaling included" + (", each run into a fresh journal" if sqlite else "")
    )
    print(
        "   the three warm runs: "
        + ", ".join(f"{w:.2f} s wall / {c:.2f} s CPU" for w, c in zip(walls, cpus, strict=True))
        + " (features and signals, and the journal's checks, each in a forked process)"
    )
    inline_wall = _median([r[0] for r in inline])
    print(
        f"   {' '.join(ONE_PROCESS)} (one process), alternating with those: {inline_wall:.2f} s wall "
        "(median), "
        + ", ".join(f"{w:.2f} s wall / {c:.2f} s CPU" for w, c, *_ in inline)
        + f"; forked helpers {inline_wall / _median(walls):.2f}x faster"
    )
    if again:
        print(
            "   the same year into a journal already holding it once, twice: "
            + ", ".join(f"{w:.2f} s wall / {c:.2f} s CPU" for w, c, *_ in again)
        )
    print(
        f"   the cold first run (decoding the Parquet files, writing the decoded ones): {cold[0]:.2f} s wall, "
        f"{cold[1]:.2f} s CPU, peak RSS {cold[2] / 2**20:.0f} MB"
    )
    print(f"   {summary}")
    print(
        f"   peak memory (the PSS of the command and its helper processes summed, sampled every 25 ms: "
        f"a page they share counts once): {pss_month / 2**20:.0f} MB for 1 month ({sessions[0]}.."
        f"{month_end}), {pss_year / 2**20:.0f} MB for {months} months, warm runs: "
        f"{pss_year / pss_month:.3f}x (goal < 400 MB, within 1.10x); the same cold (decoding): "
        f"{cold_pss[0] / 2**20:.0f} MB and {cold_pss[1] / 2**20:.0f} MB, {cold_pss[1] / cold_pss[0]:.3f}x"
    )
    print(
        f"   peak RSS, each process's peak added (an upper bound: each forked helper's RSS counts the "
        f"pages it shares with the command): {rss_month / 2**20:.0f} MB for 1 month, "
        f"{rss_year / 2**20:.0f} MB for {months} months ({rss_year / rss_month:.2f}x); in one process "
        f"{max(r[2] for r in inline) / 2**20:.0f} MB for the year"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="sessions in the year")
    parser.add_argument("--months", type=int, default=12, help="months in the year (for the 1-month run)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench" / "backtest")
    parser.add_argument("--skip-store", action="store_true", help="leave out part 3")
    parser.add_argument("--store-only", action="store_true", help="only part 3")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    same = True
    if not args.store_only:
        same = plain_bars(args.work, args.days)
        engine_year(args.days, args.start)
    if not args.skip_store:
        store_year(args.work, args.days, args.months, args.start)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
