"""The strategy builder: a combo's payoff, Greeks and margin before the trade (page and API), saved
as a combo strategy configuration, backtested with one click (docs/builder.md)."""
