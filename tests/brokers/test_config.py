"""Brokers are built from a frozen configuration made from settings by the caller: every setting lands
in its field, defaults hold when a setting is missing, the broker of each mode, the access token
handed in by the caller, extra brokers by name. No broker or feed module imports Django."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.kite_server import FakeKite
from trading.brokers.base import Broker
from trading.brokers.config import BrokerConfig, KiteConfig
from trading.brokers.kite.broker import KiteBroker
from trading.brokers.paper import PaperBroker
from trading.brokers.registry import UnknownBroker, broker_class, build_broker
from trading.core.fills import FillConfig
from trading.core.order_types import BrokerNotConfigured
from trading.plugins import UnknownPlugin

ROOT = Path(__file__).resolve().parent.parent.parent

EVERY_SETTING = SimpleNamespace(
    TRADING_BROKER="Kite",
    TRADING_BROKERS={"recording": "tests.brokers.test_config.RecordingBroker"},
    PAPER_SLIPPAGE_TICKS=3,
    PAPER_LATENCY_MS=250,
    KITE_API_KEY="key9",
    KITE_API_SECRET="secret9",
    KITE_ROOT_URL="http://127.0.0.1:19299",
    KITE_LOGIN_URL="https://kite.example/login",
    KITE_ALGO_ID="ALGO7",
    KITE_STATIC_IP="203.0.113.9",
    KITE_TIMEOUT=4.5,
    KITE_MAX_RETRIES=7,
    KITE_RETRY_WAIT_SECONDS=1.5,
    KITE_POLL_SECONDS=0.25,
    KITE_PRICE_BUFFER_TICKS=4,
)


class RecordingBroker(Broker):
    """A broker plugin without configuration: built by the base class's ``from_config``."""

    name = "recording"

    def __init__(self, *, journal: list | None = None) -> None:
        self.journal = journal


def test_every_setting_lands_in_its_field():
    config = BrokerConfig.from_settings(EVERY_SETTING)
    assert config.name == "kite"
    assert dict(config.extra_brokers) == {"recording": "tests.brokers.test_config.RecordingBroker"}
    assert config.paper == FillConfig(slippage_ticks=3, latency=timedelta(milliseconds=250))
    assert config.kite == KiteConfig(
        api_key="key9",
        api_secret="secret9",
        root_url="http://127.0.0.1:19299",
        login_url="https://kite.example/login",
        algo_id="ALGO7",
        static_ip="203.0.113.9",
        timeout=4.5,
        max_retries=7,
        wait_seconds=1.5,
        poll_interval=0.25,
        buffer_ticks=4,
    )


def test_missing_or_empty_settings_keep_the_defaults():
    assert BrokerConfig.from_settings(SimpleNamespace()) == BrokerConfig()
    empty = SimpleNamespace(KITE_MAX_RETRIES="", KITE_TIMEOUT=None, TRADING_BROKER="", PAPER_LATENCY_MS="")
    config = BrokerConfig.from_settings(empty)
    assert (config.kite.max_retries, config.kite.timeout, config.name) == (5, None, "")
    assert config.paper == FillConfig()
    # the documented defaults, written out independently of the class
    kite = KiteConfig()
    assert (kite.max_retries, kite.wait_seconds, kite.poll_interval, kite.buffer_ticks) == (5, 2.0, 0.5, 2)
    assert (kite.tick, kite.variety, kite.validity, kite.market_protection) == (
        Decimal("0.05"),
        "regular",
        "DAY",
        -1,
    )


def test_configuration_is_frozen_and_checked():
    config = BrokerConfig.from_settings(EVERY_SETTING)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.kite.max_retries = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.extra_brokers["other"] = "x.y.Z"  # type: ignore[index]
    for bad in (-1, 26):
        with pytest.raises(ValueError, match="25"):
            KiteConfig(max_retries=bad)
    for bad in (0, 101, -2):
        with pytest.raises(ValueError, match="market_protection"):
            KiteConfig(market_protection=bad)
    assert KiteConfig(reprice_step_ticks=0, max_submit_attempts=0).reprice_step_ticks == 1


def test_the_broker_of_each_mode():
    assert BrokerConfig().broker_name("PAPER") == "paper"
    assert BrokerConfig().broker_name("live") == "kite"
    assert BrokerConfig().broker_name("BACKTEST") == "paper"
    assert BrokerConfig(name="PAPER").broker_name("LIVE") == "paper"  # TRADING_BROKER names LIVE's broker
    assert BrokerConfig(name="kite").broker_name("PAPER") == "paper"  # PAPER is paper, always
    assert BrokerConfig(name="kite").broker_name("BACKTEST") == "paper"
    assert PaperBroker.simulated and not KiteBroker.simulated
    assert broker_class("kite") is KiteBroker and broker_class(" Paper ") is PaperBroker


def test_paper_ignores_the_token_and_never_asks_for_it():
    def provider() -> str:
        raise AssertionError("a paper broker asked for a Kite token")

    config = BrokerConfig.from_settings(EVERY_SETTING)
    seen = []
    broker = build_broker("paper", config, access_token=provider, on_update=lambda r, o: seen.append(o))
    assert isinstance(broker, PaperBroker) and broker.config.slippage_ticks == 3
    assert broker.config.latency == timedelta(milliseconds=250) and broker.on_update is not None


def test_kite_gets_its_token_from_the_caller():
    with FakeKite() as fake:
        config = BrokerConfig(kite=KiteConfig(api_key=fake.api_key, root_url=fake.url))
        calls = []

        def provider() -> str:
            calls.append(1)
            return fake.access_token

        broker = build_broker("kite", config, access_token=provider)
        assert calls == [1]
        assert broker.client.kite.access_token == fake.access_token
        assert broker.client.kite.root == fake.url and broker.config is config.kite
        assert broker.positions() == []  # the session works against the (fake) API
        assert build_broker("kite", config, access_token="tok2").client.kite.access_token == "tok2"
    with pytest.raises(BrokerNotConfigured, match="access token"):
        build_broker("kite", config, access_token=lambda: "")
    with pytest.raises(BrokerNotConfigured, match="access token"):
        build_broker("kite", config)
    with pytest.raises(BrokerNotConfigured, match="KITE_API_KEY"):
        build_broker("kite", BrokerConfig(), access_token="tok")


def test_extra_brokers_by_name_from_the_configuration():
    config = BrokerConfig.from_settings(EVERY_SETTING)
    journal: list = []
    broker = build_broker("Recording", config, journal=journal)
    assert isinstance(broker, RecordingBroker) and broker.journal is journal
    with pytest.raises(UnknownBroker, match="expected one of kite, paper"):
        build_broker("recording")  # not registered without the configuration
    with pytest.raises(UnknownPlugin):
        build_broker("tests.brokers.test_config.EVERY_SETTING", config)


def test_brokers_and_feeds_import_no_django():
    """The modules of brokers and feeds load in a bare interpreter and pull in no Django (so none of
    them can read settings), no database driver and no Celery."""
    modules = [
        "trading.plugins",
        "trading.brokers.registry",
        "trading.brokers.paper",
        "trading.brokers.kite.broker",
        "trading.marketdata.registry",
        "trading.marketdata.simulated",
        "trading.marketdata.replay",
        "trading.marketdata.kite.feed",
        "trading.marketdata.kite.ticker",
    ]
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'celery', 'redis', 'psycopg', 'psycopg2', 'channels'))\n"
        "print(bad)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
