"""Column mappings: how a vendor's or broker's minute file maps onto the store, in a TOML file.

A user's file imports without code when a mapping names its columns, time zone, units and key::

    kind = "chain"                 # chain | spot | future | vix: what one row is
    format = "csv"                 # csv | parquet (default: from the file name)
    delimiter = ","                # CSV only
    timezone = "UTC"               # zone of times written without an offset (default Asia/Kolkata)
    bar_time = "end"               # the file stamps a bar by its end (default "start")
    volume = "per_minute"          # chain volume per minute, summed over the session (default "cumulative")
    key = ["ts", "symbol", "expiry", "strike", "right"]   # file columns no two rows share

    [columns]                      # store field = file column
    time = "ts"
    index = "symbol"
    expiry = "expiry"
    strike = "strike"
    option_type = "right"
    ltp = "close"
    oi = "open_interest"
    volume = "qty"

    [constants]                    # store field = one value for every row (instead of a column)
    # index = "NIFTY"

    [scale]                        # store field = factor, or "lot" (oi/volume counted in lots)
    strike = 0.01                  # paise -> rupees
    ltp = 0.01

    [formats]                      # strptime formats (default ISO 8601); time may be epoch_s / epoch_ms
    expiry = "%d%b%Y"

    [values.option_type]           # file value = store value
    C = "CE"
    P = "PE"

Fields per kind (required unless marked optional): ``chain`` - time, index, expiry, strike,
option_type, ltp, oi, volume; bid, ask, iv optional. ``spot`` - time, index, open, high, low, close;
volume (default 0) and vix optional. ``future`` - time, index, expiry, open, high, low, close, volume;
oi optional. ``vix`` - time, close; open, high, low optional. Units after scaling are the store's
(``schema``). Anything unknown in the file is an error naming the key, like a misspelt replay column.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trading.marketdata.store.errors import MappingError

__all__ = ["FIELDS", "Mapping", "load_mapping"]

_TEXT = {"chain": ("time", "index", "expiry", "option_type"), "spot": ("time", "index"),
         "future": ("time", "index", "expiry"), "vix": ("time",)}  # fmt: skip
_NUMBERS_REQUIRED = {
    "chain": ("strike", "ltp", "oi", "volume"),
    "spot": ("open", "high", "low", "close"),
    "future": ("open", "high", "low", "close", "volume"),
    "vix": ("close",),
}
_NUMBERS_OPTIONAL = {
    "chain": ("bid", "ask", "iv"),
    "spot": ("volume", "vix"),
    "future": ("oi",),
    "vix": ("open", "high", "low"),
}
FIELDS: dict[str, tuple[str, ...]] = {
    kind: _TEXT[kind] + _NUMBERS_REQUIRED[kind] + _NUMBERS_OPTIONAL[kind] for kind in _TEXT
}
STORE_KIND = {"chain": "chain_minute", "spot": "spot_minute", "future": "future_minute", "vix": "vix_minute"}
_POSITIVE = ("strike", "open", "high", "low", "close", "vix")
_TOP = {"kind", "format", "delimiter", "timezone", "bar_time", "volume", "key", "columns", "constants",
        "scale", "formats", "values"}  # fmt: skip


@dataclass
class Mapping:
    """A loaded, checked mapping (see the module docstring for the file)."""

    path: str
    kind: str
    columns: dict[str, str]
    constants: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, float | str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    format: str | None = None
    delimiter: str = ","
    timezone: str = "Asia/Kolkata"
    bar_time: str = "start"
    volume: str = "cumulative"

    @property
    def store_kind(self) -> str:
        return STORE_KIND[self.kind]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def number_fields(self) -> tuple[str, ...]:
        return _NUMBERS_REQUIRED[self.kind] + _NUMBERS_OPTIONAL[self.kind]

    @property
    def optional_fields(self) -> tuple[str, ...]:
        return _NUMBERS_OPTIONAL[self.kind]

    @property
    def positive_fields(self) -> tuple[str, ...]:
        return _POSITIVE

    @property
    def defaults(self) -> dict[str, float]:
        """Values of optional fields the file does not have (spot volume 0, as the replay format says)."""
        return {"volume": 0.0} if self.kind == "spot" else {}

    def source(self, name: str) -> str:
        """Where a field comes from, for messages: the file column, or 'constant'."""
        return self.columns.get(name, "constant")


def _fail(path: str, message: str) -> MappingError:
    return MappingError(f"{path}: {message}")


def _table(raw: dict, name: str, path: str) -> dict:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise _fail(path, f"[{name}] must be a table")
    return value


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; MappingError naming the file and the key otherwise."""
    path = Path(path)
    p = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(p, "no such mapping file") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(p, f"not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise _fail(p, f"unknown key(s) {', '.join(unknown)}: expected {', '.join(sorted(_TOP))}")
    kind = raw.get("kind")
    if kind not in FIELDS:
        raise _fail(p, f"kind {kind!r}: expected one of {', '.join(FIELDS)}")
    columns = _table(raw, "columns", p)
    constants = _table(raw, "constants", p)
    allowed = FIELDS[kind]
    for name in (*columns, *constants):
        if name not in allowed:
            raise _fail(p, f"unknown field {name!r} for kind {kind!r}: expected {', '.join(allowed)}")
    both = sorted(set(columns) & set(constants))
    if both:
        raise _fail(p, f"{', '.join(both)} given both as a column and as a constant")
    for name, value in columns.items():
        if not isinstance(value, str) or not value:
            raise _fail(p, f"columns.{name} must be a column name")
    required = _TEXT[kind] + _NUMBERS_REQUIRED[kind]
    missing = [f for f in required if f not in columns and f not in constants]
    if missing:
        raise _fail(p, f"no column or constant for {', '.join(missing)} (required for kind {kind!r})")
    if "time" in constants:
        raise _fail(p, "time must come from a column")
    scale = _table(raw, "scale", p)
    for name, factor in scale.items():
        if name not in _NUMBERS_REQUIRED[kind] + _NUMBERS_OPTIONAL[kind]:
            raise _fail(p, f"scale.{name}: not a number field of kind {kind!r}")
        if factor == "lot":
            if name not in ("oi", "volume") or "expiry" not in allowed:
                raise _fail(p, f"scale.{name} = 'lot' applies to oi/volume of contracts only")
        elif not isinstance(factor, int | float) or isinstance(factor, bool) or not factor > 0:
            raise _fail(p, f"scale.{name} must be a positive number or 'lot'")
    formats = _table(raw, "formats", p)
    for name, fmt in formats.items():
        if name not in ("time", "expiry") or not isinstance(fmt, str):
            raise _fail(p, f"formats.{name}: only time and expiry take a format (a string)")
    values = _table(raw, "values", p)
    for name, table in values.items():
        if name not in allowed or not isinstance(table, dict):
            raise _fail(p, f"values.{name} must be a table of file value = store value for a field")
    key = raw.get("key", [])
    if not isinstance(key, list) or not all(isinstance(k, str) and k for k in key):
        raise _fail(p, "key must be a list of file column names")
    timezone = raw.get("timezone", "Asia/Kolkata")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(p, f"timezone {timezone!r} is not a time zone name (e.g. UTC, Asia/Kolkata)") from None
    bar_time = raw.get("bar_time", "start")
    if bar_time not in ("start", "end"):
        raise _fail(p, f"bar_time {bar_time!r}: expected 'start' or 'end'")
    volume = raw.get("volume", "cumulative")
    if volume not in ("cumulative", "per_minute"):
        raise _fail(p, f"volume {volume!r}: expected 'cumulative' or 'per_minute'")
    fmt = raw.get("format")
    if fmt not in (None, "csv", "parquet"):
        raise _fail(p, f"format {fmt!r}: expected 'csv' or 'parquet'")
    delimiter = raw.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise _fail(p, "delimiter must be one character")
    return Mapping(
        path=p,
        kind=kind,
        columns=dict(columns),
        constants=dict(constants),
        scale=dict(scale),
        formats=dict(formats),
        values={k: {str(a): str(b) for a, b in v.items()} for k, v in values.items()},
        key=tuple(key),
        format=fmt,
        delimiter=delimiter,
        timezone=str(timezone),
        bar_time=bar_time,
        volume=volume,
    )
