"""What the market-data store holds: one table per kind, its columns, its key and its partitions.

Each kind is a set of Parquet files, one per index and partition, at
``{root}/{kind}/{INDEX}/{partition}.parquet``; the partition is the IST session date
(``2024-01-05``) for the intraday and end-of-day chain kinds, the calendar year (``2024``) for the
daily series. Within a partition the ``key`` columns identify a row; a re-import replaces rows by key.

Units (as in ``trading/core/bars.py``): prices in rupees (index points), OI and ``volume`` in units
(contracts x lot size), ``iv`` an annualised fraction, VIX in percent, times the bar **start** as UTC
``timestamp[ns]``. ``turnover`` is rupees, ``contracts`` a count of contracts, ``lot`` the lot size the
exchange file states (NaN when it states none).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["KINDS", "Kind", "VIX_INDEX", "kind"]

VIX_INDEX = "INDIAVIX"  # the "index" under which India VIX series are stored

_TIME = pa.timestamp("ns", tz="UTC")
_F = pa.float64()


@dataclass(frozen=True)
class Kind:
    """One table of the store: ``schema`` (column order and types), ``key`` and partitioning."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    by_year: bool = False  # partitions are calendar years (daily series), else IST sessions
    description: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, typ in fields])


_EOD = (
    ("open", _F),
    ("high", _F),
    ("low", _F),
    ("close", _F),
    ("last", _F),
    ("prev_close", _F),
    ("settle", _F),
    ("underlying", _F),
    ("oi", _F),
    ("oi_change", _F),
    ("contracts", _F),
    ("volume", _F),
    ("turnover", _F),
    ("trades", _F),
    ("lot", _F),
    ("layout", pa.string()),
)
_OHLC = (("open", _F), ("high", _F), ("low", _F), ("close", _F))

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "spot_minute",
            _schema(("time", _TIME), *_OHLC, ("volume", _F), ("vix", _F)),
            ("time",),
            description="index minute bars; vix = India VIX at the minute's close (NaN: not in the file)",
        ),
        Kind(
            "chain_minute",
            _schema(
                ("time", _TIME),
                ("expiry", pa.date32()),
                ("strike", _F),
                ("option_type", pa.string()),
                ("ltp", _F),
                ("bid", _F),
                ("ask", _F),
                ("oi", _F),
                ("volume", _F),
                ("iv", _F),
            ),
            ("time", "expiry", "strike", "option_type"),
            description="option chains per minute, the replay format's fields (volume cumulative)",
        ),
        Kind(
            "future_minute",
            _schema(("time", _TIME), ("expiry", pa.date32()), *_OHLC, ("volume", _F), ("oi", _F)),
            ("time", "expiry"),
            description="index-future minute bars (volume per minute)",
        ),
        Kind(
            "vix_minute",
            _schema(("time", _TIME), *_OHLC),
            ("time",),
            description="India VIX minute bars (index INDIAVIX)",
        ),
        Kind(
            "chain_eod",
            _schema(("expiry", pa.date32()), ("strike", _F), ("option_type", pa.string()), *_EOD),
            ("expiry", "strike", "option_type"),
            description="end-of-day option chains from the F&O bhavcopy",
        ),
        Kind(
            "future_eod",
            _schema(("expiry", pa.date32()), *_EOD),
            ("expiry",),
            description="end-of-day index futures from the F&O bhavcopy",
        ),
        Kind(
            "index_daily",
            _schema(("date", pa.date32()), *_OHLC),
            ("date",),
            by_year=True,
            description="daily index OHLC from an index-close CSV",
        ),
        Kind(
            "vix_daily",
            _schema(("date", pa.date32()), *_OHLC),
            ("date",),
            by_year=True,
            description="India VIX daily history (index INDIAVIX)",
        ),
    )
}


def kind(name: str) -> Kind:
    """The ``Kind`` called ``name``; ValueError naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown store kind {name!r}: expected one of {', '.join(KINDS)}") from None
