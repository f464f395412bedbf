"""The desk's configuration, read from settings once per desk: mode, risk rules, the engine's
configuration, the strategies' slots, and the market source.

The only module of the execution layer that reads trading settings; everything below it (engine,
brokers, feeds) receives what it needs as arguments.
"""

from __future__ import annotations

import logging
from datetime import time
from decimal import Decimal
from typing import Any

from django.conf import settings

from trading.brokers.config import BrokerConfig
from trading.core import orders, risk
from trading.core.combo_store import combo_specs
from trading.core.combos.margin import MarginParams
from trading.core.live import FeedSource, SimSource
from trading.core.state import EngineConfig, StrategySlot
from trading.core.strategies import registry as strategy_registry
from trading.marketdata.config import FeedConfig
from trading.marketdata.registry import UnknownFeed, build_feed, feed_class
from trading.strategies.models import StrategyConfig
from trading.strategies.services import ensure_strategy_configs

log = logging.getLogger(__name__)


def setting(name: str, default: Any) -> Any:
    """A setting of the desk, ``default`` when it is not configured."""
    return getattr(settings, name, default)


def _hhmm(value: str, default: time) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        return default


def risk_config() -> risk.RiskConfig:
    """The desk's risk rules from settings (``RISK_PER_TRADE``, ``STOP_LOSS_PCT``, ``SQUARE_OFF_AT``...)."""
    return risk.RiskConfig(
        capital=Decimal(str(setting("TRADING_CAPITAL", 500000))),
        risk_per_trade=float(setting("RISK_PER_TRADE", 0.01)),
        max_lots=int(setting("RISK_MAX_LOTS", 20)),
        stop_loss_pct=float(setting("STOP_LOSS_PCT", 0.30)),
        target_pct=float(setting("TARGET_PCT", 0.60)),
        trail_pct=float(setting("TRAIL_PCT", 0.20)),
        trail_activation_pct=float(setting("TRAIL_ACTIVATION_PCT", 0.20)),
        vix_reference=float(setting("VIX_REFERENCE", 15.0)),
        entry_start=_hhmm(setting("ENTRY_START", "09:20"), time(9, 20)),
        no_entry_after=_hhmm(setting("NO_ENTRY_AFTER", "14:45"), time(14, 45)),
        square_off_at=_hhmm(setting("SQUARE_OFF_AT", "15:15"), time(15, 15)),
        max_open_positions=int(setting("MAX_OPEN_POSITIONS", 5)),
        daily_loss_limit=Decimal(str(setting("DAILY_LOSS_LIMIT", 10000))),
        max_consecutive_losses=int(setting("MAX_CONSECUTIVE_LOSSES", 4)),
    )


def trading_mode() -> str:
    """PAPER or LIVE (``settings.TRADING_MODE``)."""
    return str(setting("TRADING_MODE", "PAPER")).upper()


def trading_index(index: str | None = None) -> str:
    """The index a desk trades: ``index`` if given, else ``settings.TRADING_INDEX``, upper case."""
    return (index or setting("TRADING_INDEX", "NIFTY")).upper()


def engine_config(
    index: str | None = None,
    *,
    mode: str | None = None,
    data_source: str = "SIM",
    position_prefix: str = "",
    expiries_from_broker: bool = False,
) -> EngineConfig:
    """The engine configuration of one desk, from settings (``expiries_from_broker``: its source's
    chains list the broker's real expiries)."""
    return EngineConfig(
        index=trading_index(index),
        mode=(mode or trading_mode()).upper(),
        data_source=data_source,
        expiries_from_broker=expiries_from_broker,
        risk=risk_config(),
        contract=orders.ContractRule(
            expiry=str(setting("CONTRACT_EXPIRY", "nearest_weekly")),
            strike=str(setting("CONTRACT_STRIKE", "ATM")).upper(),
            otm_steps=int(setting("CONTRACT_OTM_STEPS", 1)),
            target_delta=float(setting("CONTRACT_TARGET_DELTA", 0.5)),
        ),
        order_type=str(setting("ORDER_TYPE", "MARKET")).upper(),
        brokerage_per_order=Decimal(str(setting("BROKERAGE_PER_ORDER", "20"))),
        position_prefix=position_prefix,
        margin=margin_params(),
    )


def margin_params() -> MarginParams:
    """The combos' margin estimate from settings (``MARGIN_SPAN_PCT``, ``MARGIN_FLOOR_PCT``,
    ``MARGIN_EXPOSURE_PCT`` as fractions; ``MARGIN_ITM_LONG_COVERS``): paper trading and backtests."""
    return MarginParams(
        span_pct=float(setting("MARGIN_SPAN_PCT", 0.06)),
        floor_pct=float(setting("MARGIN_FLOOR_PCT", 0.03)),
        exposure_pct=float(setting("MARGIN_EXPOSURE_PCT", 0.02)),
        itm_long_covers=bool(setting("MARGIN_ITM_LONG_COVERS", True)),
    )


def strategy_slots(index: str) -> tuple[dict[str, StrategySlot], list[tuple[str, dict]]]:
    """The index's strategies in registry order: their slots (enabled or not) and the (name, params)
    pairs of the enabled ones, from ``StrategyConfig`` rows (created with defaults when missing)."""
    rows = {config.name: config for config in StrategyConfig.objects.filter(index=index)}
    if not rows:
        ensure_strategy_configs()
        rows = {config.name: config for config in StrategyConfig.objects.filter(index=index)}
    slots: dict[str, StrategySlot] = {}
    pairs: list[tuple[str, dict]] = []
    for name in strategy_registry.names():
        config = rows.get(name)
        if config is None:
            continue
        try:
            combos = combo_specs(index, config.combo)
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            ArithmeticError,
        ) as exc:  # a bad combo keeps the strategy off it
            log.error("strategy %s of %s: its combo is refused: %s", name, index, exc)
            combos = {}
        slots[name] = StrategySlot(
            name=name,
            enabled=config.enabled,
            capital_allocation=Decimal(config.capital_allocation),
            max_open_positions=config.max_open_positions,
            cooldown_minutes=config.cooldown_minutes,
            combos=combos,
        )
        if config.enabled:
            pairs.append((name, dict(config.parameters or {})))
    return slots, pairs


def broker_config() -> BrokerConfig:
    """The brokers' configuration from settings (``TRADING_BROKER``, ``PAPER_*``, ``KITE_*``)."""
    return BrokerConfig.from_settings(settings)


def feed_config() -> FeedConfig:
    """The market data's configuration from settings (``MARKET_FEED``, ``MARKET_*``, ``SIM_*``)."""
    return FeedConfig.from_settings(settings)


def feed_has_broker_expiries() -> bool:
    """Whether the configured feed's chains list the broker's real expiries (its instrument
    master: the Kite feed). False for an unknown feed."""
    config = feed_config()
    try:
        return bool(feed_class(config.name, config.extra_feeds).expiries_from_broker)
    except UnknownFeed:
        return False


def source_from_settings(index: str):
    """The market of the desk: the simulated one (``SIM_SEED`` from ``SIM_START``) when
    ``MARKET_FEED`` is sim, else the configured feed (replay, kite)."""
    config = feed_config()
    if config.name == "sim":
        return SimSource(index=index, seed=config.sim_seed, start=config.sim_start)
    return FeedSource(build_feed(config, index=index))
