"""Benchmark: ``manage.py sweep`` - its wall clock and its memory, on the simulated market and on the
market-data store, over two months and (the store) a year.

Run: ``.venv/bin/python bench/sweep_memory.py [--work var/bench/sweep-memory] [--store var/bench/backtest/store]``.

Each sweep is 6 combinations of ``EMACrossoverStrategy`` (``gap_em`` x ``memory``) in the embedded
pool of 2 workers, in a child process on a freshly migrated SQLite file. Printed for each: the wall
clock of the whole command, the sweep's own time after it was created (the command's line), and the
peak of the PSS of the command and its pool workers summed, sampled every 25 ms (a page the workers
share with the command counts once; their RSS would count it in each). The store is the year of
simulated sessions ``bench/backtest.py`` writes (built here into ``--store`` when missing, not
counted); the first sweep of the store decodes it (a cold run, printed apart).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from backtest import _build_store, _child, _sessions  # noqa: E402

AXES = ("--axis", "gap_em=0.02:0.10:3", "--axis", "memory=30,60")
START = date(2025, 1, 1)


def _env(work: Path, store: Path) -> dict:
    env = dict(os.environ)
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{work / 'sweep.sqlite3'}", MARKETDATA_DIR=str(store))
    env.pop("REDIS_URL", None)
    return env


def _sweep(env: dict, data: str, end: date) -> tuple[float, float, int, int]:
    args = ["sweep", "--strategy", "EMACrossoverStrategy", "--data", data, "--start", str(START)]
    args += ["--end", str(end), *AXES, "--workers", "2"]
    wall, _, _, out, pss = _child(args, env, pss=True)
    done = re.search(r"sweep \d+ DONE: 6 done, 0 failed in ([\d.]+) s", out)
    if done is None:
        raise SystemExit(f"the sweep did not finish:\n{out}")
    sessions = int(re.search(r"(\d+) sessions", out).group(1)) if "sessions" in out else 0
    return wall, float(done.group(1)), pss, sessions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench" / "sweep-memory")
    parser.add_argument("--store", type=Path, default=ROOT / "var" / "bench" / "backtest" / "store")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    _build_store(args.store, _sessions(START, 250), START)
    env = _env(args.work, args.store)
    shutil.rmtree(args.store / ".decoded", ignore_errors=True)
    (args.work / "sweep.sqlite3").unlink(missing_ok=True)
    _child(["migrate", "--verbosity", "0"], env)
    runs = [
        ("store, a year (cold: decoding)", "store", date(2025, 12, 31)),
        ("store, a year", "store", date(2025, 12, 31)),
        ("store, 2 months", "store", date(2025, 2, 28)),
        ("sim, 2 months", "sim", date(2025, 2, 28)),
    ]
    print("manage.py sweep, 6 combinations, 2 workers (PSS summed over the command and its workers):")
    for label, data, end in runs:
        wall, swept, pss, _ = _sweep(env, data, end)
        print(f"   {label:32} {wall:6.2f} s wall, the sweep {swept:5.1f} s, peak PSS {pss / 2**20:6.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
