"""Kite postbacks attacked: the checksum covers only ``order_id`` + ``order_timestamp``, so every other
field of a validly signed postback may have been changed. The order is found by the broker's
``order_id``, its tag must match, the fill comes from Kite's own ``order_history``/``trades`` (never the
payload), a replay changes nothing, bad numbers are a 400, and an order id not yet stored is a 200 that
changes nothing and reconciles by tag. Against the local Kite server (tests/kite_server.py)."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.brokers.market import EXPIRY, STRIKE, SYMBOL, make_bar
from tests.brokers.test_kite import KEY, kite_settings, make_broker, order_request
from tests.helpers import ist
from tests.kite_server import FakeKite
from trading import tasks
from trading.core import calendar as market_calendar
from trading.execution import broker_updates
from trading.execution.models import Order, OrderEvent, TradingState

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakeKite() as server:
        server.set_quote(KEY, bid=100.0, ask=100.5, ltp=100.2)
        yield server


@pytest.fixture
def kite(settings, fake):
    """The desk's Kite settings on the fake server and today's access token stored; tasks run
    in-process (the reconcile by tag a postback triggers)."""
    kite_settings(settings, fake)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    TradingState.objects.create(
        index="NIFTY",
        kite_access_token=fake.access_token,
        kite_token_date=market_calendar.ist_date(timezone.now()),
    )
    fake.fill_mode = "never"
    return fake


def stored(
    client_order_id: str, broker_order_id: str = "", status: str = "OPEN", quantity: int = 65
) -> Order:
    """A LIVE Kite order as the desk stores it once Kite answered (write-ahead, then synced)."""
    return Order.objects.create(
        client_order_id=client_order_id,
        broker_order_id=broker_order_id,
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
        price=D("99.00"),
        status=status,
        created_at=ist(2026, 5, 5, 10, 0),
    )


def place(fake, tag: str, quantity: int = 65) -> str:
    """A resting LIMIT at the fake Kite tagged ``tag``; its Kite order id."""
    placed = make_broker(fake, chase_limit_orders=False).place_order(
        order_request(tag, order_type="LIMIT", price=D("99.00"), quantity=quantity),
        make_bar(bid=100, ask=100.5),
    )
    return placed.broker_order_id


def post(client, payload):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(reverse("kite-postback"), body, content_type="application/json")


def snapshot(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        order.broker_order_id,
        order.filled_quantity,
        order.average_price,
        order.updated_at,
        order.events.count(),
    )


def test_a_signed_postback_for_order_a_carrying_bs_tag_does_not_touch_b(client, kite):
    """The issue's attack: A's valid postback with B's tag marked B FILLED 130 @ 0.05 and overwrote B's
    broker id; a second one cancelled B."""
    a_id, b_id = place(kite, "ORDERA"), place(kite, "ORDERB")
    a, b = stored("ORDERA", a_id), stored("ORDERB", b_id)
    kite.fill(a_id, 65, 99.0)
    before_a, before_b = snapshot(a), snapshot(b)
    forged = dict(kite.postback_payload(a_id), tag="ORDERB", filled_quantity=130, average_price=0.05)
    response = post(client, forged)
    cancel = dict(kite.postback_payload(a_id), tag="ORDERB", status="CANCELLED", filled_quantity=0)
    second = post(client, cancel)
    assert snapshot(b) == before_b  # B: still OPEN, its own broker id, no fill, no event
    assert not OrderEvent.objects.filter(order=b).exists()
    assert snapshot(a) == before_a  # A is not updated by a postback carrying another order's tag
    assert response.status_code == second.status_code == 409 and "tag" in response.json()["message"]


def test_the_fill_comes_from_kite_never_from_the_payload(client, kite):
    a_id = place(kite, "ORDERA")
    a = stored("ORDERA", a_id)
    kite.fill(a_id, 65, 99.0)
    lying = dict(kite.postback_payload(a_id), filled_quantity=130, average_price=0.05, status="COMPLETE")
    response = post(client, lying)
    assert response.status_code == 200 and response.json()["status"] == "applied"
    a.refresh_from_db()
    assert (a.status, a.filled_quantity, a.average_price) == ("FILLED", 65, D("99.00"))
    assert kite.requests_to("GET", f"/orders/{a_id}")  # the history (and trades) were asked of Kite
    # a signed postback saying CANCELLED for an order Kite has filled changes nothing either
    assert post(client, dict(lying, status="CANCELLED")).json()["status"] == "unchanged"
    a.refresh_from_db()
    assert a.status == "FILLED"


def test_a_partial_fill_then_the_rest(client, kite):
    a_id = place(kite, "ORDERA", quantity=130)
    a = stored("ORDERA", a_id, quantity=130)
    kite.fill(a_id, 65, 99.0)
    assert post(client, kite.postback_payload(a_id)).json()["status"] == "applied"
    a.refresh_from_db()
    assert (a.status, a.filled_quantity, a.average_price) == ("PARTIALLY_FILLED", 65, D("99.00"))
    kite.fill(a_id, 65, 98.0)
    assert post(client, kite.postback_payload(a_id)).json()["status"] == "applied"
    a.refresh_from_db()
    # (65 x 99 + 65 x 98) / 130 = 98.50
    assert (a.status, a.filled_quantity, a.average_price) == ("FILLED", 130, D("98.50"))


def test_a_replayed_postback_is_a_no_op(client, kite):
    a_id = place(kite, "ORDERA")
    a = stored("ORDERA", a_id)
    kite.fill(a_id, 65, 99.0)
    payload = kite.postback_payload(a_id)
    assert post(client, payload).json()["status"] == "applied"
    after_first = snapshot(a)
    for _ in range(3):
        response = post(client, payload)
        assert response.status_code == 200 and response.json()["status"] == "unchanged"
    assert snapshot(a) == after_first


BAD_FIELDS = [
    ("filled_quantity", "abc"),
    ("filled_quantity", -65),
    ("filled_quantity", 6.5),
    ("filled_quantity", "1e999"),
    ("filled_quantity", [65]),
    ("quantity", {"n": 65}),
    ("pending_quantity", 10**30),
    ("average_price", "NaN"),
    ("average_price", "Infinity"),
    ("average_price", -1),
    ("average_price", "1e999"),
    ("price", "12,5"),
    ("order_id", ["1"]),
    ("order_id", "26050500\x000001"),
    ("tag", "ORDER\x00A"),
    ("tag", "ORDER\u202eA"),
    ("tag", {"t": 1}),
    ("status", 5),
    ("order_timestamp", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_bad_numbers_and_fields_are_a_400_naming_the_field(client, kite, field, value):
    a_id = place(kite, "ORDERA")
    a = stored("ORDERA", a_id)
    kite.fill(a_id, 65, 99.0)
    before = snapshot(a)
    response = post(client, dict(kite.postback_payload(a_id), **{field: value}))
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]
    assert snapshot(a) == before


@pytest.mark.parametrize(
    "body", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000, "\x00", "[]", '"x"', "1e999"]
)
def test_bodies_that_are_not_a_postback_are_a_400(client, kite, body):
    assert post(client, body).status_code == 400


def test_an_order_id_not_yet_stored_answers_200_changes_nothing_and_reconciles_by_tag(client, kite):
    """The placement timed out: Kite has the order, the desk knows only its tag. The postback's numbers
    are not taken; the reconcile asks Kite for the order tagged so and stores Kite's answer."""
    c_id = place(kite, "ORDERC")
    c = stored("ORDERC", "", status="SUBMITTED")
    kite.fill(c_id, 65, 99.0)
    lying = dict(kite.postback_payload(c_id), filled_quantity=130, average_price=0.05)
    response = post(client, lying)
    assert response.status_code == 200 and response.json()["status"] == "unknown_order"
    assert kite.requests_to("GET", "/orders")  # the reconcile by tag read Kite's order book
    c.refresh_from_db()
    assert (c.status, c.broker_order_id, c.filled_quantity, c.average_price) == (
        "FILLED",
        c_id,
        65,
        D("99.00"),
    )


def test_a_postback_for_an_order_that_is_not_ours_changes_nothing(client, kite):
    x_id = place(kite, "NOTOURS")
    a = stored("ORDERA", place(kite, "ORDERA"))
    before = snapshot(a)
    response = post(client, kite.postback_payload(x_id))
    assert response.status_code == 200 and response.json()["status"] == "unknown_order"
    assert snapshot(a) == before and Order.objects.count() == 1


def test_without_todays_session_nothing_changes_and_kite_may_send_again(client, kite):
    a_id = place(kite, "ORDERA")
    a = stored("ORDERA", a_id)
    kite.fill(a_id, 65, 99.0)
    TradingState.objects.update(kite_access_token="", kite_token_date=None)
    before = snapshot(a)
    response = post(client, kite.postback_payload(a_id))
    assert response.status_code == 503
    assert snapshot(a) == before


def test_the_tag_kite_holds_must_match_too(client, kite):
    """A stored order whose broker id Kite knows under another tag (a stored id gone wrong) is not
    updated from it."""
    a_id = place(kite, "ORDERA")
    b = stored("ORDERB", a_id)
    kite.fill(a_id, 65, 99.0)
    before = snapshot(b)
    response = post(client, dict(kite.postback_payload(a_id), tag="ORDERB"))
    assert response.status_code == 409
    assert snapshot(b) == before


def test_reconcile_by_tag_keeps_a_stored_broker_id(kite):
    """The reconcile by tag stores Kite's id only where none is stored."""
    a_id = place(kite, "ORDERA")
    a = stored("ORDERA", "999")
    kite.fill(a_id, 65, 99.0)
    broker_updates.reconcile_tag("ORDERA")
    a.refresh_from_db()
    assert a.broker_order_id == "999" and a.status == "OPEN"


def test_the_reconcile_task_brings_the_order_to_kites_record(kite):
    """What a worker runs when the postback queued the reconcile (``trading.tasks.reconcile_order``)."""
    c_id = place(kite, "ORDERC")
    stored("ORDERC", "", status="SUBMITTED")
    kite.fill(c_id, 65, 99.5)
    assert tasks.reconcile_order("ORDERC") == {"tag": "ORDERC", "status": "FILLED"}
    assert tasks.reconcile_order("NOTOURS") == {"tag": "NOTOURS", "status": None}
    c = Order.objects.get(client_order_id="ORDERC")
    assert (c.broker_order_id, c.filled_quantity, c.average_price) == (c_id, 65, D("99.50"))
