"""A feature row (or any flat mapping of values) as JSON: the one cleaner every writer of a row uses.

Pure: numpy only. Stored JSON keeps numbers as numbers, so a row read back compares with the row
written, except where JSON has no value for it (NaN, infinities, NaT become null).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["json_safe", "json_value"]


def json_value(value: Any) -> Any:
    """One value as JSON: numpy scalars as Python ones, NaN/inf/NaT as None, dates and times as ISO
    strings, ``None``/bool/int/str/finite floats as they are, anything else (a ``Decimal``) as text."""
    kind = type(value)
    if kind is float:  # the common case first (a feature row's values): the same answer, sooner
        return value if math.isfinite(value) else None
    if value is None or kind is int or kind is str or kind is bool:
        return value
    if kind is date or kind is datetime:  # a row's session, expiry, time (NaT is neither type)
        return value.isoformat()
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()  # a datetime (None for NaT), not nanoseconds
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return None if value != value else value.isoformat()  # NaT is the one date unequal to itself
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def json_safe(row: Mapping[Any, Any] | pd.Series | None) -> dict[str, Any]:
    """A feature row as a JSON-ready dict: keys as text, each value through ``json_value``.

    ``row`` is a mapping (a dict from ``FeatureBuilder.append``) or a pandas Series (a frame's row);
    None gives ``{}``.
    """
    if row is None:
        return {}
    isfinite = math.isfinite
    return {
        # json_value's float case inline: a feature row is mostly floats
        (key if type(key) is str else str(key)): (
            (value if isfinite(value) else None) if type(value) is float else json_value(value)
        )
        for key, value in row.items()
    }
