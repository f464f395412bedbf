"""PostgreSQL stopped for a minute under ``runtrader --speed 60``, mid-cycle as an entry's row is about
to be written: that entry is not sent; the loop goes on, exits the positions it holds from memory on
the bars an uninterrupted run exits them, spools the closes, takes no entry while the database is
away, says so once, and resumes by itself - every trade once.

The database is the suite's own cluster (``conftest.cluster``), stopped with ``pg_ctlcluster stop
-m fast`` (connections cut) and started again. Where the outage fell in market time is read back
from the bars the loop stored (the outbox's ``bar`` events): the one run of missing bars.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest

from tests.faults.conftest import kill_group, manage, process_env, wait_for
from tests.faults.reference import DAY, SEED, backtest_trades, session_bars, stored_trades
from trading.core import calendar as market_calendar

BAR = timedelta(minutes=1)
OUTAGE_SECONDS = float(os.environ.get("FAULTS_OUTAGE_SECONDS", "60"))

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _last_bar(cluster, database: str) -> datetime | None:
    rows = cluster.query(database, "SELECT last_bar_time FROM trading_tradingstate WHERE index = 'NIFTY'")
    return rows[0][0] if rows else None


def _open_positions(cluster, database: str) -> list[str]:
    rows = cluster.query(database, "SELECT position_id FROM trading_position WHERE status = 'OPEN'")
    return [r[0] for r in rows]


def test_runtrader_rides_a_database_outage_and_recovers(cluster, database, tmp_path):
    pause = tmp_path / "pause"
    reached = tmp_path / "pause.reached"
    env = process_env(
        tmp_path,
        cluster.url(database),
        DESK_TEST_PAUSE_AT="before_write_ahead",
        DESK_TEST_PAUSE_FILE=str(pause),
    )
    log = tmp_path / "runtrader.log"
    args = ["--speed", "60", "--seed", str(SEED), "--start", DAY.isoformat(), "--days", "30", "--no-notify"]
    proc = manage(env, "runtrader", *args, log=log)
    try:
        held = wait_for(lambda: _open_positions(cluster, database), 120, "a position open")
        # The stop falls mid-cycle, as the next entry's row is about to be written: that entry must
        # not be sent (a position the desk could not find again after the outage).
        pause.write_text("hold")
        wait_for(lambda: reached.exists() or proc.poll() is not None, 120, "the next entry")
        assert proc.poll() is None, log.read_text()[-3000:]
        cluster.stop()
        pause.unlink()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_SECONDS:  # the loop lives through all of it
            assert proc.poll() is None, "runtrader died in the outage:\n" + log.read_text()[-3000:]
            time.sleep(1.0)
        cluster.start()
        back_at = time.monotonic()
        stored_before = _last_bar(cluster, database)
        wait_for(lambda: (b := _last_bar(cluster, database)) and b > stored_before, 60, "a bar stored again")
        recovered = time.monotonic() - back_at
        # ... and a whole session after the one it came back in.
        resumed_day = market_calendar.ist_date(_last_bar(cluster, database))
        next_day = market_calendar.next_trading_day(resumed_day)
        wait_for(
            lambda: market_calendar.ist_date(_last_bar(cluster, database)) > next_day,
            120,
            "a whole session after the outage",
            every=0.5,
        )
    finally:
        kill_group(proc, 15)  # SIGTERM: the loop stops after its cycle
    text = log.read_text()
    said = "\n".join(line for line in text.splitlines() if not line.startswith("[NIFTY"))
    assert proc.returncode == 0, said[-5000:]
    # One log line per state change: down once, back once (and a line per close spooled); the
    # progress lines went on meanwhile.
    assert text.count("desk: database unreachable (") == 1, said[-5000:]
    assert text.count("database reachable again") == 1, said[-5000:]
    assert "DATABASE DOWN: exits only" in text

    # The outage in market time: the one run of bars missing from the stored ones.
    stored = {r[0] for r in cluster.query(database, "SELECT at FROM trading_outboxevent WHERE kind = 'bar'")}
    last = max(stored)
    days = [DAY]
    while days[-1] < market_calendar.ist_date(last):
        days.append(market_calendar.next_trading_day(days[-1]))
    every_bar = [b for b in session_bars(days) if b <= last]
    missing = [b for b in every_bar if b not in stored]
    assert missing, "the outage should have cost some bars"
    first_missing, last_missing = missing[0], missing[-1]
    assert missing == [b for b in every_bar if first_missing <= b <= last_missing], "one outage, one gap"

    expected = backtest_trades(DAY, len(days))
    found = stored_trades(cluster, database)
    assert len(found) == len(set(found))

    def entered(trades, lo, hi):
        return sorted(t for t in trades if lo <= t[3] < hi)

    # Before the outage (and the positions held at the stop, closed from memory): an uninterrupted
    # run's trades, same bars, same prices.
    before = entered(expected, every_bar[0], first_missing + BAR)
    assert entered(found, every_bar[0], first_missing + BAR) == before
    held_at_stop = [t for t in expected if t[3] <= first_missing < t[5]]
    assert held_at_stop, "positions were held at the stop"
    rows = cluster.query(database, "SELECT trade_id FROM journal_trade WHERE trade_id = ANY(%s)", (held,))
    assert len(rows) == len(held)
    # No entry decided while the database was away: only the cycle the stop cut (its entry order
    # written ahead while the database answered, its fill stored by the spool) - as uninterrupted.
    # (A trade's entry time is its cycle's clock: the end of the bar.)
    cut = entered(found, first_missing + BAR, last_missing + BAR)
    assert all(t[3] == first_missing + BAR and t in expected for t in cut), (first_missing, cut)
    # The sessions after the one it came back in: an uninterrupted run's trades.
    after_lo = market_calendar.session_open(next_day)
    after_hi = market_calendar.session_open(market_calendar.ist_date(last))
    after = entered(expected, after_lo, after_hi)
    assert after, "the session after the outage should trade"
    assert entered(found, after_lo, after_hi) == after
    # No duplicate anywhere: one entry order per position, one position per trade; the spool replayed.
    (entries,) = cluster.query(
        database,
        "SELECT count(*) FROM trading_order WHERE purpose = 'ENTRY' AND parent_id IS NULL AND filled_quantity > 0",
    )
    (positions,) = cluster.query(database, "SELECT count(*) FROM trading_position")
    (closed,) = cluster.query(database, "SELECT count(*) FROM trading_position WHERE status = 'CLOSED'")
    (trades,) = cluster.query(database, "SELECT count(*) FROM journal_trade")
    # An entry sent without its row would be a trade without either (the loop stops mid-session:
    # the positions still open have no trade yet).
    assert entries == positions and closed == trades, (entries, positions, closed, trades)
    assert "vs broker net" not in text, said[-4000:]  # nothing at the broker the desk does not know
    spool = tmp_path / "spool.jsonl"
    assert not spool.exists() or not spool.read_text().strip()
    print(
        f"\n[faults] PostgreSQL down {OUTAGE_SECONDS:.0f}s under runtrader --speed 60 (market "
        f"{first_missing:%m-%d %H:%M}..{last_missing:%m-%d %H:%M} UTC): {len(held_at_stop)} held position(s) "
        f"closed from memory as uninterrupted; trades before and after the outage expected "
        f"{len(before) + len(after)}, found {len(entered(found, every_bar[0], first_missing + BAR)) + len(entered(found, after_lo, after_hi))}; "
        f"bars stored again {recovered:.1f}s after the database came back"
    )
