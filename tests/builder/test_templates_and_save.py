"""The builder's templates on the model chain, the save of a combo as a strategy's configuration (legs
back to rules, the template's exits kept), loading it back, and the one-click backtest."""

from __future__ import annotations

import math
from datetime import date, datetime, time

import pytest
from rest_framework.test import APIClient

from journal.models import Combo
from tests.helpers import user_with_role
from trading.core import calendar as market_calendar
from trading.core.combo_store import combo_specs
from trading.core.combos import TEMPLATES, build_template
from trading.core.combos.model import StrikeRule
from trading.execution.models import BacktestRun
from trading.strategies.models import StrategyConfig, StrategyConfigAudit

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


def _spec(name: str):
    return combo_specs("NIFTY", StrategyConfig.objects.get(name=name).combo)["CALL"]


def test_save_makes_the_combo_a_strategys_configuration_by_rule():
    op = client_as("operator")
    legs = [
        {"type": "CE", "side": "SELL", "strike": 24000, "expiry": "2026-05-05", "lots": 1, "premium": 150},
        {"type": "PE", "side": "SELL", "strike": 24000, "expiry": "2026-05-05", "lots": 1, "premium": 140},
    ]
    body = {"strategy": "PCRStrategy", "template": "short_straddle", "spot": 24010, "iv": 0.14, "legs": legs}
    r = op.post("/api/builder/strategies", body, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["name"] == "PCRStrategy" and list(r.json()["combo"]) == ["spec"]
    template = build_template("short_straddle")
    # The legs match the template: they keep its 25% stops, times and product, as rules - for
    # either direction of the strategy's signals.
    assert _spec("PCRStrategy") == template
    assert combo_specs("NIFTY", StrategyConfig.objects.get(name="PCRStrategy").combo)["PUT"] == template
    # Audited like any change of a strategy's configuration.
    assert StrategyConfigAudit.objects.filter(config__name="PCRStrategy", field="combo").count() == 1
    # Legs by hand: a 24,200 CE of 05-12 is 4 steps out, NEXT_WEEK; a strike off the grid is exact.
    hand = {
        "strategy": "MaxPainStrategy",
        "name": "hand made",
        "spot": 24000,
        "iv": 0.14,
        "legs": [
            {"type": "CE", "side": "BUY", "strike": 24200, "expiry": "2026-05-12", "premium": 90},
            {"type": "PE", "side": "SELL", "strike": 23925, "expiry": "2026-05-26", "lots": 2, "premium": 90},
        ],
    }
    assert op.post("/api/builder/strategies", hand, format="json").status_code == 200
    spec = _spec("MaxPainStrategy")
    assert spec.name == "hand made"
    assert [(leg.expiry, leg.strike, leg.lots) for leg in spec.legs] == [
        ("NEXT_WEEK", StrikeRule.atm(4), 1),
        ("CURRENT_MONTH", StrikeRule.exact(23925), 2),
    ]
    assert all(leg.stop_loss is None for leg in spec.legs)
    listed = {s["name"]: s for s in client_as("viewer").get("/api/builder/strategies").json()}
    assert (
        listed["OpeningRangeBreakoutStrategy"]["combo"] == {} and listed["MaxPainStrategy"]["combo"]["spec"]
    )
    # Loaded back on the model chain at 24,000: the same strikes, expiries and lots.
    loaded = client_as("viewer").post(
        "/api/builder/template", {"strategy": "MaxPainStrategy", "spot": 24000, "iv": 0.14}, format="json"
    )
    assert loaded.status_code == 200, loaded.json()
    assert [(x["strike"], x["expiry"], x["lots"]) for x in loaded.json()["legs"]] == [
        (24200.0, "2026-05-12", 1),
        (23925.0, "2026-05-26", 2),
    ]
    single = client_as("viewer").post(
        "/api/builder/template",
        {"strategy": "OpeningRangeBreakoutStrategy", "spot": 24000, "iv": 0.14},
        format="json",
    )
    assert single.status_code == 400 and list(single.json()) == ["strategy"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "NoSuchStrategy"}, "strategy"),
        ({"strategy": None}, "strategy"),
        (
            {"index": "BANKNIFTY", "spot": 52000, "legs": [{"type": "CE", "side": "BUY", "strike": 52000}]},
            "strategy",
        ),
        ({"name": "a\u202eb"}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"template": "nope"}, "template"),
        (
            {"legs": [{"type": "CE", "side": "BUY", "strike": 24000, "expiry": "2026-09-29", "premium": 9}]},
            "legs[0].expiry",
        ),
        ({"legs": [{"type": "CE", "side": "BUY", "strike": 0, "premium": 9}]}, "legs[0].strike"),
    ],
)
def test_refused_saves_name_the_field(change, field):
    body = {
        "strategy": "PCRStrategy",
        "spot": 24000,
        "iv": 0.14,
        "legs": [{"type": "CE", "side": "BUY", "strike": 24000, "premium": 1}],
        **change,
    }
    r = client_as("operator").post("/api/builder/strategies", body, format="json")
    assert r.status_code == 400 and list(r.json()) == [field], r.json()
    assert not StrategyConfig.objects.exclude(combo={}).exists()


def test_who_may_save_and_backtest():
    body = {
        "strategy": "PCRStrategy",
        "spot": 24000,
        "iv": 0.14,
        "legs": [{"type": "CE", "side": "BUY", "strike": 24000}],
    }
    for role in ("viewer", "trader"):
        assert client_as(role).post("/api/builder/strategies", body, format="json").status_code == 403
    url = "/api/builder/strategies/PCRStrategy/backtest"
    assert client_as("viewer").post(url, {}, format="json").status_code == 403
    assert client_as("trader").post(url, {}, format="json").status_code == 400  # may: its dates are missing


def test_one_click_backtest_is_a_run_of_the_backtest_service(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the run is made here, as embedded
    op, trader = client_as("operator"), client_as("trader")
    url = "/api/builder/strategies/PCRStrategy/backtest"
    week = {"start": "2025-11-17", "end": "2025-11-21"}
    # A strategy trading single options is refused: the builder backtests combos.
    assert list(trader.post(url, week, format="json").json()) == ["strategy"]
    legs = [
        {"type": "CE", "side": "SELL", "strike": 24000, "expiry": "2026-05-05", "premium": 150},
        {"type": "PE", "side": "SELL", "strike": 24000, "expiry": "2026-05-05", "premium": 140},
    ]
    body = {"strategy": "PCRStrategy", "template": "short_straddle", "spot": 24000, "iv": 0.14, "legs": legs}
    assert op.post("/api/builder/strategies", body, format="json").status_code == 200
    # The run's settings are the backtest service's to check, by field.
    assert list(trader.post(url, {"start": "2025-11-21", "end": "2025-11-17"}, format="json").json()) == [
        "end"
    ]
    assert list(trader.post(url, {"start": "April", "end": "2025-11-17"}, format="json").json()) == ["start"]
    assert list(trader.post(url, {**week, "data_source": "KITE"}, format="json").json()) == ["data_source"]
    assert list(trader.post(url, {"start": "2024-01-01", "end": "2025-12-31"}, format="json").json()) == [
        "end"
    ]
    assert trader.post("/api/builder/strategies/NoSuch/backtest", week, format="json").status_code == 404
    r = trader.post(url, {**week, "seed": 3}, format="json")
    assert r.status_code == 201, r.json()
    run = BacktestRun.objects.get(pk=r.json()["id"])
    assert r.json()["url"] == f"/backtests/{run.pk}/"
    assert run.status == "DONE" and run.strategies == ["PCRStrategy"] and run.name == "builder: PCRStrategy"
    # Whatever the signals did, every combo of the run is the saved short straddle: two sold legs.
    combos = Combo.objects.filter(backtest_run=run)
    for combo in combos:
        assert combo.template == "short_straddle" and [leg["side"] for leg in combo.legs] == ["SELL", "SELL"]
    assert run.summary["combos"] == combos.count()


def test_the_page_shows_save_and_backtest_to_operators_only(client):
    client.force_login(user_with_role("viewer", "page-viewer"))
    page = client.get("/builder/").content.decode()
    assert 'id="payoff-chart"' in page and 'id="greeks-table"' in page
    assert 'id="save-form"' not in page and "No market snapshot stored" in page
    client.force_login(user_with_role("trader", "page-trader"))
    page = client.get("/builder/").content.decode()
    assert 'id="save-form"' not in page and 'id="backtest-form"' in page
    client.force_login(user_with_role("operator", "page-operator"))
    page = client.get("/builder/").content.decode()
    assert 'id="save-form"' in page and 'id="backtest-form"' in page
