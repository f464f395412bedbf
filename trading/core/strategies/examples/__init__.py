"""Example strategies: the "write your own strategy" examples of ``docs/plain-bars.md``.

They follow the strategy contract of ``trading.core.strategies.base`` but are not among the desk's
strategies (``registry.STRATEGY_PATHS``): the desk never trades them; ``manage.py backtest --bars``
runs them in the research mode (``trading.core.research``). Add one by writing its module here and
naming its class in ``EXAMPLE_PATHS``.
"""

from __future__ import annotations

from importlib import import_module

from trading.core.strategies.base import Strategy

__all__ = ["EXAMPLE_PATHS", "example", "example_names"]

EXAMPLE_PATHS: dict[str, str] = {
    "ema_cross": "trading.core.strategies.examples.ema_cross.EmaCross",
}


def example_names() -> list[str]:
    """The example strategies by name."""
    return list(EXAMPLE_PATHS)


def example(name: str) -> Strategy:
    """A new instance of the example ``name``; ``KeyError`` naming the known ones if there is none."""
    try:
        path = EXAMPLE_PATHS[name]
    except KeyError:
        raise KeyError(f"no example strategy {name!r} (known: {', '.join(EXAMPLE_PATHS)})") from None
    module, _, cls_name = path.rpartition(".")
    return getattr(import_module(module), cls_name)()
