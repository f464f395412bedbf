"""Zerodha Kite as a live feed: the instrument master over HTTP, ticks over ``KiteTicker``.

Two processes, because the ticker runs on Twisted, whose reactor cannot be restarted inside one
process (DOMAIN.md section 6):

* **The ticker process** (``python -m trading.marketdata.kite``, started by
  ``ticker.start_ticker``; ``ticker.py``) logs in
  with the day's access token, reads the instrument master (``kite.instruments("NFO")``: the real
  expiry dates, tradingsymbols and tokens of the chain), subscribes the index, India VIX and ATM +-
  ``window`` strikes of the nearest expiries in full mode, and turns ticks into one ``MarketBar`` per
  minute (``minute_bars.MinuteBarBuilder``). Each completed minute goes to ``handover.BarSink``:
  appended to the day's
  replay file by the ``ChainRecorder`` (so every live session is also recorded), then published as
  ``{INDEX}_latest.json``, replaced atomically (write + rename).
* **The trading process** uses ``feed.KiteFeed``: ``snapshot(at)`` reads the latest JSON (a few kB, no
  parsing of the day), ``bars``/``days`` read the recorded CSV up to the last published minute.
  A bar older than ``stale_after`` during the session raises ``FeedError`` (ticker dead or
  disconnected), which the engine treats like any feed failure.

The package: ``instruments`` (the instrument master), ``minute_bars`` (ticks -> bars), ``handover``
(the published latest bar and the recording), ``feed`` (the trading side), ``ticker`` (the ticker
process; ``python -m trading.marketdata.kite`` runs its ``main``).

The transport is the file system (``FeedConfig.data_dir``, ``MARKET_DATA_DIR``): it needs no service, survives a
restart of either side, and the recording is a by-product. With several hosts, run the ticker
beside the process that trades (one ticker per index; Kite allows 3 WebSocket connections per key).

Ticks -> minute bars: a tick belongs to the minute in which it **arrives** (the wall clock of the
ticker process, injected as ``clock``); spot OHLC from the index's ticks in that minute (the previous
close carried flat when none came), VIX = its last value, and each option's last state at the
minute's end: LTP, best bid/ask of the depth (NaN when the book side is empty), OI and the day's
cumulative volume (``volume_traded``). IV is left NaN: ``core.features`` solves it from the mid.
Minutes outside 09:15-15:30 IST produce no bar.
"""
