"""Fixtures of the engine tests: a simulated session, a paper desk on it."""

from __future__ import annotations

from datetime import date

import pytest

from trading.core.live import SimSource
from trading.execution.desk import Desk, reset_desks, set_desk

SEED = 7
DAY = date(2025, 11, 19)  # a Wednesday: the day after a weekly expiry, trades on the next one


@pytest.fixture(autouse=True)
def _fresh_desks():
    reset_desks()
    yield
    reset_desks()


@pytest.fixture
def source():
    return SimSource(index="NIFTY", seed=SEED, start=DAY)


@pytest.fixture
def paper_desk(db, source):
    from trading.brokers.paper import PaperBroker

    desk = Desk("NIFTY", mode="PAPER", source=source, broker=PaperBroker())
    set_desk(desk)
    return desk
