"""The LIVE guard: the broker follows the mode. PAPER trades on the paper broker whatever else is set;
a broker that sends orders out is built only when every LIVE condition holds (mode, switch, API key,
API secret, today's access token, today's staff confirmation, a live broker named).

Every combination of those settings drives a desk for a few bars with an entry signal, against a
local server speaking Kite's API (tests/kite_server.py, the official client): the server receives no
request at all unless every condition holds - and then it receives the orders (the positive control).
"""

from __future__ import annotations

import io
import itertools
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from tests.engine.conftest import DAY, SEED
from tests.kite_server import FakeKite
from trading.brokers.base import Broker
from trading.brokers.kite.broker import KiteBroker
from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.live import SimSource
from trading.core.state import SignalInput
from trading.execution.desk import Desk
from trading.execution.live import LiveTradingRefused, default_broker, live_broker, live_problems
from trading.execution.models import Order, TradingState

pytestmark = pytest.mark.django_db

SIGNAL_BAR = 30
BARS = range(SIGNAL_BAR - 1, SIGNAL_BAR + 3)

MODES = ("PAPER", "LIVE")
BROKERS = ("", "paper", "kite")  # TRADING_BROKER
SWITCHES = (False, True)  # LIVE_TRADING_ENABLED
KEYS = (False, True)  # KITE_API_KEY set
SECRETS = (False, True)  # KITE_API_SECRET set
TOKENS = (False, True)  # an access token stored for today
CONFIRMATIONS = (False, True)  # a staff confirmation of LIVE today
COMBINATIONS = list(itertools.product(MODES, BROKERS, SWITCHES, KEYS, SECRETS, TOKENS, CONFIRMATIONS))


def all_conditions(mode, broker, enabled, key, secret, token, confirmed) -> bool:
    """The rule under test, written out: LIVE, a live broker (by default kite), and every condition."""
    return mode == "LIVE" and broker in ("", "kite") and enabled and key and secret and token and confirmed


@pytest.fixture(scope="module")
def source():
    return SimSource(index="NIFTY", seed=SEED, start=DAY)


@pytest.fixture
def fake():
    lot = contracts.lot_size("NIFTY", DAY)
    with FakeKite(lot_size=lot, freeze_quantity=lot * 27) as server:
        yield server


def configure(settings, fake, staff, mode, broker, enabled, key, secret, token, confirmed) -> None:
    settings.TRADING_MODE = mode
    settings.TRADING_BROKER = broker
    settings.LIVE_TRADING_ENABLED = enabled
    settings.KITE_API_KEY = fake.api_key if key else ""
    settings.KITE_API_SECRET = fake.api_secret if secret else ""
    settings.KITE_ROOT_URL = fake.url
    settings.MARKET_FEED = "kite"  # LIVE's feed (the desk below is given the simulated market's bars)
    settings.KITE_RETRY_WAIT_SECONDS = 0.05
    settings.KITE_POLL_SECONDS = 0.01
    now = timezone.now()
    TradingState.objects.update_or_create(
        index="NIFTY",
        defaults={
            "kite_access_token": fake.access_token if token else "",
            "kite_token_date": market_calendar.ist_date(now) if token else None,
            "live_confirmed_by": staff if confirmed else None,
            "live_confirmed_at": now if confirmed else None,
        },
    )


def drive(desk: Desk, source: SimSource) -> None:
    """A few bars of DAY with an entry signal on one of them (features and strategies still run)."""
    day = source.day(DAY)
    real = desk.live.signals
    bar = {"i": None}

    def scripted(pairs):
        real(pairs)
        return [SignalInput("PCRStrategy", "CALL", 0.9, "guard")] if bar["i"] == SIGNAL_BAR else []

    desk.live.signals = scripted
    for i in BARS:
        bar["i"] = i
        desk.cycle(bar=day.bar(i))


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("guard", is_staff=True)  # no password: no hashing per case


@pytest.mark.parametrize(
    "combination",
    COMBINATIONS,
    ids=["-".join(str(part) or "default" for part in combo) for combo in COMBINATIONS],
)
def test_no_request_reaches_kite_unless_every_live_condition_holds(
    combination, settings, fake, staff, source
):
    configure(settings, fake, staff, *combination)
    allowed = all_conditions(*combination)
    try:
        desk = Desk("NIFTY", source=source)
    except LiveTradingRefused as refused:
        assert not allowed, f"refused although every condition holds: {refused}"
        assert combination[0] == "LIVE"  # PAPER is never refused: it trades on paper
    else:
        drive(desk, source)
    if allowed:
        assert len(fake.placements) >= 1
        assert Order.objects.filter(mode="LIVE", broker="kite").exists()
    else:
        assert fake.requests == [], f"Kite received {len(fake.requests)} request(s): {fake.requests[:5]}"
        assert not Order.objects.exclude(broker="paper").exists()
        if combination[0] == "PAPER":
            assert Order.objects.filter(mode="PAPER", broker="paper").exists()  # it did trade, on paper


def test_a_live_desk_stops_sending_when_a_condition_lapses(settings, fake, staff, source):
    """Built under every condition, the desk checks them again every cycle: yesterday's staff
    confirmation (or a token gone) stops it before anything is sent."""
    configure(settings, fake, staff, "LIVE", "", True, True, True, True, True)
    desk = Desk("NIFTY", source=source)
    TradingState.objects.filter(index="NIFTY").update(live_confirmed_at=timezone.now() - timedelta(days=1))
    drive(desk, source)
    assert fake.requests == []
    assert not Order.objects.exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_runtrader_sends_nothing_to_kite_whatever_is_configured(settings, fake, staff, mode):
    """The issue's run: default PAPER, TRADING_BROKER=kite, an API key and today's token - and the
    same with every LIVE condition met: runtrader trades the simulated market on paper."""
    configure(settings, fake, staff, mode, "kite", mode == "LIVE", True, mode == "LIVE", True, mode == "LIVE")
    out = io.StringIO()
    call_command(
        "runtrader",
        "--speed",
        "max",
        "--days",
        "1",
        "--start",
        DAY.isoformat(),
        "--fresh",
        "--quiet",
        stdout=out,
    )
    assert "on the paper broker" in out.getvalue()
    assert fake.requests == []
    assert Order.objects.exists() and set(Order.objects.values_list("broker", "mode").distinct()) == {
        ("paper", "PAPER")
    }


class SendsOrders(Broker):
    """A plugin broker that does not say it is simulated: treated as live."""

    name = "sends"


def test_paper_is_paper_even_when_the_plugins_remap_it(settings):
    settings.TRADING_BROKERS = {"paper": "tests.engine.test_live_guard.SendsOrders"}
    with pytest.raises(LiveTradingRefused, match="not simulated"):
        default_broker("PAPER")
    with pytest.raises(LiveTradingRefused, match="sends orders out"):
        Desk(
            "NIFTY", mode="PAPER", source=SimSource(index="NIFTY", seed=SEED, start=DAY), broker=SendsOrders()
        )


def test_live_refuses_a_simulated_broker(settings, fake, staff):
    configure(settings, fake, staff, "LIVE", "paper", True, True, True, True, True)
    assert live_problems("NIFTY") == [
        "TRADING_BROKER 'paper' is a simulated broker (LIVE needs one that sends orders)"
    ]
    settings.TRADING_BROKER = "nosuch"
    assert live_problems("NIFTY") == ["TRADING_BROKER 'nosuch' is not a known broker"]
    settings.TRADING_BROKER = "kite"
    assert live_problems("NIFTY") == []
    settings.MARKET_FEED = "sim"  # real orders at simulated prices: never
    assert live_problems("NIFTY") == [
        "MARKET_FEED 'sim' does not take its expiries from the broker's instrument master "
        "(LIVE trades on the kite feed)"
    ]
    settings.MARKET_FEED = "kite"
    assert isinstance(live_broker("NIFTY"), KiteBroker) and fake.requests == []  # built, nothing sent yet


def test_only_the_live_module_builds_brokers():
    """One function builds a broker that sends orders: no other module of the Django side (execution,
    tasks, commands, journal, analytics, settings) names the registry's builders or a broker class."""
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"\b(build_broker|broker_class|KiteBroker|PaperBroker|from_config)\b")
    offenders = []
    for package in ("trading", "journal", "analytics", "tradingsite"):
        for path in (root / package).rglob("*.py"):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(("trading/brokers/", "trading/core/", "trading/marketdata/")):
                continue
            if relative in ("trading/execution/live.py", "trading/plugins.py"):  # the builder, the loader
                continue
            if pattern.search(path.read_text()):
                offenders.append(relative)
    assert offenders == []
