"""Parameters: validation names the field and the bound; the service saves valid changes only and
audits each; the API lets staff PATCH (400 naming the field when invalid) and others only read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from tests.helpers import user_with_role
from trading.core.strategies import registry
from trading.core.strategies.base import ParamError, validate_params
from trading.strategies.models import StrategyConfig, StrategyConfigAudit

PCR = registry.get("PCRStrategy")


# --- validate_params ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"pcr_high": 9}, "pcr_high", "above the maximum 3.0"),
        ({"pcr_low": 0.1}, "pcr_low", "below the minimum 0.2"),
        ({"quiet_bars": 0}, "quiet_bars", "below the minimum 1"),
        ({"quiet_bars": 2.5}, "quiet_bars", "not a whole number"),
        ({"pcr_high": "high"}, "pcr_high", "not a number"),
        ({"pcr_high": float("nan")}, "pcr_high", "not a finite number"),
        ({"active": 1}, "active", "not true/false"),
        ({"pcr_extreme": 1.5}, "pcr_extreme", "unknown parameter"),
        ({"regimes": {"panic": {}}}, "regimes.panic", "unknown regime"),
        ({"regimes": {"high": {"pcr_high": 5}}}, "regimes.high.pcr_high", "above the maximum 3.0"),
        (
            {"regimes": {"high": {"vix_high": 30}}},
            "regimes.high.vix_high",
            "not a parameter that can change with the regime",
        ),
        ({"regimes": {"high": {"quiet_bars": 30}}}, "regimes.high.quiet_bars", "thresholds and active only"),
        ({"vix_low": 25.0, "vix_high": 20.0}, "vix_high", "must be above vix_low 25.0"),
    ],
)
def test_invalid_values_name_the_field_and_the_bound(data, field, words):
    with pytest.raises(ParamError) as err:
        validate_params(PCR, data)
    assert err.value.field == field and words in err.value.message
    assert str(err.value).startswith(f"{field}: ")


def test_valid_values_are_coerced_and_missing_ones_default():
    p = validate_params(PCR, {"pcr_high": 2, "quiet_bars": 20.0, "regimes": {"low": {"active": False}}})
    assert (
        p.pcr_high == 2.0
        and isinstance(p.pcr_high, float)
        and p.quiet_bars == 20
        and isinstance(p.quiet_bars, int)
    )
    assert p.pcr_low == 0.7 and p.regimes == {"low": {"active": False}}
    assert validate_params(PCR, {}) == PCR.default_params()


def test_regime_switch_silences_a_strategy_in_that_regime():
    from tests.strategies.frames import make_frame, signals_at, steps

    n = 40
    f = make_frame(n, close=steps(n, (0, 24000.0), (30, 23900.0)), pcr_oi=steps(n, (0, 1.0), (30, 1.45)))
    assert signals_at(PCR.generate(f)) == {30: "PUT"}
    assert signals_at(PCR.generate(f, {"regimes": {"normal": {"active": False}}})) == {}


# --- the service ------------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return user_with_role("operator", "desk", password="pw")


@pytest.fixture
def trader(db):
    return user_with_role("trader", "trader", password="pw")


@pytest.fixture
def config(db) -> StrategyConfig:
    from trading.strategies.services import ensure_strategy_configs

    configs = ensure_strategy_configs()
    assert [c.name for c in configs] == registry.names()
    return StrategyConfig.objects.get(name="PCRStrategy")


def test_update_saves_valid_changes_and_audits_each(config, staff):
    from trading.strategies.services import strategy_config_update, strategy_params

    strategy_config_update(config=config, user=staff, parameters={"pcr_high": 1.4}, cooldown_minutes=20)
    saved = StrategyConfig.objects.get(pk=config.pk)
    assert saved.parameters == {"pcr_high": 1.4} and saved.cooldown_minutes == 20
    assert strategy_params(saved).pcr_high == 1.4 and strategy_params(saved).pcr_low == 0.7
    audits = {(a.field, a.old_value, a.new_value, a.user_id) for a in StrategyConfigAudit.objects.all()}
    assert audits == {
        ("parameters.pcr_high", "", "1.4", staff.pk),
        ("cooldown_minutes", "30", "20", staff.pk),
    }
    strategy_config_update(config=saved, user=staff, parameters={"pcr_high": 1.4})  # no change: no audit
    assert StrategyConfigAudit.objects.count() == 2
    strategy_config_update(config=saved, user=staff, parameters={})
    assert StrategyConfigAudit.objects.filter(
        field="parameters.pcr_high", old_value="1.4", new_value=""
    ).exists()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"parameters": {"pcr_high": 3.5}}, "pcr_high", "above the maximum 3.0"),
        ({"cooldown_minutes": 2000}, "cooldown_minutes", "above the maximum 1440"),
        ({"max_open_positions": -1}, "max_open_positions", "below the minimum 0"),
        ({"capital_allocation": "lots"}, "capital_allocation", "not an amount"),
        ({"index": "DOW"}, "index", "not one of NIFTY"),
        ({"enabled": "yes"}, "enabled", "not true/false"),
        ({"colour": "red"}, "colour", "not a configuration field"),
    ],
)
def test_invalid_change_is_refused_and_nothing_is_saved(config, staff, changes, field, words):
    from trading.strategies.services import strategy_config_update

    before = StrategyConfig.objects.filter(pk=config.pk).values().get()
    with pytest.raises(ParamError) as err:
        strategy_config_update(config=config, user=staff, **{"max_open_positions": 3, **changes})
    assert err.value.field == field and words in err.value.message
    assert StrategyConfig.objects.filter(pk=config.pk).values().get() == before
    assert not StrategyConfigAudit.objects.exists()


# --- the API -------------------------------------------------------------------------------------------


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_list_for_logged_in_users(config, trader):
    res = _client(trader).get("/api/strategies/")
    assert res.status_code == 200
    rows = res.json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert sorted(r["name"] for r in rows) == sorted(registry.names())
    pcr = next(r for r in rows if r["name"] == "PCRStrategy")
    assert "contrarian" in pcr["description"] and pcr["lookback"] == PCR.lookback
    assert {"name": "pcr_high", "value": 1.3, "min": 1.0, "max": 3.0}.items() <= next(
        p for p in pcr["parameter_table"] if p["name"] == "pcr_high"
    ).items()
    assert _client().get("/api/strategies/").status_code in (401, 403)


def test_last_signal_at_is_the_latest_accepted_signal(config, trader):
    from trading.strategies.services import signal_record

    at = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)
    signal_record(strategy_name="PCRStrategy", bar_time=at, direction="PUT", strength=0.7, reason="r")
    signal_record(strategy_name="PCRStrategy", bar_time=at + timedelta(minutes=5), direction="PUT", strength=0.7,
                  reason="r", status="REJECTED", reject_reason="cooldown")  # fmt: skip
    rows = {r["name"]: r for r in _client(trader).get("/api/strategies/").json()}
    assert rows["PCRStrategy"]["last_signal_at"] == "2025-01-06T09:30:00+05:30"
    assert rows["MaxPainStrategy"]["last_signal_at"] is None
    detail = _client(trader).get("/api/strategies/PCRStrategy/").json()
    assert detail["last_signal_at"] == "2025-01-06T09:30:00+05:30"


def test_patch_by_staff_saves_and_audits(config, staff):
    res = _client(staff).patch(
        "/api/strategies/PCRStrategy/", {"parameters": {"pcr_high": 1.45}, "enabled": False}, format="json"
    )
    assert res.status_code == 200, res.content
    assert res.json()["parameters"] == {"pcr_high": 1.45} and res.json()["enabled"] is False
    saved = StrategyConfig.objects.get(pk=config.pk)
    assert saved.parameters == {"pcr_high": 1.45} and not saved.enabled
    assert set(StrategyConfigAudit.objects.values_list("field", "user__username")) == {
        ("parameters.pcr_high", "desk"), ("enabled", "desk"),
    }  # fmt: skip
    # parameters merge; a null drops one back to its default
    _client(staff).patch("/api/strategies/PCRStrategy/", {"parameters": {"pcr_low": 0.65}}, format="json")
    assert StrategyConfig.objects.get(pk=config.pk).parameters == {"pcr_high": 1.45, "pcr_low": 0.65}
    _client(staff).patch("/api/strategies/PCRStrategy/", {"parameters": {"pcr_high": None}}, format="json")
    assert StrategyConfig.objects.get(pk=config.pk).parameters == {"pcr_low": 0.65}


def test_patch_invalid_is_400_naming_the_field(config, staff):
    res = _client(staff).patch("/api/strategies/PCRStrategy/", {"parameters": {"pcr_high": 7}}, format="json")
    assert res.status_code == 400
    assert "pcr_high" in res.json() and "maximum 3.0" in res.json()["pcr_high"][0]
    res = _client(staff).patch("/api/strategies/PCRStrategy/", {"cooldown_minutes": 5000}, format="json")
    assert res.status_code == 400 and "1440" in res.json()["cooldown_minutes"][0]
    res = _client(staff).patch("/api/strategies/PCRStrategy/", {"name": "Other"}, format="json")
    assert res.status_code == 400 and "name" in res.json()
    assert (
        StrategyConfig.objects.get(pk=config.pk).parameters == {} and not StrategyConfigAudit.objects.exists()
    )


def test_patch_by_non_staff_is_403(config, trader):
    res = _client(trader).patch("/api/strategies/PCRStrategy/", {"enabled": False}, format="json")
    assert res.status_code == 403
    assert StrategyConfig.objects.get(pk=config.pk).enabled and not StrategyConfigAudit.objects.exists()
    assert _client(trader).put("/api/strategies/PCRStrategy/", {"enabled": False}, format="json").status_code in (
        403, 405,
    )  # fmt: skip
