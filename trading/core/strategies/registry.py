"""The registry of strategies: every strategy by its name, in a fixed order.

Add a strategy by writing its module and naming its class in ``STRATEGY_PATHS``.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from trading.core.strategies.base import Strategy

__all__ = ["STRATEGY_PATHS", "all_strategies", "get", "names"]

STRATEGY_PATHS: tuple[str, ...] = (
    "trading.core.strategies.pcr.PCRStrategy",
    "trading.core.strategies.pcr_trend.PCRTrendStrategy",
    "trading.core.strategies.max_pain.MaxPainStrategy",
    "trading.core.strategies.oi_buildup.OIBuildupStrategy",
    "trading.core.strategies.oi_breakout.OIBreakoutStrategy",
    "trading.core.strategies.opening_range.OpeningRangeBreakoutStrategy",
    "trading.core.strategies.vwap_ema.VWAPEMAStrategy",
    "trading.core.strategies.supertrend.SupertrendStrategy",
    "trading.core.strategies.ema_crossover.EMACrossoverStrategy",
    "trading.core.strategies.rsi_pullback.RSIPullbackStrategy",
    "trading.core.strategies.iv_percentile.IVPercentileBreakoutStrategy",
    "trading.core.strategies.straddle_expansion.StraddleExpansionStrategy",
    "trading.core.strategies.expiry_gamma.ExpiryGammaStrategy",
    "trading.core.strategies.vix_mean_reversion.VIXMeanReversionStrategy",
)


@cache
def _registry() -> dict[str, Strategy]:
    out: dict[str, Strategy] = {}
    for path in STRATEGY_PATHS:
        module, _, cls_name = path.rpartition(".")
        cls = getattr(import_module(module), cls_name)
        if cls.name != cls_name:
            raise ValueError(f"{path}: name {cls.name!r} differs from the class name")
        out[cls.name] = cls()
    return out


def all_strategies() -> list[Strategy]:
    """One instance of every registered strategy, in registry order."""
    return list(_registry().values())


def names() -> list[str]:
    """The registered names, in registry order."""
    return list(_registry())


def get(name: str) -> Strategy:
    """The strategy registered as ``name``; ``KeyError`` naming the known ones if there is none."""
    try:
        return _registry()[name]
    except KeyError:
        raise KeyError(f"no strategy {name!r} (known: {', '.join(_registry())})") from None
