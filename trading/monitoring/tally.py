"""The journal's counts for ``/metrics`` (trades and orders by their labels), kept by an incremental
tally: a full read once, then only the rows changed since (``JournalTally``)."""

from __future__ import annotations

import time

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    F,
    FloatField,
    Max,
    Q,
    Sum,
    Value,
    When,
)

from journal.models import Trade, TradeAudit
from trading import metrics
from trading.execution.models import Order

Series = dict[str, dict[tuple[str, ...], float]]  # family name -> label values -> value
WORKING_ORDER_STATUSES = ("SUBMITTED", "OPEN", "PARTIALLY_FILLED")


def as_float(value) -> float:
    return float(value) if value is not None else 0.0


TRADE_KEY = ("strategy_name", "side", "status", "entry_mode", "exit_type", "is_winning_trade")
ORDER_KEY = ("strategy_name", "transaction_type", "order_type", "status", "mode", "reason_text")
FINAL_ORDER_STATUSES = ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


class JournalTally:
    """Trades and orders counted by their label columns, kept up to date without rescanning.

    A full read is one GROUP BY per table (a consistent snapshot each: the largest id and the row
    count come from the same statement). After it, a scrape reads only what changed: rows above the
    largest id seen (by primary key), and the orders not yet final (by id: their status still moves).
    The row count and the sum of the ids check the shortcut (a delete, or a commit that arrived out of
    id order, shows in them), the largest audit id catches an edit of a trade (every edit is
    audited): each forces a full read. Terminal orders never change (``trading.core.orders``); a
    full read every ``FULL_EVERY`` seconds still catches a write that bypassed the services.
    """

    FULL_EVERY = 300.0
    MAX_TRACKED = 500

    def __init__(self) -> None:
        self.trades: dict[tuple, list[float]] | None = None  # key -> [n, net, charges, hold min, last exit]
        self.trade_max_id = 0
        self.trade_count = 0
        self.trade_id_sum = 0
        self.audit_max_id = 0
        self.orders: dict[tuple, float] = {}
        self.order_max_id = 0
        self.order_count = 0
        self.order_id_sum = 0
        self.tracked: dict[int, tuple] = {}  # orders not final yet: id -> key
        self.full_at = 0.0

    # trades --------------------------------------------------------------------------------------

    @staticmethod
    def _trade_rows(qs):
        fl = FloatField()
        return (
            qs.values(*TRADE_KEY)
            .annotate(
                n=Count("id"),
                net=Sum("net_pnl", output_field=fl),
                charges=Sum("total_charges", output_field=fl),
                hold=Sum("hold_duration_minutes", output_field=fl),
                last_exit=Max("exit_time"),
                top=Max("id"),
                ids=Sum("id"),
            )
            .order_by()
        )

    def _add_trades(self, rows) -> tuple[int, int, int]:
        count = top = ids = 0
        for r in rows:
            key = tuple(r[k] for k in TRADE_KEY)
            agg = self.trades.setdefault(key, [0.0, 0.0, 0.0, 0.0, 0.0])
            agg[0] += r["n"]
            agg[1] += as_float(r["net"])
            agg[2] += as_float(r["charges"])
            agg[3] += as_float(r["hold"])
            if r["last_exit"] is not None:
                agg[4] = max(agg[4], r["last_exit"].timestamp())
            count += r["n"]
            top = max(top, r["top"])
            ids += r["ids"]
        return count, top, ids

    def _full_trades(self) -> None:

        self.audit_max_id = TradeAudit.objects.aggregate(m=Max("id"))["m"] or 0
        self.trades = {}
        self.trade_count, self.trade_max_id, self.trade_id_sum = self._add_trades(
            self._trade_rows(Trade.objects.all())
        )

    def _update_trades(self) -> bool:

        if (TradeAudit.objects.aggregate(m=Max("id"))["m"] or 0) != self.audit_max_id:
            return False
        now = Trade.objects.aggregate(n=Count("id"), m=Max("id"), s=Sum("id"))
        count, top, ids = now["n"], now["m"] or 0, now["s"] or 0
        if (count, top, ids) == (self.trade_count, self.trade_max_id, self.trade_id_sum):
            return True
        new = list(self._trade_rows(Trade.objects.filter(id__gt=self.trade_max_id, id__lte=top)))
        if (
            self.trade_count + sum(r["n"] for r in new) != count
            or self.trade_id_sum + sum(r["ids"] for r in new) != ids
        ):
            return False  # a delete, or a commit that landed below the ids already seen
        self._add_trades(new)
        self.trade_count, self.trade_max_id, self.trade_id_sum = count, top, ids
        return True

    # orders --------------------------------------------------------------------------------------

    @staticmethod
    def _orders_qs(qs):
        reason = Case(
            When(status__in=("REJECTED", "CANCELLED"), then=F("status_reason")),
            default=Value(""),
            output_field=CharField(),
        )
        # Orders not final yet come back one per row (their id), the others grouped.
        track = Case(
            When(status__in=FINAL_ORDER_STATUSES, then=Value(0)),
            default=F("id"),
            output_field=BigIntegerField(),
        )
        return qs.annotate(reason_text=reason, track=track).values(*ORDER_KEY, "track")

    def _full_orders(self) -> None:

        rows = (
            self._orders_qs(Order.objects.all())
            .annotate(n=Count("id"), top=Max("id"), ids=Sum("id"))
            .order_by()
        )
        self.orders, self.tracked = {}, {}
        count = top = id_sum = 0
        for r in rows:
            key = tuple(r[k] for k in ORDER_KEY)
            self.orders[key] = self.orders.get(key, 0.0) + r["n"]
            if r["track"]:
                self.tracked[r["track"]] = key
            count += r["n"]
            top = max(top, r["top"])
            id_sum += r["ids"]
        self.order_count, self.order_max_id, self.order_id_sum = count, top, id_sum

    def _update_orders(self) -> bool:

        now = Order.objects.aggregate(n=Count("id"), m=Max("id"), s=Sum("id"))
        count, top, ids = now["n"], now["m"] or 0, now["s"] or 0
        same = (count, top, ids) == (self.order_count, self.order_max_id, self.order_id_sum)
        if same and not self.tracked:
            return True
        if len(self.tracked) > self.MAX_TRACKED:
            return False  # many orders stuck open: one GROUP BY is cheaper than a long IN list
        qs = Order.objects.filter(Q(id__gt=self.order_max_id, id__lte=top) | Q(id__in=list(self.tracked)))
        rows = list(self._orders_qs(qs).values("id", *ORDER_KEY))
        seen = {r["id"] for r in rows}
        if any(i not in seen for i in self.tracked):
            return False  # a tracked order was deleted
        new = [r["id"] for r in rows if r["id"] > self.order_max_id]
        if self.order_count + len(new) != count or self.order_id_sum + sum(new) != ids:
            return False  # a delete, or a commit that landed below the ids already seen
        for r in rows:
            key = tuple(r[k] for k in ORDER_KEY)
            old = self.tracked.pop(r["id"], None)
            if old is not None:
                self.orders[old] -= 1.0
            self.orders[key] = self.orders.get(key, 0.0) + 1.0
            if key[3] not in FINAL_ORDER_STATUSES:
                self.tracked[r["id"]] = key
        self.order_count, self.order_max_id, self.order_id_sum = count, top, ids
        return True

    # ---------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the tally up to date with the database."""
        if self.trades is None or time.monotonic() - self.full_at > self.FULL_EVERY:
            self._full_trades()
            self._full_orders()
            self.full_at = time.monotonic()
            return
        if not self._update_trades():
            self._full_trades()
        if not self._update_orders():
            self._full_orders()

    def emit(self, out: Series) -> None:
        """Add the trade and order families to ``out``."""
        last_exit = out["trading_last_trade_exit_timestamp_seconds"]
        for (name, side, status, mode, exit_type, win), (n, net, charges, hold, last) in (
            self.trades or {}
        ).items():
            if not n:
                continue
            s = metrics.label(name)
            out["trading_trades"][(s, side, (status or "").lower(), mode)] += n
            out["trading_winning_trades"][(s, side, mode)] += n if win else 0.0  # 0 wins: 0, not absent
            out["trading_trade_exits"][(s, exit_type, mode)] += n
            out["trading_trade_hold_seconds"][(s, mode)] += hold * 60.0
            out["trading_charges_paid_rupees"][(s, mode)] += charges
            out["trading_strategy_net_pnl_rupees"][(s, mode)] += net
            last_exit[(mode,)] = max(last_exit.get((mode,), 0.0), last)
        for (name, side, otype, status, mode, reason), n in self.orders.items():
            if not n:
                continue
            s = metrics.label(name)
            out["trading_orders"][(s, side, otype, status, mode)] += n
            if status != "NEW":
                out["trading_orders_submitted"][(s, side, otype, mode)] += n
            if status == "FILLED":
                out["trading_orders_filled"][(s, side, otype, mode)] += n
            elif status == "REJECTED":
                out["trading_orders_rejected"][(s, metrics.reason_label(reason, "unknown"), mode)] += n
            elif status == "CANCELLED":
                out["trading_orders_cancelled"][(s, metrics.reason_label(reason, "unknown"), mode)] += n
            if status in WORKING_ORDER_STATUSES:
                out["trading_orders_working"][(s, mode)] += n
