"""The Kite broker with the official ``kiteconnect`` client against the local fake Kite server
(tests/kite_server.py), the postback endpoint and the daily login flow. Nothing contacts Zerodha."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone
from kiteconnect import KiteConnect

from tests.brokers.market import EXPIRY, STRIKE, SYMBOL, make_bar
from tests.helpers import ist, user_with_role
from tests.kite_server import FakeKite
from trading.audit import ControlAudit
from trading.brokers.config import BrokerConfig, KiteConfig
from trading.brokers.kite.broker import KiteBroker
from trading.brokers.kite.client import KiteLimiters
from trading.brokers.kite.status import kite_time, map_status, rejection_reason
from trading.brokers.ratelimit import RateLimiter
from trading.brokers.registry import build_broker
from trading.core import calendar as market_calendar
from trading.core.order_types import BrokerNotConfigured, OrderNotFound, OrderRequest, child_order_id
from trading.execution import broker_updates, kite_session
from trading.execution.models import Order, OrderEvent, TradingState

KEY = f"NFO:{SYMBOL}"


def today_ist() -> date:
    return market_calendar.ist_date(timezone.now())


def fast() -> RateLimiter:
    return RateLimiter(10_000, 1.0, margin=0)


def order_request(
    client_order_id="E1", *, side="BUY", quantity=65, order_type="MARKET", price=None
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        index="NIFTY",
        tradingsymbol=SYMBOL,
        exchange="NFO",
        option_type="CE",
        strike=D(STRIKE),
        expiry=EXPIRY,
        transaction_type=side,
        quantity=quantity,
        order_type=order_type,
        price=price,
    )


@pytest.fixture
def fake():
    with FakeKite() as server:
        server.set_quote(KEY, bid=100.0, ask=100.5, ltp=100.2)
        yield server


def make_broker(fake: FakeKite, **overrides) -> KiteBroker:
    kite = KiteConnect(
        api_key=fake.api_key,
        access_token=overrides.pop("access_token", fake.access_token),
        root=fake.url,
        timeout=overrides.pop("timeout", 5),
    )
    limiters = KiteLimiters(orders=overrides.pop("order_limiter", fast()), requests=fast(), quotes=fast())
    options = dict(
        algo_id="ALGO123",
        max_retries=3,
        wait_seconds=0.1,
        poll_interval=0.01,
        backoff_seconds=0.01,
        lookup_delay=0.2,
    )
    options.update(overrides)
    return KiteBroker(KiteConfig(**options), kite=kite, limiters=limiters)


# --- placing and filling ------------------------------------------------------------------------------


def test_market_intent_goes_as_a_marketable_limit_and_fills(fake):
    broker = make_broker(fake)
    order = broker.place_order(order_request("E1"), make_bar(bid=100, ask=100.5, ltp=100.2))
    [(_, sent)] = fake.placements
    # best ask 100.50 + 2 ticks, keyword arguments as Kite documents them, with the algo id and tag
    assert sent == {
        "variety": "regular",
        "exchange": "NFO",
        "tradingsymbol": SYMBOL,
        "transaction_type": "BUY",
        "quantity": "65",
        "product": "MIS",
        "order_type": "LIMIT",
        "validity": "DAY",
        "tag": "E1",
        "price": "100.6",
        "algo_id": "ALGO123",
    }
    assert (order.status, order.filled_quantity, order.average_price) == ("FILLED", 65, D("100.5"))
    assert order.broker_order_id == fake.orders_with_tag("E1")[0]["order_id"]
    assert [(q, p) for q, p, _ in order.fills] == [(65, D("100.5"))]
    assert order.fills[0][2].tzinfo is not None
    [pos] = broker.positions()
    assert (pos["tradingsymbol"], pos["quantity"], pos["average_price"]) == (SYMBOL, 65, D("100.50"))


def test_sell_prices_under_the_bid(fake):
    broker = make_broker(fake)
    order = broker.place_order(order_request("S1", side="SELL"), make_bar(bid=100, ask=100.5))
    assert fake.placements[0][1]["price"] == "99.9"
    assert order.status == "FILLED"


def test_without_a_bar_the_price_comes_from_kite_quote(fake):
    broker = make_broker(fake)
    order = broker.place_order(order_request("Q1"))
    assert fake.requests_to("GET", "/quote")
    assert fake.placements[0][1]["price"] == "100.6"
    assert order.status == "FILLED"


def test_placing_the_same_client_order_id_twice_makes_one_order(fake):
    broker = make_broker(fake)
    first = broker.place_order(order_request("E2"), make_bar(bid=100, ask=100.5))
    again = make_broker(fake).place_order(
        order_request("E2"), make_bar(bid=100, ask=100.5)
    )  # e.g. after a restart
    assert len(fake.orders_with_tag("E2")) == 1 and len(fake.placements) == 1
    assert again.broker_order_id == first.broker_order_id and again.status == "FILLED"


def test_kite_rejection_comes_back_with_a_reason(fake):
    fake.fill_mode = "reject"
    order = make_broker(fake).place_order(order_request("R1"), make_bar(bid=100, ask=100.5))
    assert (order.status, order.reason) == ("REJECTED", "insufficient_margin")
    assert "Margin" in order.message and order.broker_order_id


def test_synchronous_input_error_is_a_rejection_without_an_order(fake):
    fake.lot_size = 75  # the server disagrees about the lot: it answers 400 InputException
    order = make_broker(fake).place_order(order_request("R2"), make_bar(bid=100, ask=100.5))
    assert (order.status, order.reason, order.broker_order_id) == ("REJECTED", "invalid_quantity", "")
    assert fake.orders == {}


def test_invalid_price_is_refused_before_it_is_sent(fake):
    broker = make_broker(fake)
    bar = make_bar(bid=99.5, ask=100.5, ltp=100)
    tick = broker.place_order(order_request("P1", order_type="LIMIT", price=D("100.03")), bar)
    band = broker.place_order(order_request("P2", order_type="LIMIT", price=D("140.05")), bar)
    low = broker.place_order(order_request("P3", side="SELL", order_type="LIMIT", price=D("59.95")), bar)
    assert [(o.status, o.reason) for o in (tick, band, low)] == [("REJECTED", "invalid_price")] * 3
    assert band.message.startswith("price_band: 140.05 outside 60.00-140.00")
    assert fake.requests_to("POST", "/orders") == []
    # Placing it again refuses it again, still without sending
    assert (
        broker.place_order(order_request("P1", order_type="LIMIT", price=D("100.03")), bar).reason
        == "invalid_price"
    )
    assert fake.requests_to("POST", "/orders") == []


def test_wrong_quantity_is_refused_before_it_is_sent(fake):
    order = make_broker(fake).place_order(order_request("P4", quantity=100), make_bar(bid=100, ask=100.5))
    assert (order.status, order.reason) == ("REJECTED", "invalid_quantity")
    assert fake.requests == []


# --- retries ------------------------------------------------------------------------------------------


def test_retries_exhausted_cancel_and_report_max_retries_exceeded(fake):
    fake.fill_mode = "never"
    broker = make_broker(fake, max_retries=3)
    order = broker.place_order(order_request("C1"), make_bar(bid=100, ask=100.5, ltp=100.2))
    assert (order.status, order.reason, order.filled_quantity) == ("CANCELLED", "max_retries_exceeded", 0)
    order_id = order.broker_order_id
    assert len(fake.requests_to("POST", "/orders")) == 1
    assert len(fake.requests_to("PUT", f"/orders/regular/{order_id}")) == 3
    assert len(fake.requests_to("DELETE", f"/orders/regular/{order_id}")) == 1
    prices = [h["price"] for h in fake.orders[order_id] if h["status"] == "MODIFY VALIDATION PENDING"]
    assert prices == [100.65, 100.7, 100.75]  # one tick further each time (the quote did not move)
    assert order.modifications == 3
    assert fake.latest(order_id)["status"] == "CANCELLED"


def test_repricing_follows_the_quote_and_fills(fake):
    fake.fill_mode = "quote"
    broker = make_broker(fake, max_retries=5)
    bar = make_bar(bid=100, ask=100.5, ltp=100.2)
    fake.set_quote(KEY, bid=101.0, ask=101.5, ltp=101.2)  # the market moved away after the bar
    order = broker.place_order(order_request("C2"), bar)
    # 100.60 did not cross 101.50; the re-price goes to 101.50 + 2 ticks = 101.60 and fills at 101.50
    assert (order.status, order.average_price, order.modifications) == ("FILLED", D("101.5"), 1)
    assert fake.latest(order.broker_order_id)["price"] == 101.6


def test_partial_fill_then_retries_exhausted(fake):
    fake.fill_mode, fake.partial_quantity = "partial", 65
    broker = make_broker(fake, max_retries=2)
    order = broker.place_order(order_request("C3", quantity=130), make_bar(bid=100, ask=100.5))
    assert (order.status, order.reason, order.filled_quantity) == ("CANCELLED", "max_retries_exceeded", 65)
    assert sum(q for q, _, _ in order.fills) == 65


def test_fill_after_modifications_stops_the_chase(fake):
    fake.fill_mode, fake.fill_after_modifications = "on_modify", 2
    order = make_broker(fake, max_retries=5).place_order(order_request("C4"), make_bar(bid=100, ask=100.5))
    assert (order.status, order.modifications) == ("FILLED", 2)
    assert fake.requests_to("DELETE", "/orders") == []


def test_at_most_25_modifications():
    with pytest.raises(ValueError, match="25"):
        KiteBroker(KiteConfig(max_retries=26), kite=KiteConnect(api_key="k"))


def test_market_orders_carry_market_protection(fake):
    order = make_broker(fake, market_orders=True).place_order(
        order_request("M1"), make_bar(bid=100, ask=100.5)
    )
    sent = fake.placements[0][1]
    assert (sent["order_type"], sent["market_protection"], "price" in sent) == ("MARKET", "-1", False)
    assert order.status == "FILLED"


# --- rate limit, 429, timeouts --------------------------------------------------------------------------


def test_no_more_than_10_orders_per_second_reach_the_server(fake):
    shared = RateLimiter(10, 1.0)  # what ratelimit.ORDER_LIMITER is, shared by two brokers in two threads
    results = []

    def trader(prefix: str) -> None:
        broker = make_broker(fake, order_limiter=shared, wait_seconds=0.05)
        for i in range(12):
            results.append(broker.place_order(order_request(f"{prefix}{i}"), make_bar(bid=100, ask=100.5)))

    threads = [threading.Thread(target=trader, args=(p,)) for p in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    times = sorted(fake.order_request_times)
    assert len(times) == 24 and all(o.status == "FILLED" for o in results)
    # measured at the server: any 11 consecutive orders span at least one second
    assert min(times[i + 10] - times[i] for i in range(len(times) - 10)) >= 1.0


def test_http_429_backs_off_and_retries_without_duplicates(fake):
    from trading import metrics

    retries = metrics.BROKER_RETRIES.labels("kite", "place_order")
    before = retries._value.get()
    fake.force_429 = 2
    order = make_broker(fake).place_order(order_request("T1"), make_bar(bid=100, ask=100.5))
    assert order.status == "FILLED"
    assert len(fake.requests_to("POST", "/orders")) == 3
    assert len(fake.orders_with_tag("T1")) == 1
    assert retries._value.get() == before + 2  # trading_broker_api_retries_total: two refused, retried


def test_http_429_until_the_end_is_rate_limited(fake):
    fake.force_429 = 100
    order = make_broker(fake, max_submit_attempts=3).place_order(
        order_request("T2"), make_bar(bid=100, ask=100.5)
    )
    assert (order.status, order.reason) == ("REJECTED", "rate_limited")
    assert fake.orders == {}


def test_timeout_then_lookup_by_tag_no_duplicate_order(fake):
    fake.place_response_delay = 1.0  # Kite takes the order but the answer comes after the client gave up
    broker = make_broker(fake, timeout=0.3)
    order = broker.place_order(order_request("T3"), make_bar(bid=100, ask=100.5))
    assert len(fake.requests_to("POST", "/orders")) == 1  # the tag was found: no second POST
    assert len(fake.orders_with_tag("T3")) == 1
    assert order.status == "FILLED" and order.broker_order_id == fake.orders_with_tag("T3")[0]["order_id"]
    # The lookup came between the timeout and any resubmission
    posts = [i for i, (m, p) in enumerate(fake.requests) if m == "POST" and p.startswith("/orders")]
    lookups = [i for i, (m, p) in enumerate(fake.requests) if m == "GET" and p == "/orders"]
    assert lookups and lookups[0] < posts[0] < lookups[-1]


def test_freeze_quantity_split_into_tagged_children(fake):
    order = make_broker(fake).place_order(
        order_request("BIG", quantity=60 * 65), make_bar(bid=100, ask=100.5)
    )
    tags = [child_order_id("BIG", i) for i in range(3)]
    assert [p["tag"] for _, p in fake.placements] == tags
    assert [int(p["quantity"]) for _, p in fake.placements] == [1755, 1755, 390]
    assert (order.status, order.filled_quantity, len(order.children)) == ("FILLED", 3900, 3)


# --- polling, cancel, errors ----------------------------------------------------------------------------


def test_resting_limit_updated_by_polling(fake):
    fake.fill_mode = "never"
    broker = make_broker(fake, chase_limit_orders=False)
    order = broker.place_order(
        order_request("L1", order_type="LIMIT", price=D("99.00")), make_bar(bid=100, ask=100.5)
    )
    assert order.status == "OPEN" and fake.requests_to("PUT", "/orders") == []
    assert broker.poll() == []
    fake.fill(order.broker_order_id, 65, 99.0)
    [changed] = broker.poll()
    assert (changed.client_order_id, changed.status, changed.average_price) == ("L1", "FILLED", D("99"))
    assert fake.requests_to("GET", f"/orders/{order.broker_order_id}")  # order_history
    assert broker.order_status("L1").fills[0][:2] == (65, D("99.0"))


def test_order_status_and_cancel_by_client_order_id(fake):
    fake.fill_mode = "never"
    placed = make_broker(fake, chase_limit_orders=False).place_order(
        order_request("L2", order_type="LIMIT", price=D("99.00")), make_bar(bid=100, ask=100.5)
    )
    other = make_broker(fake)  # a fresh process: finds it by tag
    assert other.order_status("L2").broker_order_id == placed.broker_order_id
    cancelled = other.cancel_order("L2")
    assert (cancelled.status, cancelled.reason) == ("CANCELLED", "cancelled")
    assert other.order_status("NOPE") is None
    with pytest.raises(OrderNotFound):
        other.cancel_order("NOPE")


def test_bad_access_token_is_not_configured(fake):
    with pytest.raises(BrokerNotConfigured):
        make_broker(fake, access_token="wrong").place_order(order_request("X1"), make_bar(bid=100, ask=100.5))


def test_status_mapping():
    assert map_status("PUT ORDER REQ RECEIVED") == "SUBMITTED"
    assert map_status("VALIDATION PENDING") == "SUBMITTED"
    assert map_status("OPEN PENDING") == "SUBMITTED"
    assert map_status("OPEN") == "OPEN"
    assert map_status("OPEN", filled_quantity=65) == "PARTIALLY_FILLED"
    assert map_status("TRIGGER PENDING") == "OPEN"
    assert map_status("MODIFY VALIDATION PENDING") == "OPEN"
    assert map_status("MODIFY PENDING") == "OPEN"
    assert map_status("CANCEL PENDING", filled_quantity=1) == "PARTIALLY_FILLED"
    assert map_status("COMPLETE", filled_quantity=65) == "FILLED"
    assert map_status("CANCELLED", filled_quantity=65) == "CANCELLED"
    assert map_status("REJECTED") == "REJECTED"
    assert map_status("SOMETHING NEW") == "SUBMITTED"
    assert rejection_reason("Tick size for this script is 0.05") == "invalid_price"
    assert rejection_reason("Your order price is higher than the upper circuit limit") == "price_band"
    assert rejection_reason("whatever else") == "broker_rejected"


# --- Django side: settings-configured broker, postback, login --------------------------------------------


def kite_settings(settings, fake: FakeKite) -> None:
    settings.KITE_API_KEY = fake.api_key
    settings.KITE_API_SECRET = fake.api_secret
    settings.KITE_ROOT_URL = fake.url
    settings.KITE_LOGIN_URL = "https://kite.example/connect/login"
    settings.KITE_ALGO_ID = "ALGO9"
    settings.KITE_STATIC_IP = "203.0.113.7"


@pytest.mark.django_db
def test_broker_from_settings_needs_todays_token(settings, fake):
    kite_settings(settings, fake)
    config = BrokerConfig.from_settings(settings)
    with pytest.raises(BrokerNotConfigured, match="access token"):
        build_broker("kite", config, access_token=kite_session.kite_access_token)
    TradingState.objects.create(
        index="NIFTY", kite_access_token=fake.access_token, kite_token_date=today_ist()
    )
    quick = replace(config, kite=replace(config.kite, wait_seconds=0.05, poll_interval=0.01))
    limiters = KiteLimiters(orders=fast(), requests=fast())
    broker = build_broker("kite", quick, access_token=kite_session.kite_access_token, limiters=limiters)
    assert broker.place_order(order_request("D1"), make_bar(bid=100, ask=100.5)).status == "FILLED"
    assert fake.placements[0][1]["algo_id"] == "ALGO9"


@pytest.mark.django_db
def test_token_valid_until_the_next_morning():
    TradingState.objects.create(index="NIFTY", kite_access_token="tok", kite_token_date=date(2026, 5, 5))
    assert kite_session.kite_access_token(now=ist(2026, 5, 5, 8, 0)) == "tok"
    assert kite_session.kite_access_token(now=ist(2026, 5, 6, 5, 59)) == "tok"
    assert kite_session.kite_access_token(now=ist(2026, 5, 6, 6, 0)) == ""


def stored_order(client_order_id: str, *, status="NEW", parent=None, quantity=65) -> Order:
    return Order.objects.create(
        client_order_id=client_order_id,
        parent=parent,
        broker="kite",
        mode="LIVE",
        strategy_name="PCRStrategy",
        tradingsymbol=SYMBOL,
        instrument_type="CALL",
        strike_price=D(STRIKE),
        expiry_date=EXPIRY,
        transaction_type="BUY",
        order_type="LIMIT",
        quantity=quantity,
        status=status,
        created_at=ist(2026, 5, 5, 10, 0),
    )


@pytest.mark.django_db
def test_postback_with_a_good_checksum_updates_the_order(client, settings, fake):
    kite_settings(settings, fake)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    TradingState.objects.create(
        index="NIFTY", kite_access_token=fake.access_token, kite_token_date=today_ist()
    )
    fake.fill_mode = "never"
    order = stored_order("PB1")
    placed = make_broker(fake, chase_limit_orders=False).place_order(
        order_request("PB1", order_type="LIMIT", price=D("99.00")), make_bar(bid=100, ask=100.5)
    )
    fake.fill(placed.broker_order_id, 65, 99.0)
    payload = fake.postback_payload(placed.broker_order_id)
    # the broker id is not stored yet: the postback reconciles the order by its tag (Kite's record)
    resp = client.post(reverse("kite-postback"), payload, content_type="application/json")
    assert resp.status_code == 200 and resp.json() == {"status": "unknown_order"}
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_price) == ("FILLED", 65, D("99.00"))
    assert order.broker_order_id == placed.broker_order_id
    assert list(order.events.values_list("from_status", "to_status")) == [
        ("NEW", "SUBMITTED"),
        ("SUBMITTED", "FILLED"),
    ]
    # a late, out-of-order OPEN postback changes nothing
    stale = dict(payload, status="OPEN", filled_quantity=0)
    resp = client.post(reverse("kite-postback"), stale, content_type="application/json")
    assert resp.status_code == 200 and resp.json() == {"status": "unchanged"}
    order.refresh_from_db()
    assert order.status == "FILLED" and order.events.count() == 2


@pytest.mark.django_db
def test_postback_with_a_bad_checksum_is_refused_and_changes_nothing(client, settings, fake):
    kite_settings(settings, fake)
    order = stored_order("PB2")
    make_broker(fake).place_order(order_request("PB2"), make_bar(bid=100, ask=100.5))
    order_id = fake.orders_with_tag("PB2")[0]["order_id"]
    forged = fake.postback_payload(order_id, api_secret="not-the-secret")
    resp = client.post(reverse("kite-postback"), forged, content_type="application/json")
    assert resp.status_code == 403
    tampered = dict(fake.postback_payload(order_id), order_timestamp="2026-05-05 09:15:00")
    assert client.post(reverse("kite-postback"), tampered, content_type="application/json").status_code == 403
    assert (
        client.post(reverse("kite-postback"), "not json", content_type="application/json").status_code == 400
    )
    assert client.get(reverse("kite-postback")).status_code == 405
    order.refresh_from_db()
    assert (order.status, order.broker_order_id) == ("NEW", "") and not OrderEvent.objects.exists()


@pytest.mark.django_db
def test_postback_for_a_child_moves_its_split_parent(client, settings, fake):
    kite_settings(settings, fake)
    parent = stored_order("PAR", status="OPEN", quantity=130)
    a = stored_order("KIDA", status="FILLED", parent=parent)
    Order.objects.filter(pk=a.pk).update(filled_quantity=65, average_price=D("100"))
    stored_order("KIDB", status="OPEN", parent=parent)
    broker_updates.apply_broker_update(
        client_order_id="KIDB",
        status="FILLED",
        filled_quantity=65,
        average_price=D("101"),
        reason="kite COMPLETE",
    )
    parent.refresh_from_db()
    assert (parent.status, parent.filled_quantity, parent.average_price) == ("FILLED", 130, D("100.50"))


@pytest.fixture
def staff(django_user_model):
    return user_with_role("operator", "desk", password="pw")


@pytest.mark.django_db
def test_login_flow_stores_the_access_token_and_audits_it(client, settings, fake, staff):
    kite_settings(settings, fake)
    client.force_login(staff)
    page = client.get(reverse("kite-settings"))
    assert page.status_code == 200
    assert b"ALGO9" in page.content and b"203.0.113.7" in page.content
    assert b"/kite/callback/" in page.content and b"/kite/postback/" in page.content
    resp = client.get(reverse("kite-login"))
    assert resp.status_code == 302
    url = urlparse(resp["Location"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://kite.example/connect/login"
    assert query["api_key"] == [fake.api_key] and query["v"] == ["3"]
    state = parse_qs(query["redirect_params"][0])["state"][0]
    # Kite redirects back with the request token (and our redirect params)
    resp = client.get(
        reverse("kite-callback"),
        {"request_token": fake.request_token, "action": "login", "status": "success", "state": state},
    )
    assert resp.status_code == 302 and resp["Location"] == reverse("kite-settings")
    ts = TradingState.objects.get(index=settings.TRADING_INDEX)
    assert ts.kite_access_token == fake.access_token and ts.kite_token_date == today_ist()
    audit = ControlAudit.objects.get(action="kite_login")
    assert audit.user == staff and "AB1234" in audit.detail and fake.access_token not in audit.detail
    assert fake.requests_to("POST", "/session/token")
    assert kite_session.kite_access_token() == fake.access_token


@pytest.mark.django_db
def test_login_callback_refuses_a_foreign_state_and_a_bad_token(client, settings, fake, staff):
    kite_settings(settings, fake)
    client.force_login(staff)
    resp = client.get(
        reverse("kite-callback"), {"request_token": fake.request_token, "status": "success", "state": "x"}
    )
    assert resp.status_code == 302 and not fake.requests_to("POST", "/session/token")
    client.get(reverse("kite-login"))
    state = client.session["kite_login_state"]
    client.get(reverse("kite-callback"), {"request_token": "stolen", "status": "success", "state": state})
    assert not TradingState.objects.exclude(kite_access_token="").exists()
    assert ControlAudit.objects.filter(action="kite_login_failed").count() == 1


@pytest.mark.django_db
def test_kite_pages_are_staff_only(client, django_user_model):
    assert client.get(reverse("kite-settings")).status_code == 302  # to the login page
    client.force_login(user_with_role("trader", "trader"))
    assert client.get(reverse("kite-settings")).status_code == 403
    assert client.get(reverse("kite-login")).status_code == 403


def test_kite_time_is_ist():
    assert kite_time("2026-05-05 10:00:00") == ist(2026, 5, 5, 10, 0)
    assert kite_time(datetime(2026, 5, 5, 10, 0)) == ist(2026, 5, 5, 10, 0)
    assert kite_time(None) is None
    assert ist(2026, 5, 5, 10, 0) - kite_time("2026-05-05 09:59:00") == timedelta(minutes=1)


def test_fake_server_speaks_the_api_the_client_expects(fake):
    """The fake answers the official client's other calls in Kite's documented shapes."""
    from kiteconnect import exceptions as kex

    fake.instruments = [
        {
            "instrument_token": 12345678,
            "exchange_token": 48225,
            "tradingsymbol": SYMBOL,
            "name": "NIFTY",
            "last_price": 0,
            "expiry": EXPIRY.isoformat(),
            "strike": 24000,
            "tick_size": 0.05,
            "lot_size": 65,
            "instrument_type": "CE",
            "segment": "NFO-OPT",
            "exchange": "NFO",
        }
    ]
    kite = KiteConnect(api_key=fake.api_key, access_token=fake.access_token, root=fake.url)
    [inst] = kite.instruments("NFO")
    assert (inst["tradingsymbol"], inst["expiry"], inst["lot_size"], inst["tick_size"]) == (
        SYMBOL,
        EXPIRY,
        65,
        0.05,
    )
    assert kite.ltp([KEY]) == {KEY: {"instrument_token": 12345678, "last_price": 100.2}}
    assert kite.quote([KEY])[KEY]["depth"]["sell"][0]["price"] == 100.5
    order_id = kite.place_order(
        variety="regular",
        exchange="NFO",
        tradingsymbol=SYMBOL,
        transaction_type="BUY",
        quantity=65,
        product="MIS",
        order_type="LIMIT",
        price=100.6,
        tag="API1",
    )
    assert [t["order_id"] for t in kite.trades()] == [order_id]
    assert kite.order_history(order_id=order_id)[-1]["status"] == "COMPLETE"
    with pytest.raises(kex.InputException) as err:
        kite.cancel_order(variety="regular", order_id=order_id)
    assert err.value.code == 400
    fake.force_429 = 1
    with pytest.raises(kex.NetworkException) as err:
        kite.place_order(
            variety="regular",
            exchange="NFO",
            tradingsymbol=SYMBOL,
            transaction_type="BUY",
            quantity=65,
            product="MIS",
            order_type="LIMIT",
            price=100.6,
            tag="API2",
        )
    assert err.value.code == 429
    with pytest.raises(kex.TokenException):
        KiteConnect(api_key=fake.api_key, access_token="nope", root=fake.url).orders()


def test_the_basket_margin_of_a_combo_with_its_hedge_benefit(fake):
    fake.basket_initial, fake.basket_final = 210000.0, 42150.5
    broker = make_broker(fake)
    wing = replace(order_request("E1", side="BUY", quantity=65), tradingsymbol="NIFTY25N1124800CE")
    short = order_request("E2", side="SELL", quantity=65)
    assert broker.basket_margin([wing, short]) == D("42150.5")
    [(orders, query)] = fake.baskets
    assert [(o["tradingsymbol"], o["transaction_type"], o["quantity"]) for o in orders] == [
        ("NIFTY25N1124800CE", "BUY", 65),
        (SYMBOL, "SELL", 65),
    ]
    assert orders[0]["exchange"] == "NFO" and orders[0]["product"] == "MIS"
    assert query == {"consider_positions": "True", "mode": "compact"}
