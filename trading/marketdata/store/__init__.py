"""The local market-data store: Parquet by kind, index and date (docs/marketdata-store.md).

``MarketDataStore`` (store.py) reads and writes; ``importer.import_file``/``import_files`` bring the
user's files in (bhavcopy.py, daily.py, minute.py with mapping.py); ``eod`` computes chain analytics
and the IV history; ``verify`` reports gaps; ``recorder.StoreRecorder`` writes live bars. The feed over
the store is ``trading.marketdata.store_feed.StoreFeed``. Pure Python: no Django.
"""

from __future__ import annotations

from trading.marketdata.store.errors import CoverageError, ImportFileError, MappingError
from trading.marketdata.store.store import MarketDataStore

__all__ = ["CoverageError", "ImportFileError", "MappingError", "MarketDataStore"]
