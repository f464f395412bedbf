"""Shared fixtures of the market-data store tests: the files under tests/data/marketdata."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from trading.core.simulator import MarketSimulator
from trading.marketdata.replay import day_to_rows, format_rows
from trading.marketdata.store.importer import import_file
from trading.marketdata.store.store import MarketDataStore

DATA = Path(__file__).resolve().parents[2] / "data"
MD = DATA / "marketdata"
OLD_FILE = MD / "fo05JAN2024bhav.csv"
UDIFF_FILE = MD / "BhavCopy_NSE_FO_0_0_0_20240708_F_0000.csv"
INDEX_CLOSE_FILE = MD / "NIFTY50_close_Jan2024.csv"
VIX_FILE = MD / "India_VIX_Jan2024.csv"
REPLAY_FILE = DATA / "replay_sample.csv"


@pytest.fixture
def store(tmp_path) -> MarketDataStore:
    return MarketDataStore(tmp_path / "store")


def import_simulated(store: MarketDataStore, folder: Path, session: date, seed: int = 7) -> None:
    """The simulated ``session`` (seed ``seed``) imported into ``store`` as a minute file would be."""
    day = MarketSimulator(seed=seed, start=date(2025, 1, 1)).day(session)
    path = folder / f"NIFTY_{session}_{seed}.csv"
    path.write_text(format_rows(day_to_rows(day)))
    assert import_file(store, "minute", path).ok


def snapshot_files(store: MarketDataStore) -> dict[str, tuple[int, int]]:
    """Every file of the store with its size and modification time (to prove nothing changed)."""
    if not store.root.exists():
        return {}
    return {
        str(p.relative_to(store.root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(store.root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }
