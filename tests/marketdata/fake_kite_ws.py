"""A local Kite ticker WebSocket server for the tests (run as its own process: Twisted's reactor).

``python -m tests.marketdata.fake_kite_ws LOG_FILE [SECONDS]`` prints its port, then for each
connection logs the query string and every text message (subscribe, mode) as JSON lines to LOG_FILE
and pushes binary tick messages (``kite_fakes.push_message``) for the subscribed tokens every 50 ms.
It stops by itself after SECONDS (default 30).
"""

from __future__ import annotations

import json
import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor, task

from tests.marketdata.kite_fakes import push_message


def main() -> None:
    log_path = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0

    def log(entry: dict) -> None:
        with open(log_path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    class TickerProtocol(WebSocketServerProtocol):
        def onConnect(self, request):  # noqa: N802 - autobahn's names
            log({"connect": {k: v[0] for k, v in request.params.items()}})
            self.tokens: set[int] = set()
            self.n = 0
            return None

        def onOpen(self):  # noqa: N802
            self.loop = task.LoopingCall(self.push)
            self.loop.start(0.05)

        def onMessage(self, payload, isBinary):  # noqa: N802, N803
            msg = json.loads(payload.decode())
            log({"message": msg})
            if msg.get("a") == "subscribe":
                self.tokens |= {int(t) for t in msg["v"]}

        def push(self):
            if self.tokens:
                self.sendMessage(push_message(self.tokens, self.n), isBinary=True)
                self.n += 1

        def onClose(self, wasClean, code, reason):  # noqa: N802, N803
            if getattr(self, "loop", None) is not None and self.loop.running:
                self.loop.stop()

    factory = WebSocketServerFactory("ws://127.0.0.1")
    factory.protocol = TickerProtocol
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    number = port.getHost().port
    factory.setSessionParameters(url=f"ws://127.0.0.1:{number}")  # the Host header's port is checked
    print(number, flush=True)
    reactor.callLater(seconds, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main()
