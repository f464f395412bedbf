"""Fixtures of the engine tests: a simulated session, a paper desk on it."""

from __future__ import annotations

from datetime import date

import pytest

from trading import services
from trading.core.live import SimSource

SEED = 7
DAY = date(2025, 11, 19)  # a Wednesday: the day after a weekly expiry, trades on the next one


@pytest.fixture(autouse=True)
def _fresh_desks():
    services.reset_desks()
    yield
    services.reset_desks()


@pytest.fixture
def source():
    return SimSource(index="NIFTY", seed=SEED, start=DAY)


@pytest.fixture
def paper_desk(db, source):
    from trading.brokers.paper import PaperBroker

    desk = services.Desk("NIFTY", mode="PAPER", source=source, broker=PaperBroker())
    services.set_desk(desk)
    return desk
