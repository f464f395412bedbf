"""The market context a position keeps at its entry and at its exit. Pure, no dependencies.

Each measure is one pair of journal fields, ``<name>_entry`` and ``<name>_exit``; the engine fills
them (``core.market_context``) and every reader of a trade takes the names from here.
"""

from __future__ import annotations

# name -> (label, unit). IV and ATM IV are annualised fractions (0.131 = 13.1%); Greeks are per one
# long option: delta per point of spot, gamma per point^2, theta in rupees per calendar day, vega in
# rupees per vol point.
MEASURES: dict[str, tuple[str, str]] = {
    "vix": ("India VIX", "points"),
    "pcr": ("PCR (OI)", "ratio"),
    "max_pain": ("Max pain", "index points"),
    "atm_iv": ("ATM IV", "fraction, annualised"),
    "iv": ("Option IV", "fraction, annualised"),
    "delta": ("Delta", "per point"),
    "gamma": ("Gamma", "per point squared"),
    "theta": ("Theta (per day)", "rupees per day"),
    "vega": ("Vega (per vol pt)", "rupees per vol point"),
}
CONTEXT: tuple[str, ...] = tuple(MEASURES)
WHEN: tuple[str, str] = ("entry", "exit")
# The journal's fields of the context, in this order: vix_entry, vix_exit, pcr_entry, ...
CONTEXT_FIELDS: tuple[str, ...] = tuple(f"{name}_{when}" for name in CONTEXT for when in WHEN)
