"""The hot path's memos, emptied between a backtest's sessions. Pure.

A memo is a plain dict that remembers what one session asks again and again: a bar's UTC stamp in
the order ids (``orders._STAMPS``), a bar's IST minute in the position ids (``entries._IST_MINUTES``),
an entry's exit levels (``risk._LEVELS``), an instant's IST date (``calendar._IST_DATES``). Each
is bounded where it is used (emptied when full), which bounds a long-running desk. (The float
premiums' tick table, ``risk._FLOAT_TICKS``, is not one: the same premiums come back session after
session.)

A backtest needs more than a bound: its memory must not grow with the sessions it trades (12 months
as 1). ``run_backtest`` calls ``forget()`` before each session, so a year holds no more than one
session's entries. What a memo holds is a value worked out again on a miss: forgetting changes no
result, only when it is worked out.
"""

from __future__ import annotations

from typing import Any

_MEMOS: list[dict] = []


def session_memo() -> dict[Any, Any]:
    """A new memo (a plain dict) that ``forget()`` empties."""
    memo: dict[Any, Any] = {}
    _MEMOS.append(memo)
    return memo


def forget() -> None:
    """Empty every memo (a backtest's next session starts with none of the last one's entries)."""
    for memo in _MEMOS:
        memo.clear()
