"""A tradebook's legs opened together, grouped into combos (the import's preview and its confirm)."""

from __future__ import annotations

from datetime import timedelta

from journal.importers import ParsedTrade


def group_combos(trades: list[ParsedTrade], window: timedelta) -> list[tuple[int, ...]]:
    """The combos among ``trades`` (a tradebook's round trips): positions in ``trades``, each combo's
    legs in entry order, the combos in order of their first entry.

    Legs opened together on one underlying are one combo: per index (``symbol``), in entry order, a
    trade joins the open group while its entry is at most ``window`` after the group's **first**
    entry (anchored, so a slow stream of orders never chains into one long group); otherwise it
    starts a new group. A group is a combo when it holds at least two different contracts
    (``tradingsymbol``): one order filled at two prices makes two trades of one leg, not a combo.
    """
    if window < timedelta(0):
        raise ValueError("the combo window cannot be negative")
    order = sorted(
        range(len(trades)), key=lambda i: (trades[i].raw["symbol"], trades[i].raw["entry_time"], i)
    )
    groups: list[list[int]] = []
    for i in order:
        raw = trades[i].raw
        if groups:
            first = trades[groups[-1][0]].raw
            if first["symbol"] == raw["symbol"] and raw["entry_time"] - first["entry_time"] <= window:
                groups[-1].append(i)
                continue
        groups.append([i])
    combos = [g for g in groups if len({trades[i].raw.get("tradingsymbol") for i in g}) >= 2]
    combos.sort(key=lambda g: (trades[g[0]].raw["entry_time"], g[0]))
    return [tuple(g) for g in combos]
