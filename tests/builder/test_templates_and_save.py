"""The builder's templates on the model chain, and its page."""

from __future__ import annotations

import math
from datetime import date, datetime, time

import pytest
from rest_framework.test import APIClient

from tests.helpers import user_with_role
from trading.core import calendar as market_calendar
from trading.core.combos import TEMPLATES, build_template

pytestmark = pytest.mark.django_db
# Monday 2026-05-04 12:00 IST: the current week's NIFTY expiry is Tuesday 05-05, the next 05-12.
CLOCK = datetime.combine(date(2026, 5, 4), time(12, 0), tzinfo=market_calendar.IST)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr("trading.builder.api.timezone.now", lambda: CLOCK)


def client_as(role: str) -> APIClient:
    c = APIClient()
    c.force_authenticate(user_with_role(role, f"{role}-b"))
    return c


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_iron_condor_template_on_the_model_chain():
    d = client_as("viewer").post(
        "/api/builder/template",
        {"template": "iron_condor", "spot": 24010, "iv": 0.14, "lots": 2},
        format="json",
    )
    assert d.status_code == 200, d.json()
    legs = d.json()["legs"]
    # ATM of 24,010 on the 50-point grid is 24,000; shorts 4 steps out, wings 4 further.
    assert [(x["type"], x["side"], x["strike"], x["expiry"], x["lots"]) for x in legs] == [
        ("CE", "BUY", 24400.0, "2026-05-05", 2),
        ("PE", "BUY", 23600.0, "2026-05-05", 2),
        ("CE", "SELL", 24200.0, "2026-05-05", 2),
        ("PE", "SELL", 23800.0, "2026-05-05", 2),
    ]
    # Premiums: Black-Scholes on 24,010 (q = 0, r 5.5%) at 14%, 1 day 3.5 hours to 05-05 15:30.
    t, r, v = (1 + 3.5 / 24) / 365, 0.055, 0.14
    s = v * math.sqrt(t)
    d1 = (math.log(24010 / 24200) + (r + 0.5 * v * v) * t) / s
    call = 24010 * _n(d1) - 24200 * math.exp(-r * t) * _n(d1 - s)
    assert legs[2]["premium"] == pytest.approx(call, abs=0.006)


def test_every_template_resolves():
    c = client_as("viewer")
    for name in TEMPLATES:
        r = c.post("/api/builder/template", {"template": name, "spot": 24000, "iv": 0.14}, format="json")
        assert r.status_code == 200, (name, r.json())
        legs = r.json()["legs"]
        assert len(legs) == len(build_template(name).legs)
        payoff = c.post(
            "/api/builder/payoff",
            {
                "spot": 24000,
                "iv": 0.14,
                "legs": [
                    {k: x[k] for k in ("type", "side", "strike", "expiry", "lots", "premium")} for x in legs
                ],
            },
            format="json",
        )
        assert payoff.status_code == 200, (name, payoff.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template": "butterfly"}, "template"),
        ({"template": "iron_condor", "wing_steps": 0}, "template"),
        ({"template": "iron_condor", "otm_steps": 3}, "otm_steps"),
        ({"template": "short_straddle", "lots": 0}, "lots"),
        ({"template": "short_straddle", "index": "BANKNIFTY", "spot": 52000}, "template"),  # no weeklies
    ],
)
def test_bad_template_requests(body, field):
    r = client_as("viewer").post("/api/builder/template", {"spot": 24000, "iv": 0.14, **body}, format="json")
    assert r.status_code == 400 and list(r.json()) == [field]


def test_the_page_for_a_viewer(client):
    client.force_login(user_with_role("viewer", "page-viewer"))
    page = client.get("/builder/").content.decode()
    assert 'id="payoff-chart"' in page and 'id="greeks-table"' in page
    assert "No market snapshot stored" in page
