"""The live broker: Zerodha Kite Connect through the official ``kiteconnect`` client.

The package, one job per module: ``broker`` (``KiteBroker``: the contract of
``trading.brokers.base`` and the working of an order), ``client`` (each REST call through its rate
limiter, with back-off; errors as ours), ``tracking`` (the orders being worked, brought up to date
from Kite's order book, history and trades), ``pricing`` (the prices sent and re-sent), ``status``
(Kite's statuses, rejection texts and timestamps in our terms), ``reader`` (``KiteOrderReader``: Kite's
record of an order, read only - what the postback handler and the reconcile by tag believe).
Built from a ``trading.brokers.config.KiteConfig`` and an access token given by the caller.

How an order is worked (``KiteBroker.place_order``):

1. **Lookup first.** The client order id is the Kite ``tag``. Kite does not deduplicate, so before
   any submission or resubmission ``kite.orders()`` is searched for the tag; an order found there is
   adopted (and worked on) instead of placing a second one.
2. **Price.** MARKET means "fill now": Kite gets a LIMIT at a marketable price (best ask +
   ``buffer_ticks`` for a BUY, best bid - buffer for a SELL, on the 0.05 tick, inside the price
   band), from the bar's chain or, without one, from ``kite.quote``. A LIMIT's own price is checked
   for tick and price band and refused before it is sent (REJECTED ``invalid_price``; the detail in
   ``message``). With ``market_orders=True`` MARKET orders go as MARKET with ``market_protection``
   (required since 2026-04-01).
3. **Send**, through the in-process limiter (10 orders/s; ``trading.brokers.ratelimit``), keyword
   arguments only, with ``algo_id`` when configured. HTTP 429 -> back off and retry; a timeout or
   network error -> wait ``lookup_delay`` (the order may exist), look the tag up, then retry. Kite's
   own refusal -> REJECTED with a reason code (``status.rejection_reason``).
4. **Chase.** Poll ``order_history`` for up to ``wait_seconds``; not filled -> re-price to the current
   marketable price (at least ``reprice_step_ticks`` further) with ``modify_order``, up to
   ``max_retries`` times (Kite allows 25 modifications: ``max_retries <= 25``); then cancel and
   report CANCELLED ``max_retries_exceeded`` (with whatever filled). An explicit LIMIT is chased too
   unless ``chase_limit_orders=False`` (then it is left OPEN).
5. An order above the freeze quantity is split into whole-lot children (own tags, placed together,
   chased together); the parent sums them.

Order updates also arrive by postback (the execution layer's Kite postback view) and by ``poll()``.
"""
