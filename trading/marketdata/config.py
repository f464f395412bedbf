"""The market-data feeds' configuration: a frozen object built once from settings by the caller.

No feed reads Django settings. The caller makes one ``FeedConfig`` with
``FeedConfig.from_settings(settings)`` (it passes the settings object in; this module imports no
Django) and builds the feed with ``trading.marketdata.registry.build_feed(config)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any


def _value(settings: Any, name: str, default: Any) -> Any:
    """``settings.name``, ``default`` when it is missing, None or ''."""
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


@dataclass(frozen=True)
class FeedConfig:
    """Which feed serves the market, and what it needs (settings in brackets).

    * ``name`` (``MARKET_FEED``, "sim"): ``sim``, ``replay``, ``kite``, a name of ``extra_feeds`` or
      a dotted path to a ``Feed`` class (lower case but for a dotted path).
    * ``index`` (``TRADING_INDEX``, "NIFTY"): the index the feed serves (upper case).
    * ``sim_seed`` (``SIM_SEED``, 7) and ``sim_start`` (``SIM_START``, 2025-01-01): the simulated
      market's seed and first session.
    * ``replay_path`` (``MARKET_REPLAY_PATH``): a replay CSV or a directory of them; None = unset
      (the replay feed refuses to start without it).
    * ``data_dir`` (``MARKET_DATA_DIR``, "var/marketdata"): where the Kite ticker process records
      and publishes its bars, read by the Kite feed.
    * ``store_dir`` (``MARKETDATA_DIR``, "var/marketdata"): the market-data store
      (``trading/marketdata/store``) the ``store`` feed and store backtests read.
    * ``extra_feeds`` (``MARKET_FEEDS``): more feeds by name -> dotted path, added to or replacing
      the built-in ones (read-only).
    """

    name: str = "sim"
    index: str = "NIFTY"
    sim_seed: int = 7
    sim_start: date = date(2025, 1, 1)
    replay_path: Path | None = None
    data_dir: Path = Path("var/marketdata")
    store_dir: Path = Path("var/marketdata")
    extra_feeds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = str(self.name or "sim").strip()
        object.__setattr__(self, "name", name if "." in name else name.lower())
        object.__setattr__(self, "index", str(self.index or "NIFTY").upper())
        if self.replay_path is not None and not isinstance(self.replay_path, Path):
            object.__setattr__(self, "replay_path", Path(self.replay_path))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "store_dir", Path(self.store_dir))
        object.__setattr__(self, "extra_feeds", MappingProxyType(dict(self.extra_feeds or {})))

    @classmethod
    def from_settings(cls, settings: Any) -> FeedConfig:
        """The feed configuration from ``settings`` (a Django settings object or any object with
        those attributes); a missing or empty setting keeps the default."""
        replay_path = _value(settings, "MARKET_REPLAY_PATH", None)
        return cls(
            name=str(_value(settings, "MARKET_FEED", cls.name)),
            index=str(_value(settings, "TRADING_INDEX", cls.index)),
            sim_seed=int(_value(settings, "SIM_SEED", cls.sim_seed)),
            sim_start=date.fromisoformat(str(_value(settings, "SIM_START", cls.sim_start.isoformat()))),
            replay_path=Path(replay_path) if replay_path is not None else None,
            data_dir=Path(_value(settings, "MARKET_DATA_DIR", cls.data_dir)),
            store_dir=Path(_value(settings, "MARKETDATA_DIR", cls.store_dir)),
            extra_feeds=dict(_value(settings, "MARKET_FEEDS", {}) or {}),
        )
