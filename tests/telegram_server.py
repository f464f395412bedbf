"""A local fake of Telegram's Bot API (``sendMessage``), for the notifications' tests.

Runs on 127.0.0.1 on a free port (19900-19929) in a thread; point ``TELEGRAM_API_BASE`` at ``url``.
Speaks the documented shape: ``POST /bot<token>/sendMessage`` with JSON ``chat_id``, ``text``,
``parse_mode``; answers ``{"ok": true, "result": {"message_id": N, "chat": {...}, "text": ...}}``, or
``{"ok": false, "error_code": C, "description": ...}`` - 401 for another token, 400 "chat not found"
for another chat, 429 with ``parameters.retry_after`` when told to.

Behaviour on the instance: ``answers`` - a list of HTTP codes to answer the next requests with (429s
carry ``retry_after``), before answering normally; ``hold`` - an Event the handler waits on before
answering (a Telegram that hangs). Every request is kept in ``requests`` (with ``time.monotonic``).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeTelegram:
    """The fake Bot API (a context manager)."""

    def __init__(self, *, token: str = "123:TEST", chat_id: str = "-1001", retry_after: int = 2) -> None:
        self.token, self.chat_id, self.retry_after = token, chat_id, retry_after
        self.answers: list[int] = []
        self.hold: threading.Event | None = None
        self.requests: list[dict] = []
        self.messages: list[dict] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, path: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            forced = self.answers.pop(0) if self.answers else None
        if path != f"/bot{self.token}/sendMessage":
            return (
                (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                if path.endswith("/sendMessage")
                else (404, {"ok": False, "error_code": 404, "description": "Not Found"})
            )
        if forced == 429:
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.retry_after}",
                "parameters": {"retry_after": self.retry_after},
            }
        if forced is not None:
            return forced, {"ok": False, "error_code": forced, "description": "Internal Server Error"}
        if str(body.get("chat_id")) != self.chat_id:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if not body.get("text"):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        message = {
            "message_id": next(self._ids),
            "chat": {"id": int(self.chat_id), "type": "supergroup"},
            "date": int(time.time()),
            "text": body["text"],
            "parse_mode": body.get("parse_mode"),
        }
        with self._lock:
            self.messages.append(message)
        return 200, {"ok": True, "result": message}

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                with fake._lock:
                    fake.requests.append({"path": self.path, "body": body, "at": time.monotonic()})
                if fake.hold is not None:
                    fake.hold.wait(30)
                code, answer = fake._answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        for port in range(19900, 19930):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    continue
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port in 19900-19929")
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
