"""A local fake of Kite Connect's REST API, for tests with the official ``kiteconnect`` client.

Runs on 127.0.0.1 on a random port in a thread; point the client at it with
``KiteConnect(api_key=..., access_token=..., root=server.url)``. Never contacts Zerodha.

Speaks the documented API as the client uses it: ``POST /session/token``; ``POST /orders/{variety}``,
``PUT`` / ``DELETE /orders/{variety}/{order_id}``; ``GET /orders``, ``/orders/{order_id}`` (history),
``/orders/{order_id}/trades``, ``/trades``, ``/portfolio/positions``, ``/quote``, ``/quote/ltp``,
``/instruments/NFO`` (CSV). Answers ``{"status": "success", "data": ...}``, errors ``{"status":
"error", "message": ..., "error_type": ...}`` with Kite's HTTP codes (400 InputException, 403
TokenException, 429 NetworkException "Too many requests", 500 OrderException).

Behaviour is set on the instance: ``fill_mode`` (``immediate``, ``partial``, ``never``, ``reject``,
``on_modify`` - fills once modified ``fill_after_modifications`` times - or ``quote`` - fills when
the limit crosses ``quotes``), ``partial_quantity``, ``reject_message``, ``force_429`` (answer the
next N order placements with 429), ``place_response_delay`` (accept an order but answer late: the
client times out although the order exists), ``orders_per_second`` (the server's own 429 limit).
Every order request's arrival time is kept in ``order_request_times`` (``time.monotonic``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
TICK = 0.05
LIVE = ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "MODIFY VALIDATION PENDING")


class KiteError(Exception):
    def __init__(self, code: int, error_type: str, message: str):
        super().__init__(message)
        self.code, self.error_type, self.message = code, error_type, message


def _now() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def _on_tick(price: float) -> bool:
    return abs(round(price / TICK) * TICK - price) < 1e-9


class FakeKite:
    """The fake server and its state. Use as a context manager or call ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        api_key: str = "testkey",
        api_secret: str = "testsecret",
        access_token: str = "testaccesstoken",
        request_token: str = "testrequesttoken",
        lot_size: int = 65,
        freeze_quantity: int = 1800,
    ) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.access_token, self.request_token = access_token, request_token
        self.lot_size, self.freeze_quantity = lot_size, freeze_quantity
        self.fill_mode = "immediate"
        self.partial_quantity = 0
        self.fill_after_modifications = 1
        self.reject_message = "RMS:Margin Exceeds,Required:120000, Available:1000"
        self.force_429 = 0
        self.place_response_delay = 0.0
        self.orders_per_second = 10
        self.quotes: dict[str, dict] = {}  # "NFO:SYMBOL" -> {"bid", "ask", "ltp"}
        self.instruments: list[dict] = []
        self.orders: dict[str, list[dict]] = {}  # order id -> history, oldest first
        self.modifications: dict[str, int] = {}
        self.trades: list[dict] = []
        self.order_request_times: list[float] = []  # every order write that reached the server
        self.placements: list[tuple[float, dict]] = []  # accepted POST /orders: (time, params)
        self.baskets: list[tuple[list, dict]] = []  # POST /margins/basket: (orders, query)
        self.basket_initial, self.basket_final = 0.0, 0.0
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(260505000000001)
        self._trade_ids = itertools.count(90000001)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeKite:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kite", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeKite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for tests ----------------------------------------------------------------------------

    def set_quote(self, key: str, *, bid: float, ask: float, ltp: float | None = None) -> None:
        """Quote ``key`` ('NFO:SYMBOL') at bid/ask (last price: the mid unless given)."""
        self.quotes[key] = {
            "bid": bid,
            "ask": ask,
            "ltp": ltp if ltp is not None else round((bid + ask) / 2, 2),
        }

    def orders_with_tag(self, tag: str) -> list[dict]:
        """The latest state of every order carrying ``tag``."""
        with self._lock:
            return [h[-1] for h in self.orders.values() if h[-1]["tag"] == tag]

    def latest(self, order_id: str) -> dict:
        return self.orders[order_id][-1]

    def requests_to(self, method: str, prefix: str) -> list[str]:
        return [p for m, p in self.requests if m == method and p.startswith(prefix)]

    def postback_payload(self, order_id: str, api_secret: str | None = None) -> dict:
        """The JSON Kite posts for an order's latest state, with its checksum
        (SHA-256 of order_id + order_timestamp + api_secret)."""
        o = dict(self.latest(order_id))
        secret = api_secret if api_secret is not None else self.api_secret
        o["checksum"] = hashlib.sha256(f"{o['order_id']}{o['order_timestamp']}{secret}".encode()).hexdigest()
        o["user_id"] = "AB1234"
        o["app_id"] = 1234
        o["unfilled_quantity"] = o["pending_quantity"]
        return o

    # --- the API --------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, form: dict, auth: str) -> tuple[int, object, str]:
        """Route one request: returns (HTTP code, data, content type)."""
        self.requests.append((method, path))
        if path == "/session/token" and method == "POST":
            return 200, self._session(form), "json"
        if auth != f"token {self.api_key}:{self.access_token}":
            raise KiteError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        m = re.fullmatch(r"/orders/(?P<a>[^/]+)(?:/(?P<b>[^/]+))?", path)
        if method == "POST" and path == "/margins/basket":
            return 200, self._basket(form.get("_json") or [], query), "json"
        if method == "POST" and m and not m["b"]:
            return 200, self._place(m["a"], form), "json"
        if method == "PUT" and m and m["b"]:
            return 200, self._modify(m["b"], form), "json"
        if method == "DELETE" and m and m["b"]:
            return 200, self._cancel(m["b"]), "json"
        if method != "GET":
            raise KiteError(404, "GeneralException", f"Route not found: {method} {path}")
        if path == "/orders":
            with self._lock:
                return 200, [h[-1] for h in self.orders.values()], "json"
        if m and m["b"] == "trades":
            return 200, [t for t in self.trades if t["order_id"] == m["a"]], "json"
        if m and not m["b"]:
            if m["a"] not in self.orders:
                raise KiteError(400, "InputException", "Couldn't find that `order_id`.")
            return 200, self.orders[m["a"]], "json"
        if path == "/trades":
            return 200, self.trades, "json"
        if path == "/portfolio/positions":
            return 200, self._positions(), "json"
        if path in ("/quote", "/quote/ltp"):
            return 200, self._quote(query.get("i", []), full=path == "/quote"), "json"
        if path == "/instruments/NFO":
            return 200, self._instruments_csv(), "csv"
        raise KiteError(404, "GeneralException", f"Route not found: {method} {path}")

    def _basket(self, orders: list, query: dict) -> dict:
        """Basket margin: what the test set (``basket_final``), the orders kept (``baskets``)."""
        self.baskets.append((orders, {k: v[-1] for k, v in query.items()}))
        return {"initial": {"total": self.basket_initial}, "final": {"total": self.basket_final}}

    def _session(self, form: dict) -> dict:
        expected = hashlib.sha256(f"{self.api_key}{self.request_token}{self.api_secret}".encode()).hexdigest()
        if (
            form.get("api_key") != self.api_key
            or form.get("request_token") != self.request_token
            or form.get("checksum") != expected
        ):
            raise KiteError(403, "TokenException", "Token is invalid or has expired.")
        return {
            "user_type": "individual",
            "email": "trader@example.com",
            "user_name": "Test Trader",
            "user_shortname": "Trader",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO", "BFO"],
            "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "user_id": "AB1234",
            "api_key": self.api_key,
            "access_token": self.access_token,
            "public_token": "publictoken",
            "refresh_token": "",
            "enctoken": "",
            "login_time": _now(),
            "meta": {"demat_consent": "consent"},
        }

    def _count_order_request(self) -> None:
        """Record an order write; 429 beyond ``orders_per_second`` in the trailing second."""
        now = time.monotonic()
        with self._lock:
            self.order_request_times.append(now)
            recent = [t for t in self.order_request_times if now - t < 1.0]
            if len(recent) > self.orders_per_second:
                raise KiteError(429, "NetworkException", "Too many requests")

    def _place(self, variety: str, form: dict) -> dict:
        with self._lock:
            if self.force_429 > 0:
                self.force_429 -= 1
                self.order_request_times.append(time.monotonic())
                raise KiteError(429, "NetworkException", "Too many requests")
        self._count_order_request()
        if variety != "regular":
            raise KiteError(400, "InputException", f"Invalid variety `{variety}`.")
        for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type"):
            if not form.get(name):
                raise KiteError(400, "InputException", f"Missing `{name}`.")
        tag = form.get("tag", "")
        if tag and (len(tag) > 20 or not tag.isalnum()):
            raise KiteError(400, "InputException", "Invalid `tag`: alphanumeric, 20 characters at most.")
        qty = int(form["quantity"])
        if qty <= 0 or qty % self.lot_size:
            raise KiteError(
                400, "InputException", f"Quantity should be a multiple of lot size {self.lot_size}."
            )
        if qty > self.freeze_quantity:
            raise KiteError(400, "InputException", "Quantity exceeds the freeze limit.")
        order_type = form["order_type"]
        price = float(form.get("price") or 0)
        if order_type == "LIMIT" and (price <= 0 or not _on_tick(price)):
            raise KiteError(
                400,
                "InputException",
                "Tick size for this script is 0.05. Kindly enter the price in the multiple of tick size.",
            )
        if order_type == "MARKET" and int(form.get("market_protection") or 0) == 0:
            raise KiteError(400, "InputException", "Market orders need `market_protection` (-1 or 1-100).")
        key = f"{form['exchange']}:{form['tradingsymbol']}"
        with self._lock:
            order_id = str(next(self._ids))
            ts = _now()
            base = {
                "placed_by": "AB1234",
                "order_id": order_id,
                "exchange_order_id": None,
                "parent_order_id": None,
                "status": "PUT ORDER REQ RECEIVED",
                "status_message": None,
                "status_message_raw": None,
                "order_timestamp": ts,
                "exchange_update_timestamp": None,
                "exchange_timestamp": None,
                "variety": variety,
                "modified": False,
                "exchange": form["exchange"],
                "tradingsymbol": form["tradingsymbol"],
                "instrument_token": 12345678,
                "order_type": order_type,
                "transaction_type": form["transaction_type"],
                "validity": form.get("validity", "DAY"),
                "validity_ttl": 0,
                "product": form["product"],
                "quantity": qty,
                "disclosed_quantity": 0,
                "price": price,
                "trigger_price": 0,
                "average_price": 0,
                "filled_quantity": 0,
                "pending_quantity": qty,
                "cancelled_quantity": 0,
                "market_protection": int(form.get("market_protection") or 0),
                "meta": {},
                "tag": tag or None,
                "tags": [tag] if tag else [],
                "guid": f"guid{order_id}",
                "algo_id": form.get("algo_id"),
            }
            self.orders[order_id] = [base]
            self.modifications[order_id] = 0
            self.placements.append((time.monotonic(), dict(form)))
            self._push(order_id, status="VALIDATION PENDING")
            self._push(order_id, status="OPEN PENDING")
            if self.fill_mode == "reject":
                self._push(
                    order_id, status="REJECTED", status_message=self.reject_message, pending_quantity=0
                )
            else:
                self._push(
                    order_id,
                    status="OPEN",
                    exchange_order_id=f"1100000{order_id[-8:]}",
                    exchange_timestamp=ts,
                )
                self._maybe_fill(order_id, key)
        if self.place_response_delay:
            time.sleep(self.place_response_delay)
        return {"order_id": order_id}

    def _push(self, order_id: str, **changes: object) -> dict:
        state = dict(self.orders[order_id][-1])
        state.update(changes)
        state["exchange_update_timestamp"] = _now()
        self.orders[order_id].append(state)
        return state

    def _maybe_fill(self, order_id: str, key: str) -> None:
        o = self.latest(order_id)
        mode = self.fill_mode
        q = self.quotes.get(key)
        buy = o["transaction_type"] == "BUY"
        if mode == "immediate":
            qty = o["quantity"]
        elif mode == "partial":
            qty = min(self.partial_quantity, o["quantity"]) if o["filled_quantity"] == 0 else 0
        elif mode == "on_modify":
            qty = o["quantity"] if self.modifications[order_id] >= self.fill_after_modifications else 0
        elif mode == "quote":
            crosses = q is not None and (o["price"] >= q["ask"] if buy else o["price"] <= q["bid"])
            qty = o["quantity"] if crosses or o["order_type"] == "MARKET" else 0
        else:
            qty = 0
        if qty <= 0:
            return
        if o["order_type"] == "MARKET" or q is None:
            price = q["ask" if buy else "bid"] if q else o["price"]
        else:
            price = min(o["price"], q["ask"]) if buy else max(o["price"], q["bid"])
        self._execute(order_id, qty, price)

    def _execute(self, order_id: str, qty: int, price: float) -> None:
        o = self.latest(order_id)
        filled = o["filled_quantity"] + qty
        avg = ((o["average_price"] or 0) * o["filled_quantity"] + price * qty) / filled
        status = "COMPLETE" if filled == o["quantity"] else "OPEN"
        ts = _now()
        self._push(
            order_id,
            status=status,
            filled_quantity=filled,
            pending_quantity=o["quantity"] - filled,
            average_price=round(avg, 4),
        )
        self.trades.append(
            {
                "trade_id": str(next(self._trade_ids)),
                "order_id": order_id,
                "exchange": o["exchange"],
                "tradingsymbol": o["tradingsymbol"],
                "instrument_token": o["instrument_token"],
                "product": o["product"],
                "average_price": price,
                "quantity": qty,
                "exchange_order_id": o["exchange_order_id"],
                "transaction_type": o["transaction_type"],
                "fill_timestamp": ts,
                "order_timestamp": ts,
                "exchange_timestamp": ts,
            }
        )

    def fill(self, order_id: str, quantity: int | None = None, price: float | None = None) -> None:
        """Fill (part of) a live order now at ``price`` (default: its limit), as the exchange would."""
        with self._lock:
            o = self._live(order_id)
            self._execute(
                order_id, quantity or o["pending_quantity"], price if price is not None else o["price"]
            )

    def _live(self, order_id: str) -> dict:
        if order_id not in self.orders:
            raise KiteError(400, "InputException", "Couldn't find that `order_id`.")
        o = self.latest(order_id)
        if o["status"] not in LIVE:
            raise KiteError(
                400, "InputException", f"Order cannot be modified or cancelled as it is {o['status']}."
            )
        return o

    def _modify(self, order_id: str, form: dict) -> dict:
        self._count_order_request()
        with self._lock:
            o = self._live(order_id)
            if self.modifications[order_id] >= 25:
                raise KiteError(400, "OrderException", "Maximum allowed order modifications exceeded.")
            price = float(form.get("price") or o["price"])
            if not _on_tick(price):
                raise KiteError(400, "InputException", "Tick size for this script is 0.05.")
            self.modifications[order_id] += 1
            self._push(order_id, status="MODIFY VALIDATION PENDING", price=price, modified=True)
            self._push(order_id, status="OPEN")
            self._maybe_fill(order_id, f"{o['exchange']}:{o['tradingsymbol']}")
        return {"order_id": order_id}

    def _cancel(self, order_id: str) -> dict:
        self._count_order_request()
        with self._lock:
            o = self._live(order_id)
            self._push(order_id, status="CANCEL PENDING")
            self._push(
                order_id,
                status="CANCELLED",
                cancelled_quantity=o["quantity"] - o["filled_quantity"],
                pending_quantity=0,
            )
        return {"order_id": order_id}

    def _positions(self) -> dict:
        book: dict[tuple, dict] = {}
        for t in self.trades:
            k = (t["exchange"], t["tradingsymbol"], t["product"])
            p = book.setdefault(
                k,
                {
                    "exchange": k[0],
                    "tradingsymbol": k[1],
                    "product": k[2],
                    "buy_quantity": 0,
                    "sell_quantity": 0,
                    "buy_value": 0.0,
                    "sell_value": 0.0,
                },
            )
            side = "buy" if t["transaction_type"] == "BUY" else "sell"
            p[f"{side}_quantity"] += t["quantity"]
            p[f"{side}_value"] += t["quantity"] * t["average_price"]
        net = []
        for p in book.values():
            p["quantity"] = p["buy_quantity"] - p["sell_quantity"]
            if p["quantity"] > 0:
                p["average_price"] = p["buy_value"] / p["buy_quantity"]
            elif p["quantity"] < 0:
                p["average_price"] = p["sell_value"] / p["sell_quantity"]
            else:
                p["average_price"] = 0
            net.append(p)
        return {"net": net, "day": net}

    def _quote(self, keys: list[str], *, full: bool) -> dict:
        out = {}
        for key in keys:
            q = self.quotes.get(key)
            if q is None:
                continue
            if not full:
                out[key] = {"instrument_token": 12345678, "last_price": q["ltp"]}
                continue
            out[key] = {
                "instrument_token": 12345678,
                "timestamp": _now(),
                "last_trade_time": _now(),
                "last_price": q["ltp"],
                "last_quantity": 65,
                "volume": 100000,
                "buy_quantity": 6500,
                "sell_quantity": 6500,
                "ohlc": {"open": q["ltp"], "high": q["ltp"], "low": q["ltp"], "close": q["ltp"]},
                "net_change": 0,
                "oi": 1000000,
                "depth": {
                    "buy": [{"price": q["bid"], "quantity": 650, "orders": 3}]
                    + [{"price": 0, "quantity": 0, "orders": 0}] * 4,
                    "sell": [{"price": q["ask"], "quantity": 650, "orders": 3}]
                    + [{"price": 0, "quantity": 0, "orders": 0}] * 4,
                },
            }
        return out

    def _instruments_csv(self) -> str:
        header = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange"
        rows = [header]
        for i in self.instruments:
            rows.append(
                ",".join(
                    str(i.get(k, ""))
                    for k in (
                        "instrument_token",
                        "exchange_token",
                        "tradingsymbol",
                        "name",
                        "last_price",
                        "expiry",
                        "strike",
                        "tick_size",
                        "lot_size",
                        "instrument_type",
                        "segment",
                        "exchange",
                    )
                )
            )
        return "\n".join(rows) + "\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeKite

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _dispatch(self, method: str) -> None:
        parsed = urlparse(self.path)
        query = parse_qs(parsed.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if body and "json" in (self.headers.get("Content-Type") or ""):
            form = {"_json": json.loads(body)}
        else:
            form = {k: v[-1] for k, v in parse_qs(body).items()} if body else {}
        if method in ("GET", "DELETE"):
            form = {k: v[-1] for k, v in query.items()}
        try:
            code, data, kind = self.server_state.handle(
                method, parsed.path, query, form, self.headers.get("Authorization", "")
            )
        except KiteError as exc:
            code, kind = exc.code, "json"
            data = {"status": "error", "message": exc.message, "data": None, "error_type": exc.error_type}
        else:
            if kind == "json":
                data = {"status": "success", "data": data}
        payload = (json.dumps(data) if kind == "json" else str(data)).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json" if kind == "json" else "text/csv")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a simulated timeout)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")
