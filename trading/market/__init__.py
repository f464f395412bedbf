"""The Django side of the market data: the latest snapshot of each index (spot, VIX, option chain),
the option-chain page and its API. The feeds themselves are ``trading.marketdata``."""
