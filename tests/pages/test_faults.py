"""What a new user tripped over (issue 14, item 3), each with a test of the fixed rendering. The layout
faults (a column behind a scroll, numbers wrapping, pages wider than a phone) are measured in a real
browser in tests/browser/test_pages_browser.py; these read the HTML."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from html import unescape
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import AsyncClient, Client

from journal.models import Trade
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.pages import seed
from trading.core import calendar as market_calendar
from trading.management.commands import rundesk, runtrader
from trading.market.services import latest_chain

pytestmark = pytest.mark.django_db
SYNC_ITERATOR_WARNING = "must consume synchronous iterators"


@pytest.fixture
def desk():
    return seed.desk()


@pytest.fixture
def client_of(desk):
    client = Client()
    client.force_login(desk["user"])
    return client


def _html(client, path: str, **params) -> str:
    response = client.get(path, params)
    assert response.status_code == 200, path
    return unescape(response.content.decode())


def test_iv_reads_in_one_unit_everywhere(desk, client_of):
    """IV is stored as a fraction (0.131223); the trade page showed it raw and the chain page as 13.1%."""
    trade = desk["trades"][2]  # a win: IV 13.1223% -> 14.02%
    html = _html(client_of, f"/journal/{trade.pk}/")
    assert "0.131223" not in html and "0.1402" not in html
    row = re.search(r'data-measure="Option IV">.*?</tr>', html, re.S).group(0)
    assert re.findall(r'class="num">([^<]*)<', row) == ["13.1%", "14.0%"]
    row = re.search(r'data-measure="ATM IV">.*?</tr>', html, re.S).group(0)
    assert re.findall(r'class="num">([^<]*)<', row) == ["13.1%", "12.9%"]
    # the chain page: ATM IV and every strike's IV as percent with one decimal, "%" on the value
    chain = latest_chain("NIFTY")
    page = _html(client_of, "/market/chain/")
    assert f'data-k="atm_iv">{chain["atm_iv"] * 100:.1f}%<' in page
    first = chain["strikes"][0]
    assert f"{first['call']['iv'] * 100:.1f}%" in page and "IV %" not in page
    # the features of the signal: ATM IV in percent too
    html = _html(client_of, f"/journal/{desk['trades'][0].pk}/")
    assert '<dt>ATM IV</dt><dd class="num">13.1%</dd>' in html


def test_signal_features_are_grouped_and_formatted(desk, client_of):
    html = _html(client_of, f"/journal/{desk['trades'][0].pk}/")  # features from its signal
    section = re.search(r'id="features">.*?</section>', html, re.S).group(0)
    assert "e+07" not in section and "2.30944" not in section
    groups = re.findall(r"<h3>([^<]+)</h3>", section)
    assert groups == ["Spot and trend", "Volatility", "Open interest", "Session and expiry"]
    pairs = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>([^<]+)</dd>", section))
    assert pairs["Call OI"] == "2,30,94,400" and pairs["Put OI"] == "2,47,83,200"  # Indian grouping
    assert pairs["Close"] == "24,012.35" and pairs["PCR (OI)"] == "1.07" and pairs["RSI 14"] == "61.4"
    assert pairs["Bar"] == "09:30 IST (minute 15)" and pairs["Expiry day"] == "No"
    assert pairs["Bar start"] == "2026-04-06 09:29 IST"
    assert "from signal #" in section


def test_every_feature_column_has_a_group():
    from journal.detail_selectors import FEATURE_GROUPS
    from trading.core.features import COLUMNS

    grouped = [name for _, items in FEATURE_GROUPS for name, _, _ in items]
    assert sorted(grouped) == sorted([*COLUMNS, "time"]) and len(grouped) == len(set(grouped))


def test_audit_shows_tags_as_chips(desk, client_of):
    html = _html(client_of, f"/journal/{desk['tagged'].pk}/")
    history = re.search(r'id="audit-history">.*?</section>', html, re.S).group(0)
    assert ",eod,oi-wall," not in history
    row = re.search(r"<td>tags</td>.*?</tr>", history, re.S).group(0)
    assert re.findall(r'<span class="tag">([^<]+)</span>', row) == ["eod", "oi-wall"]
    assert '<span class="muted">none</span>' in row  # no tags before


def test_journal_pager_counts_pages(client_of):
    days = market_calendar.trading_days(date(2026, 3, 2), date(2026, 3, 31))
    for i in range(28):  # five a session: a trade's times fall in one
        day = days[i // 5]
        at = ist(day.year, day.month, day.day, 9, 30) + timedelta(hours=i % 5)
        record_trade(
            now=NOW, **trade_fields(trade_id=f"J-{i}", entry_time=at, exit_time=at + timedelta(minutes=10))
        )
    total = Trade.objects.filter(entry_mode="PAPER").count()  # 28 + the desk's 12
    pages = -(-total // 25)
    first = _html(client_of, "/journal/", mode="PAPER")
    assert f"Page 1 of {pages} · trades 1–25 of {total}" in first
    after = re.search(r'href="\?([^"]*after=[^"]*)" rel="next"', first).group(1)
    second = _html(client_of, "/journal/?" + after.replace("&amp;", "&"))
    assert f"Page 2 of {pages} · trades 26–{min(50, total)} of {total}" in second
    before = re.search(r'href="\?([^"]*before=[^"]*)" rel="prev"', second).group(1)
    back = _html(client_of, "/journal/?" + before.replace("&amp;", "&"))
    assert f"Page 1 of {pages} · trades 1–25 of {total}" in back
    empty = _html(client_of, "/journal/", strategy="Nobody")
    assert "Page 1 of 1 · no trades" in empty


def test_money_in_indian_grouping_everywhere(desk, client_of):
    paper = Trade.objects.filter(entry_mode="PAPER")
    total = sum(t.net_pnl for t in paper)
    sign = "-" if total < 0 else ""
    grouped = f"{abs(total):,.2f}"  # western grouping: fine below a lakh; the seed's total is below
    journal = _html(client_of, "/journal/", mode="PAPER")
    assert re.search(rf'id="total-net"[^>]*>{re.escape(sign)}₹{re.escape(grouped)}<', journal)
    strategies = _html(client_of, "/strategies/")
    assert "₹1,00,000.00" in strategies and "₹100000.00" not in strategies  # capital allocation
    assert "₹1,00,000<" in strategies  # the comparison table's allocation
    home = _html(client_of, "/")
    assert "₹5,00,000" in home  # capital of the sparkline
    analytics = _html(client_of, "/analytics/")
    assert "₹5,00,000" in analytics
    # no number of five digits or more without a separator next to a rupee sign, on any page
    for page in (journal, strategies, home, analytics, _html(client_of, f"/journal/{desk['trades'][0].pk}/")):
        assert not re.search(r"₹-?\d{4,}", page)


def test_strategies_page_compares_and_reads_clean(desk, client_of):
    from journal.models import StrategyPerformance

    StrategyPerformance.objects.filter(strategy_name=seed.STRATEGIES[1]).update(profit_factor=D("0"))
    html = _html(client_of, "/strategies/")
    table = re.search(r'id="strategy-comparison">.*?</table>', html, re.S).group(0)
    from trading.core.strategies import registry

    assert re.findall(r'data-strategy="([^"]+)"', table) == list(registry.names())
    assert "``" not in html and "<code>" in html  # rst literals become code
    assert "0.0000" not in html and "PF 0.0000" not in html
    row = re.search(rf'data-strategy="{seed.STRATEGIES[1]}">.*?</tr>', table, re.S).group(0)
    assert ">0.00<" in row  # the profit factor, two decimals like every ratio
    # folded cards: the page is a table and a list of names, not 14 open cards
    assert html.count('<details class="card strategy"') == len(registry.names())
    assert (
        '<details class="card strategy" id="' in html
        and " open>" not in html.split('id="strategy-comparison"')[1]
    )


def test_kill_button_is_a_danger_colour_and_kite_is_linked(desk, client_of):
    html = _html(client_of, "/control/")
    assert re.search(r'<button type="submit" id="kill-switch-button" class="danger">KILL', html)
    assert 'href="/kite/"' in html
    css = (Path(settings.BASE_DIR) / "static/css/desk.css").read_text()
    assert re.search(r"button\.danger[^{]*\{[^}]*background:var\(--loss\)", css)
    assert 'href="/kite/">Kite</a>' in _html(client_of, "/")  # in the staff's navigation


def test_readme_says_how_to_choose_the_port(monkeypatch):
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    assert "PORT=8080 make run" in readme and "HOST=0.0.0.0 PORT=8080 make run" in readme
    # and make run (rundesk) really reads them
    monkeypatch.setenv("PORT", "19733")
    monkeypatch.setenv("HOST", "0.0.0.0")
    options = rundesk.Command().create_parser("manage.py", "rundesk").parse_args([])
    assert (options.port, options.host) == (19733, "0.0.0.0")


def test_the_loop_says_when_it_resumes(monkeypatch):
    friday_close = datetime(2026, 5, 22, 10, 5, tzinfo=UTC)  # 15:35 IST, Friday
    monday_first_bar = market_calendar.session_open(market_calendar.next_trading_day(friday_close.date()))
    at = monday_first_bar + timedelta(minutes=1)
    text = runtrader.resume_notice(at, friday_close)
    assert "resumes Mon 2026-05-25 09:16 IST" in text and "(in 2d 17h 41m)" in text
    # the wait prints it once, then sleeps until stopped
    command = runtrader.Command(stdout=StringIO())
    command._stop = False
    naps = []

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return friday_close

    def nap(seconds):
        naps.append(seconds)
        command._stop = len(naps) >= 3

    monkeypatch.setattr(runtrader, "datetime", Clock)
    monkeypatch.setattr(runtrader.time, "sleep", nap)
    command._wait_for_wall_clock(at)
    assert command.stdout.getvalue().count("resumes Mon 2026-05-25 09:16 IST") == 1 and len(naps) == 3
    # the next bar a minute away: no notice
    command = runtrader.Command(stdout=StringIO())
    command._stop = False
    monkeypatch.setattr(runtrader.time, "sleep", lambda s: setattr(command, "_stop", True))
    command._wait_for_wall_clock(friday_close + timedelta(seconds=50))
    assert command.stdout.getvalue() == ""


def _asgi_get(path: str, **headers):
    """GET through Django's ASGI handler (what uvicorn runs), collecting the body and any warning."""

    async def fetch():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            response = await AsyncClient().get(path, headers=headers)
            body = (
                b"".join([c async for c in response.streaming_content])
                if response.streaming
                else response.content
            )
        # The handler's thread keeps its database connection (CONN_MAX_AGE): close it, or PostgreSQL
        # cannot drop the test database at the end.
        await sync_to_async(connections.close_all, thread_sensitive=True)()
        return response, body, [str(w.message) for w in caught]

    with ThreadPoolExecutor(1) as pool:  # a loop of its own: Playwright may hold this thread's loop
        return pool.submit(asyncio.run, fetch()).result()


@pytest.mark.django_db(transaction=True)
def test_downloads_stream_asynchronously_under_asgi():
    from rest_framework.authtoken.models import Token

    seed.trades(3)
    token = Token.objects.create(user=user_with_role("viewer", "asgi"))
    auth = {"Authorization": f"Token {token.key}"}
    chart_js = (Path(settings.BASE_DIR) / "static/vendor/chart.umd.min.js").read_bytes()
    for path, headers, check in (
        ("/static/vendor/chart.umd.min.js", {}, lambda body: body == chart_js),
        ("/api/trades/export.csv?mode=PAPER", auth, lambda body: body.count(b"\n") == 4),
        ("/api/trades/export.xlsx?mode=PAPER", auth, lambda body: body[:2] == b"PK"),
    ):
        response, body, caught = _asgi_get(path, **headers)
        assert response.status_code == 200 and response.is_async, path
        assert check(body), path
        assert not [w for w in caught if SYNC_ITERATOR_WARNING in w], (path, caught)


@pytest.mark.django_db(transaction=True)
def test_under_asgi_a_request_enters_a_worker_thread_once(monkeypatch):
    """The middleware chain runs in its synchronous mode under ASGI (``sync_below``, innermost): a
    request crosses from the event loop to a thread for the chain and for its sync view, not at each
    middleware's request and response (19 crossings for ``/healthz`` before, 7 now)."""
    from asgiref import sync
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user_with_role("viewer", "asgi"))
    crossings = []
    call = sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        crossings.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await call(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    for path in ("/healthz", "/api/trades/"):
        crossings.clear()
        response, _, _ = _asgi_get(path, Authorization=f"Token {token.key}")
        assert response.status_code == 200, path
        # The chain, the middleware's process_view (and template response) and the view, the request
        # signal, the response's close and the helper's own close of the connections: no middleware's
        # request or response.
        assert not [c for c in crossings if c.endswith(("process_request", "process_response"))], crossings
        assert len(crossings) <= 10, (path, crossings)


def _free_port() -> int:
    for port in range(19760, 19800):  # this helper's range
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 19760-19799")


def test_uvicorn_serves_static_files_without_the_warning(tmp_path):
    """The symptom as the user saw it: ``make run``'s uvicorn logging the warning for every file."""
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "PYTHONWARNINGS": "always",
    }
    env.pop("REDIS_URL", None)
    log = tmp_path / "uvicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tradingsite.asgi:application",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/static/vendor/chart.umd.min.js"
        deadline = time.monotonic() + 60
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"uvicorn did not answer: {log.read_text()}") from None
                time.sleep(0.3)
        for name in ("css/desk.css", "analytics/report.js"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/static/{name}", timeout=5).read()
        assert body == (Path(settings.BASE_DIR) / "static/vendor/chart.umd.min.js").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert SYNC_ITERATOR_WARNING not in log.read_text()


def test_a_terminated_desk_stops_its_web_server_and_trader(tmp_path):
    """``make run``'s process (``rundesk``) killed with SIGTERM takes its web server and its trader with
    it (they used to be left running, the web server holding the port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(VAR_DIR=str(tmp_path), DEBUG="1", DESK_ADMIN_PASSWORD=secrets.token_urlsafe(16))
    desk = subprocess.Popen(
        [sys.executable, "manage.py", "rundesk", "--port", str(port)], cwd=root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert desk.poll() is None and time.monotonic() < deadline, "the desk did not come up"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        children = subprocess.run(
            ["pgrep", "-P", str(desk.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 2  # the web server and the trader
        desk.send_signal(signal.SIGTERM)
        assert desk.wait(timeout=30) == 0
        for pid in children:
            deadline = time.monotonic() + 15
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not Path(f"/proc/{pid}").exists(), f"child {pid} still runs"
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0  # nobody listens on the port any more
    finally:
        if desk.poll() is None:
            desk.kill()
