"""Helpers of the metrics tests: scrape, parse, make journal rows, tools."""

from __future__ import annotations

import os
import shutil
import socket
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields
from trading.execution.models import Order

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def scrape(client: Client | None = None) -> str:
    """The text of ``/metrics`` as a loopback client sees it."""
    client = client or Client(REMOTE_ADDR="127.0.0.1")
    response = client.get("/metrics")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def families(text: str) -> dict:
    """Family name -> parsed family (prometheus_client's own parser)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(text: str, sample_name: str) -> list[tuple[dict, float]]:
    """(labels, value) of every sample called ``sample_name``."""
    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == sample_name:
                out.append((dict(s.labels), s.value))
    return out


def total_by(text: str, sample_name: str, *labels: str, **match: str) -> dict[tuple, float]:
    """Sum of ``sample_name`` grouped by ``labels`` over the samples whose labels match ``match``."""
    out: dict[tuple, float] = defaultdict(float)
    for lab, value in samples(text, sample_name):
        if all(lab.get(k) == v for k, v in match.items()):
            out[tuple(lab.get(k, "") for k in labels)] += value
    return dict(out)


def nonzero(totals: dict) -> dict:
    """``totals`` without its zeros (the series every process and scrape creates at 0)."""
    return {key: value for key, value in totals.items() if value}


def make_trade(n: int, strategy: str = "PCRStrategy", **over):
    """Record one journal trade through the service (a win unless ``exit_price`` says otherwise)."""
    day = over.pop("day", 5)
    entry = ist(2026, 5, day, 9, 30) + timedelta(minutes=n)
    fields = trade_fields(
        trade_id=f"M-{strategy}-{n}",
        strategy_name=strategy,
        entry_time=entry,
        exit_time=entry + timedelta(minutes=30),
    )
    fields.update(over)
    return record_trade(now=NOW, **fields)


def make_order(n: int, strategy: str = "PCRStrategy", status: str = "FILLED", **over):
    """Create one order row (the engine's writes are not under test here)."""
    values = dict(
        client_order_id=f"MO{n:08d}",
        strategy_name=strategy,
        tradingsymbol="NIFTY26MAY24000CE",
        instrument_type="CALL",
        strike_price=Decimal("24000"),
        expiry_date=ist(2026, 5, 12).date(),
        transaction_type="BUY",
        order_type="MARKET",
        quantity=65,
        status=status,
        created_at=ist(2026, 5, 5, 9, 30),
    )
    values.update(over)
    return Order.objects.create(**values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(name: str) -> str:
    """Path of a tool from Debian's prometheus package; skipped without it on a laptop, failed in CI."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{name} is not installed (scripts/test installs Debian's prometheus package)")
    pytest.skip(f"{name} not installed: apt-get install prometheus")
