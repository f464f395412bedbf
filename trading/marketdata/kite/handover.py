"""The hand-over between the ticker process and the trading process: the latest bar of an index as a
JSON file replaced atomically, and the day's recording (``ChainRecorder``)."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from trading.core.bars import CHAIN_FIELDS, MarketBar, OptionChain
from trading.marketdata.base import FeedError
from trading.marketdata.recorder import ChainRecorder


def _json_float(value: float) -> float | None:
    return None if value != value else float(value)  # NaN -> null


def _json_floats(values: object) -> list[float | None]:
    return [_json_float(value) for value in np.asarray(values, dtype=float).tolist()]


def bar_to_json(bar: MarketBar) -> dict:
    """A ``MarketBar`` as plain JSON (NaN as null, times ISO 8601)."""
    return {
        "index": bar.index,
        "time": bar.time.astimezone(UTC).isoformat(),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "vix": _json_float(bar.vix),
        "volume": bar.volume,
        "chains": [
            {
                "expiry": chain.expiry.isoformat(),
                "strikes": _json_floats(chain.strikes),
                **{name: _json_floats(getattr(chain, name)) for name in CHAIN_FIELDS},
            }
            for chain in bar.chains
        ],
    }


def bar_from_json(data: dict) -> MarketBar:
    """The inverse of ``bar_to_json``."""

    def as_array(values: list) -> np.ndarray:
        return np.array([np.nan if value is None else value for value in values], dtype=float)

    return MarketBar(
        index=data["index"],
        time=datetime.fromisoformat(data["time"]),
        open=float(data["open"]),
        high=float(data["high"]),
        low=float(data["low"]),
        close=float(data["close"]),
        vix=math.nan if data.get("vix") is None else float(data["vix"]),
        volume=float(data.get("volume") or 0.0),
        chains=[
            OptionChain(
                expiry=date.fromisoformat(chain["expiry"]),
                strikes=as_array(chain["strikes"]),
                **{name: as_array(chain[name]) for name in CHAIN_FIELDS},
            )
            for chain in data.get("chains", [])
        ],
    )


def latest_path(directory: str | Path, index: str) -> Path:
    return Path(directory) / f"{index.upper()}_latest.json"


def write_latest(directory: str | Path, bar: MarketBar) -> Path:
    """Publish ``bar`` as the index's latest bar: write a temporary file, then rename over (atomic)."""
    path = latest_path(directory, bar.index)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(bar_to_json(bar), allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_latest(directory: str | Path, index: str) -> MarketBar | None:
    """The latest published bar of ``index``, None when nothing was published yet."""
    path = latest_path(directory, index)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise FeedError(f"cannot read {path}: {exc}") from exc
    return bar_from_json(data)


class BarSink:
    """Where the ticker process puts each completed minute: the recording, then the latest bar."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.recorder = ChainRecorder(self.directory)

    def write(self, bar: MarketBar) -> None:
        if bar.chains:
            self.recorder.record(bar)
        write_latest(self.directory, bar)
