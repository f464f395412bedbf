"""Benchmark: the engine pass of this checkout against the code of an earlier revision, in one run.

Run: ``.venv/bin/python bench/engine_then.py [--then 4d2604d] [--days 250] [--rounds 2] [--passes 3]
[--cores N]``.

Issue 18 asks for the engine pass "at least 10x today's": a ratio to the code as it was when the
issue was filed (``4d2604d``, the default), not a number of seconds, which follow the machine (the
same code's pass moved by 1.5x within an hour on the shared machine). So both are run here, in the
same minutes, alternating: the earlier revision checked out into a temporary git worktree (removed
afterwards), each side in a child process of its own on the same Python (this checkout's
``.venv``), the same script (this file, ``--pass ROOT``) over the same year - the sessions listed
by this checkout's calendar, each side's own simulator (seed 0) building the year in memory first,
all 14 strategies, a year of pre-built bars in a list, a paper broker. Each child times ``--passes``
passes in its thread's CPU time after one warm-up pass and prints the median; the ratio is of the
medians of the rounds. Both sides' trade count and net P&L are printed: the same year must make the
same trades on both (the bench fails otherwise).

Then the same year split in time over ``--cores`` processes (``core.parts.run_parts``, default: every
core), ``--passes`` passes in wall-clock time (their work is in several processes: a thread's CPU
does not see it), each checked for the same trades as one run; the ratio printed is then's wall time
(one process, one thread: its wall time is its CPU time) to the split's.

Needs ``git`` and this checkout's history (a shallow clone may lack the revision: fetch it).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ISSUE_18_FILED = "4d2604d"  # main when issue 18 was filed: "a year of all 14 strategies takes 5.4 s"


def _year_pass(root: Path, sessions_file: Path, passes: int, cores: int) -> dict:
    """In the child: the year built in memory by ``root``'s own code, then ``passes`` timed passes
    (thread CPU and wall); where ``root`` has ``core.parts``, ``passes`` more split in time over
    ``cores`` processes (wall)."""
    import gc  # noqa: PLC0415
    import inspect  # noqa: PLC0415
    import time  # noqa: PLC0415

    sys.path.insert(0, str(root))
    os.chdir(root)
    from trading.brokers.paper import PaperBroker  # noqa: PLC0415
    from trading.core.backtest import run_backtest  # noqa: PLC0415
    from trading.core.simulator import MarketSimulator  # noqa: PLC0415
    from trading.core.state import EngineConfig, StrategySlot  # noqa: PLC0415

    try:
        from trading.core.strategies import registry  # noqa: PLC0415
    except ImportError:  # the strategies' earlier home
        from trading.strategies import registry  # noqa: PLC0415

    sessions = pickle.loads(sessions_file.read_bytes())
    sim = MarketSimulator(seed=0, start=sessions[0])
    built = [sim.day(d) for d in sessions]
    iv_history = sim.warmup_history()
    slots = {name: StrategySlot(name=name) for name in registry.names()}
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    extra = {"keep_signals": False} if "keep_signals" in inspect.signature(run_backtest).parameters else {}

    def broker() -> PaperBroker:
        paper = PaperBroker()
        paper.observed = False  # a backtest's broker (an attribute the earlier code ignores)
        return paper

    def once():
        return run_backtest(
            built, strategies=slots, broker=broker(), config=config, iv_history=iv_history, **extra
        )

    once()  # imports, numba's cache, first calls
    gc.collect()
    gc.freeze()  # what is built so far lives as long as the process (as manage.py backtest does)
    seconds, walls = [], []
    for _ in range(passes):
        started, wall = time.thread_time(), time.perf_counter()
        result = once()
        seconds.append(time.thread_time() - started)
        walls.append(time.perf_counter() - wall)
    split = []
    try:
        from trading.core.parts import run_parts  # noqa: PLC0415 - the year split over the cores
    except ImportError:  # the earlier code has none
        run_parts = None
    if run_parts is not None and cores > 1:
        summary = result.summary()
        for _ in range(passes):
            wall = time.perf_counter()
            got = run_parts(
                built, cores=cores, strategies=slots, broker=broker(), config=config, iv_history=iv_history,
                **extra,
            )  # fmt: skip
            split.append(time.perf_counter() - wall)
            if got.summary() != summary:
                raise SystemExit("the year split over the cores made other trades than in one run")
    if hasattr(result, "summary"):
        summary = result.summary()
        trades, net = summary["trades"], summary["net_pnl"]
    else:
        trades, net = len(result.trades), str(sum(t.net_pnl for t in result.trades))
    return {
        "seconds": seconds, "walls": walls, "split": split, "trades": trades, "net_pnl": str(net),
        "bars": sum(len(d) for d in built),
    }  # fmt: skip


def _run_side(root: Path, sessions_file: Path, passes: int, cores: int) -> dict:
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1"), "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--pass", str(root), "--sessions", str(sessions_file),
         "--passes", str(passes), "--cores", str(cores)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"the pass in {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--then", default=ISSUE_18_FILED, help="the earlier revision (default: issue 18 filed)"
    )
    parser.add_argument("--days", type=int, default=250, help="sessions in the year")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--rounds", type=int, default=2, help="rounds of then, now (alternating)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes in each child")
    parser.add_argument(
        "--cores", type=int, default=os.cpu_count() or 1, help="processes of the split passes (default: all)"
    )
    parser.add_argument("--pass", dest="one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sessions", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(_year_pass(args.one, args.sessions, args.passes, args.cores)))
        return 0

    sys.path.insert(0, str(ROOT))
    from trading.core import calendar as market_calendar  # noqa: PLC0415
    from trading.core.simulator import MarketSimulator  # noqa: PLC0415

    first = MarketSimulator(seed=0, start=args.start).first_session
    sessions = market_calendar.trading_days_from(first, args.days)
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.then],
        capture_output=True,
        text=True,
        check=False,
    )
    if revision.returncode != 0:
        raise SystemExit(
            f"revision {args.then!r} is not in this checkout's history: {revision.stderr.strip()}"
        )
    now_rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="engine-then-") as tmp:
        then_root = Path(tmp) / "then"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(then_root), args.then],
            check=True,
        )
        try:
            sessions_file = Path(tmp) / "sessions.pkl"
            sessions_file.write_bytes(pickle.dumps(sessions))
            print(
                f"the engine pass, a year of all 14 strategies on pre-built bars ({len(sessions)} sessions "
                f"from {sessions[0]}), then ({revision.stdout.strip()}) against now ({now_rev} and the "
                f"working tree), {args.rounds} rounds alternating, {args.passes} passes each (thread CPU):"
            )
            then_s, now_s, sides = [], [], {}
            then_w, split_w = [], []
            for k in range(args.rounds):
                for name, root, into in (("then", then_root, then_s), ("now", ROOT, now_s)):
                    side = _run_side(root, sessions_file, args.passes, args.cores)
                    sides[name] = side
                    into.append(statistics.median(side["seconds"]))
                    print(
                        f"   round {k + 1} {name:<4} "
                        + ", ".join(f"{s:.2f}" for s in side["seconds"])
                        + f" s -> median {into[-1]:.3f} s; {side['trades']:,} trades, net Rs {side['net_pnl']}"
                    )
                    if name == "then":
                        then_w.append(statistics.median(side["walls"]))
                    elif side["split"]:
                        split_w.append(statistics.median(side["split"]))
                        print(
                            f"   round {k + 1} now split over {args.cores} cores (core.parts, wall) "
                            + ", ".join(f"{s:.2f}" for s in side["split"])
                            + f" s -> median {split_w[-1]:.3f} s"
                        )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(then_root)], check=False
            )
    then_m, now_m = statistics.median(then_s), statistics.median(now_s)
    same = (sides["then"]["trades"], sides["then"]["net_pnl"]) == (
        sides["now"]["trades"],
        sides["now"]["net_pnl"],
    )
    print(
        f"   then {then_m:.3f} s, now {now_m:.3f} s CPU: now {then_m / now_m:.1f}x faster (goal: at least 10x)"
    )
    if split_w:
        then_wall, split_m = statistics.median(then_w), statistics.median(split_w)
        print(
            f"   then {then_wall:.3f} s wall, now split over {args.cores} cores {split_m:.3f} s wall: "
            f"{then_wall / split_m:.1f}x faster (the same trades, checked in each pass)"
        )
    print(f"   the same trades and net P&L on both: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
