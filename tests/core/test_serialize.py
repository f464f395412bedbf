"""The one feature-row JSON cleaner: what JSON cannot hold becomes null, numbers stay numbers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from trading.core.serialize import json_safe


def test_values_json_cannot_hold_become_null_and_numbers_stay_numbers():
    row = {
        "close": np.float64(23900.5),
        "volume": np.int64(1200),
        "is_expiry_day": np.bool_(True),
        "atm_iv": float("nan"),
        "pcr_oi": np.float64("inf"),
        "time": pd.Timestamp("2025-01-06 04:00", tz="UTC"),
        "missing_time": pd.NaT,
        "stamp": np.datetime64("2025-01-06T04:00:00.123456789"),
        "no_stamp": np.datetime64("NaT"),
        "session": date(2025, 1, 6),
        "premium": Decimal("101.05"),
        "index": "NIFTY",
        "nothing": None,
        7: 1,
    }
    assert json_safe(row) == {
        "close": 23900.5,
        "volume": 1200,
        "is_expiry_day": True,
        "atm_iv": None,
        "pcr_oi": None,
        "time": "2025-01-06T04:00:00+00:00",
        "missing_time": None,
        "stamp": "2025-01-06T04:00:00.123456",
        "no_stamp": None,
        "session": "2025-01-06",
        "premium": "101.05",
        "index": "NIFTY",
        "nothing": None,
        "7": 1,
    }
    cleaned = json_safe(row)
    assert type(cleaned["close"]) is float and type(cleaned["volume"]) is int
    assert json.loads(json.dumps(cleaned, allow_nan=False)) == cleaned  # strict JSON, round-trips


def test_a_frame_row_and_none():
    frame = pd.DataFrame({"close": [1.5, np.nan]}, index=[datetime(2025, 1, 6, 4, tzinfo=UTC)] * 2)
    assert json_safe(frame.iloc[1]) == {"close": None}
    assert json_safe(None) == {}
