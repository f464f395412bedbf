"""A local stand-in for Kite Connect, speaking its documented formats (never Zerodha itself).

* HTTP (``FakeKiteHTTP``): ``GET /instruments/{exchange}`` -> the instruments CSV
  (``instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,
  instrument_type,segment,exchange``); ``GET /quote/ltp?i=EX:SYMBOL`` -> the JSON envelope
  ``{"status": "success", "data": {...}}``; errors as ``{"status": "error", "message": ...,
  "error_type": ...}``.
* WebSocket ticks: binary messages built by ``message(...)`` from packets in Kite's layout -
  2 bytes packet count, then per packet 2 bytes length + the packet; big-endian integers, prices in
  paise. LTP packet 8 bytes; index packet 28 (quote) or 32 (full) bytes; tradable instrument 44
  (quote) or 184 (full) bytes, the full one with OI, timestamps and 5 + 5 depth levels of 12 bytes
  (quantity, price, orders, 2 bytes padding).
"""

from __future__ import annotations

import json
import struct
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

NIFTY_TOKEN = 256265  # low byte 9: the "indices" segment
VIX_TOKEN = 264969
BANKNIFTY_SPOT_TOKEN = 260105
EXPIRIES = (date(2025, 10, 7), date(2025, 10, 14), date(2025, 10, 28))
STRIKES = [23000.0 + 50.0 * i for i in range(41)]  # 23000 ... 25000
HEADER = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange"


def option_token(expiry_no: int, strike: float, option_type: str) -> int:
    """Tokens of the fake options: NFO segment (low byte 2)."""
    serial = expiry_no * 10_000 + int(strike) // 50 * 2 + (1 if option_type == "PE" else 0)
    return (serial << 8) | 2


def tradingsymbol(expiry: date, strike: float, option_type: str) -> str:
    return f"NIFTY{expiry:%y}{expiry.month}{expiry:%d}{int(strike)}{option_type}"


def nfo_csv() -> str:
    rows = [HEADER]
    for e_no, expiry in enumerate(EXPIRIES):
        for k in STRIKES:
            for ot in ("CE", "PE"):
                tok = option_token(e_no, k, ot)
                rows.append(
                    f"{tok},{tok >> 8},{tradingsymbol(expiry, k, ot)},NIFTY,0,{expiry},{k:g},0.05,75,{ot},NFO-OPT,NFO"
                )
    rows.append(f"{(9 << 8) | 2},9,NIFTY25OCTFUT,NIFTY,0,2025-10-28,0,0.1,75,FUT,NFO-FUT,NFO")
    rows.append(f"{(8 << 8) | 2},8,BANKNIFTY25OCT55000CE,BANKNIFTY,0,2025-10-28,55000,0.05,35,CE,NFO-OPT,NFO")
    return "\n".join(rows) + "\n"


def nse_csv() -> str:
    return (
        "\n".join(
            [
                HEADER,
                f"{NIFTY_TOKEN},1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE",
                f"{BANKNIFTY_SPOT_TOKEN},1016,NIFTY BANK,NIFTY BANK,0,,0,0,0,EQ,INDICES,NSE",
                f"{VIX_TOKEN},1035,INDIA VIX,INDIA VIX,0,,0,0,0,EQ,INDICES,NSE",
                "408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",
            ]
        )
        + "\n"
    )


class FakeKiteHTTP:
    """A local HTTP server answering the Kite Connect calls the feed makes; records the requests."""

    def __init__(self, spot: float = 24012.5) -> None:
        self.spot = spot
        self.requests: list[dict] = []
        self.fail_with: tuple[int, str, str] | None = None  # (status, error_type, message)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, body: str, content_type: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                fake.requests.append(
                    {"path": url.path, "query": parse_qs(url.query), "headers": dict(self.headers)}
                )
                if fake.fail_with:
                    status, kind, msg = fake.fail_with
                    body = {"status": "error", "message": msg, "data": None, "error_type": kind}
                    return self._send(status, json.dumps(body), "application/json")
                if url.path == "/instruments/NFO":
                    return self._send(200, nfo_csv(), "text/csv")
                if url.path == "/instruments/NSE":
                    return self._send(200, nse_csv(), "text/csv")
                if url.path == "/quote/ltp":
                    keys = parse_qs(url.query).get("i", [])
                    data = {k: {"instrument_token": NIFTY_TOKEN, "last_price": fake.spot} for k in keys}
                    return self._send(
                        200, json.dumps({"status": "success", "data": data}), "application/json"
                    )
                body = {
                    "status": "error",
                    "message": "Route not found",
                    "data": None,
                    "error_type": "GeneralException",
                }
                return self._send(404, json.dumps(body), "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKiteHTTP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- binary ticks -------------------------------------------------------------------------------------------


def paise(price: float) -> int:
    return int(round(price * 100))


def ltp_packet(token: int, ltp: float) -> bytes:
    return struct.pack(">II", token, paise(ltp))


def index_packet(
    token: int, ltp: float, high: float, low: float, open_: float, close: float, ts: int
) -> bytes:
    """Full-mode index packet (32 bytes): token, LTP, high, low, open, close, change, timestamp."""
    change = paise(ltp) - paise(close)
    return struct.pack(
        ">IIIIIIiI", token, paise(ltp), paise(high), paise(low), paise(open_), paise(close), change, ts
    )


def option_packet(
    token: int,
    ltp: float,
    *,
    volume: int,
    oi: int,
    bid: float,
    ask: float,
    ts: int = 1_759_722_300,
    last_qty: int = 75,
) -> bytes:
    """Full-mode packet of a tradable instrument (184 bytes) with one bid and one ask level."""
    head = struct.pack(
        ">IIIIIIIIIIIIIIII",
        token,
        paise(ltp),
        last_qty,
        paise(ltp),  # average traded price
        volume,
        1500,  # total buy quantity
        1200,  # total sell quantity
        paise(ltp * 0.9),  # open
        paise(ltp * 1.1),  # high
        paise(ltp * 0.8),  # low
        paise(ltp * 0.95),  # close
        ts,  # last trade time
        oi,
        oi + 100,  # OI day high
        max(oi - 100, 0),  # OI day low
        ts,  # exchange timestamp
    )
    levels = []
    for i in range(10):
        side_price = bid if i < 5 else ask
        price = side_price - 0.05 * (i % 5) * (1 if i < 5 else -1) if side_price > 0 else 0.0
        quantity = 75 * (i % 5 + 1) if side_price > 0 else 0
        levels.append(struct.pack(">IIHxx", quantity, paise(price), 1 if quantity else 0))
    packet = head + b"".join(levels)
    assert len(packet) == 184
    return packet


def message(packets: list[bytes]) -> bytes:
    out = [struct.pack(">H", len(packets))]
    for p in packets:
        out.append(struct.pack(">H", len(p)) + p)
    return b"".join(out)


def quote_for(token: int, n: int) -> dict:
    """The deterministic quote the fake WebSocket server sends for ``token`` on its ``n``-th push."""
    base = 50.0 + (token >> 8) % 97
    ltp = round(base + 0.05 * n, 2)
    return {
        "ltp": ltp,
        "bid": round(ltp - 0.05, 2),
        "ask": round(ltp + 0.1, 2),
        "volume": 1000 + 75 * n,
        "oi": 50_000 + 75 * n,
    }


def spot_for(n: int) -> float:
    return round(24012.5 + 0.5 * (n % 40) - 0.25 * (n % 7), 2)


def push_message(tokens: set[int], n: int) -> bytes:
    """One push of the fake server: the index, VIX and every subscribed option."""
    packets = []
    for tok in sorted(tokens):
        if tok == NIFTY_TOKEN:
            s = spot_for(n)
            packets.append(index_packet(tok, s, s + 5, s - 5, 24000.0, 23990.0, 1_759_722_300))
        elif tok == VIX_TOKEN:
            packets.append(ltp_packet(tok, 14.25 + 0.01 * (n % 5)))
        else:
            q = quote_for(tok, n)
            packets.append(
                option_packet(tok, q["ltp"], volume=q["volume"], oi=q["oi"], bid=q["bid"], ask=q["ask"])
            )
    return message(packets)
