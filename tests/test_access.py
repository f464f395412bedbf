"""Who may do what (trading/access.py): every page and endpoint against the user of fewest rights.

The table lists each route (by URL name) and method with the least role that may use it; the test
asks as that role (it must get the route's answer) and as every role below it (anonymous: the login
page or 401; a logged-in user without the permission: 403). A route missing from the table fails the
coverage test, so a new page cannot be added without saying who may use it.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from journal.combos import combo_record
from journal.models import Trade
from journal.services import record_trade
from tests.helpers import NOW, database_unreachable, trade_fields, user_with_role
from trading.execution.models import BacktestRun, Sweep, SweepCombination
from trading.strategies.services import ensure_strategy_configs

PUBLIC, LOGGED_IN, VIEWER, TRADER, OPERATOR = "public", "logged-in", "viewer", "trader", "operator"
# From fewest rights to most; "logged-in" is a user in no group.
LADDER = ("anonymous", LOGGED_IN, VIEWER, TRADER, OPERATOR)


@dataclass(frozen=True)
class Route:
    name: str  # URL name, with its namespace
    method: str
    least: str  # the least role that may: public, logged-in, viewer, trader, operator
    status: int  # what that role gets
    api: bool = False  # anonymous gets 401 (API) rather than the login page
    args: tuple = ()
    data: object = None


TRADE_BODY = {
    **{k: str(v) for k, v in trade_fields(trade_id="NEW-1").items()},
    "quantity": 65,
    "entry_time": "2026-05-05T09:30:00+05:30",
    "exit_time": "2026-05-05T10:45:00+05:30",
}
# A long ATM call of the nearest expiry on the caller's clock (the save turns it into rules on that date).
BUILDER_BODY = {
    "spot": 24000,
    "iv": 0.14,
    "legs": [{"type": "CE", "side": "BUY", "strike": 24000, "premium": 150}],
}
FORM_BODY = {
    "trade_id": "MAN-access",
    "symbol": "NIFTY",
    "instrument_type": "CALL",
    "strike_price": "24000",
    "expiry_date": "2026-05-12",
    "side": "LONG",
    "quantity": "65",
    "entry_time": "2026-05-05T09:30",
    "entry_price": "100",
    "exit_time": "2026-05-05T10:45",
    "exit_price": "120",
    "exit_type": "MANUAL",
    "entry_mode": "PAPER",
    "data_source": "SIM",
    "strategy_name": "MANUAL",
}

ROUTES = (
    Route("healthz", "get", PUBLIC, 200),
    Route("login", "get", PUBLIC, 200),
    Route("logout", "post", PUBLIC, 302),
    Route("metrics", "get", PUBLIC, 200),  # loopback (the test client) or a bearer token
    Route("kite-postback", "post", PUBLIC, 400, data={}),  # Kite's checksum authenticates it
    Route("home", "get", VIEWER, 200),
    Route("schema", "get", LOGGED_IN, 200, api=True),
    Route("swagger-ui", "get", LOGGED_IN, 200),
    # the journal's pages
    Route("journal:list", "get", VIEWER, 200),
    Route("journal:calendar", "get", VIEWER, 200),
    Route("journal:detail", "get", VIEWER, 200, args=("pk",)),
    Route("journal:new", "get", TRADER, 200),
    Route("journal:new", "post", TRADER, 302, data=FORM_BODY),
    Route("journal:annotate", "post", TRADER, 302, args=("pk",), data={"notes": "n", "tags": "a"}),
    Route("journal:import", "get", TRADER, 200),
    Route("journal:import", "post", TRADER, 400, data={}),  # no file: the form's answer
    Route("journal:import-confirm", "post", TRADER, 302, data={}),
    Route("analytics-pages:page", "get", VIEWER, 200),
    Route("analytics-pages:tearsheet", "get", VIEWER, 200),
    # the journal's API
    Route("journal-api:trade-list", "get", VIEWER, 200, api=True),
    Route("journal-api:trade-list", "post", TRADER, 201, api=True, data=TRADE_BODY),
    Route("journal-api:trade-detail", "get", VIEWER, 200, api=True, args=("trade_id",)),
    Route(
        "journal-api:trade-detail", "patch", TRADER, 200, api=True, args=("trade_id",), data={"notes": "n"}
    ),
    Route(
        "journal-api:trade-detail",
        "patch",
        OPERATOR,
        200,
        api=True,
        args=("trade_id",),
        data={"exit_price": "121"},
    ),
    Route("journal-api:trade-detail", "delete", OPERATOR, 204, api=True, args=("trade_id",)),
    Route("journal-api:trade-history", "get", VIEWER, 200, api=True),
    Route("journal-api:combo-list", "get", VIEWER, 200, api=True),
    Route("journal-api:combo-detail", "get", VIEWER, 200, api=True, args=("combo_id",)),
    Route("journal-api:trade-totals", "get", VIEWER, 200, api=True),
    Route("journal-api:trade-export-csv", "get", VIEWER, 200, api=True),
    Route("journal-api:trade-export-xlsx", "get", VIEWER, 200, api=True),
    # the analytics API
    Route("analytics:summary", "get", VIEWER, 200, api=True),
    Route("analytics:equity", "get", VIEWER, 200, api=True),
    Route("analytics:drawdown", "get", VIEWER, 200, api=True),
    Route("analytics:daily", "get", VIEWER, 200, api=True),
    Route("analytics:monthly", "get", VIEWER, 200, api=True),
    Route("analytics:breakdown", "get", VIEWER, 400, api=True),  # no by=: the viewer's answer
    Route("analytics:attribution", "get", VIEWER, 200, api=True),
    # the engine's tables, strategies, market
    Route("order-list", "get", VIEWER, 200, api=True),
    Route("order-detail", "get", VIEWER, 404, api=True, args=(999,)),
    Route("position-list", "get", VIEWER, 200, api=True),
    Route("position-detail", "get", VIEWER, 404, api=True, args=(999,)),
    Route("signal-list", "get", VIEWER, 200, api=True),
    Route("signal-detail", "get", VIEWER, 404, api=True, args=(999,)),
    Route("strategy-config-list", "get", VIEWER, 200, api=True),
    Route("strategy-config-detail", "get", VIEWER, 200, api=True, args=("PCRStrategy",)),
    Route(
        "strategy-config-detail",
        "patch",
        OPERATOR,
        200,
        api=True,
        args=("PCRStrategy",),
        data={"cooldown_minutes": 7},
    ),
    Route("strategies", "get", VIEWER, 200),
    Route("strategy-detail", "get", VIEWER, 200, args=("PCRStrategy",)),
    Route("strategy-toggle", "post", OPERATOR, 302, args=("PCRStrategy",), data={"enabled": "0"}),
    Route("market-chain", "get", VIEWER, 200),  # no snapshot yet: an empty state
    Route("api-market-chain", "get", VIEWER, 404, api=True),
    # the strategy builder: viewers compute, operators save a combo to a strategy, traders backtest it
    Route("builder", "get", VIEWER, 200),
    Route("api-builder-payoff", "post", VIEWER, 200, api=True, data=BUILDER_BODY),
    Route(
        "api-builder-template",
        "post",
        VIEWER,
        200,
        api=True,
        data={"template": "iron_condor", "spot": 24000, "iv": 0.14},
    ),
    Route("api-builder-strategies", "get", VIEWER, 200, api=True),
    Route(
        "api-builder-strategies",
        "post",
        OPERATOR,
        200,
        api=True,
        data={**BUILDER_BODY, "strategy": "PCRStrategy"},
    ),
    Route("api-builder-backtest", "post", TRADER, 404, api=True, args=("NoSuchStrategy",), data={}),
    # the desk's controls
    Route("control", "get", OPERATOR, 200),
    Route("control-kill-switch", "post", OPERATOR, 302, data={"on": "1"}),
    Route("control-breaker-reset", "post", OPERATOR, 302, data={}),
    Route("control-live-confirm", "post", OPERATOR, 302, data={}),
    Route("kite-settings", "get", OPERATOR, 200),
    Route("kite-login", "get", OPERATOR, 302),
    Route("kite-callback", "get", OPERATOR, 302),
    Route("favicon", "get", PUBLIC, 301),
    # the live desk and the notifications
    Route("desk", "get", VIEWER, 200),
    Route("desk-kill-switch", "post", OPERATOR, 200, data={"on": "0"}),
    Route("desk-breaker-reset", "post", OPERATOR, 200, data={}),
    Route("notifications", "get", OPERATOR, 200),
    # research: drift, Monte Carlo, deflated Sharpe, walk-forward (no parameters: a 400 naming them)
    Route("research-drift", "get", VIEWER, 200),
    Route("research-walk-forward", "get", VIEWER, 200),
    Route("research-deflated-sharpe", "get", VIEWER, 200),
    Route("research-monte-carlo", "get", VIEWER, 404, args=(999,)),
    Route("api-research-drift", "get", VIEWER, 400, api=True),
    Route("api-research-drift-csv", "get", VIEWER, 400, api=True),
    Route("api-research-monte-carlo", "get", VIEWER, 404, api=True, args=(999,)),
    Route("api-research-deflated-sharpe", "get", VIEWER, 400, api=True),
    Route("api-research-walk-forward", "get", VIEWER, 400, api=True),
    # backtest runs and sweeps: viewers read, traders start (research, never the desk's trades)
    Route("backtests", "get", VIEWER, 200),
    Route("backtest-start", "post", TRADER, 400, data={}),  # no settings: the form's answer
    Route("backtest-detail", "get", VIEWER, 200, args=("run",)),
    Route("backtest-progress", "get", VIEWER, 200, args=("run",)),
    Route("backtest-compare", "get", VIEWER, 400),  # no runs named: 400 naming "a"
    Route("backtest-stop", "post", OPERATOR, 302, args=("run",)),  # nobody's run: an operator's to stop
    Route("sweeps", "get", VIEWER, 200),
    Route("sweep-start", "post", TRADER, 400, data={}),
    Route("sweep-detail", "get", VIEWER, 200, args=("sweep",)),
    Route("sweep-progress", "get", VIEWER, 200, args=("sweep",)),
    Route("sweep-promote", "post", TRADER, 400, args=("sweep", 1)),  # not finished: 400
    Route("sweep-stop", "post", OPERATOR, 302, args=("sweep",)),  # nobody's sweep: an operator's to stop
)


def _names(patterns, namespace: str = "") -> set[str]:
    out: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            out |= _names(pattern.url_patterns, ns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            out.add(namespace + pattern.name)
    return out


def test_every_route_says_who_may_use_it():
    assert _names(get_resolver().url_patterns) == {route.name for route in ROUTES}


@pytest.fixture
def stored(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    ensure_strategy_configs()
    trade = record_trade(now=NOW, **trade_fields())
    run = BacktestRun.objects.create(start=date(2026, 3, 2), end=date(2026, 3, 2))
    sweep = Sweep.objects.create(strategy="PCRStrategy", start=date(2026, 3, 2), end=date(2026, 3, 2), seed=7)
    SweepCombination.objects.create(sweep=sweep, number=1, parameters={"quiet_bars": 10})
    combo = combo_record(now=NOW, combo_id="P-NIFTY-TEST-C", symbol="NIFTY", entry_time=trade.entry_time)
    return {
        "pk": trade.pk,
        "trade_id": trade.trade_id,
        "run": run.pk,
        "sweep": sweep.pk,
        "combo_id": combo.combo_id,
    }


def _client(role: str, api: bool):
    client = APIClient()
    if role == "anonymous":
        return client
    user = user_with_role(None if role == LOGGED_IN else role, f"{role}-user")
    if api:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    else:
        client.force_login(user)
    return client


def _ask(client, route: Route, stored: dict):
    url = reverse(route.name, args=[stored.get(a, a) for a in route.args])
    call = getattr(client, route.method)
    if route.method == "get":
        return call(url)
    if route.api:
        return call(url, route.data, format="json")
    return call(url, route.data or {})


def _cases():
    for route in ROUTES:
        least = "anonymous" if route.least == PUBLIC else route.least
        for role in LADDER[: LADDER.index(least) + 1]:
            yield pytest.param(route, role, id=f"{route.method}-{route.name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "role"), list(_cases()))
def test_route_answers_the_least_role_and_refuses_those_below(route, role, stored):
    response = _ask(_client(role, route.api), route, stored)
    least = "anonymous" if route.least == PUBLIC else route.least
    if role == least:
        assert response.status_code == route.status, getattr(response, "content", b"")[:300]
    elif role == "anonymous" and route.api:
        assert response.status_code == 401
    elif role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == 403


@pytest.mark.django_db
def test_the_admin_is_for_operators_only(client):
    for role in (VIEWER, TRADER):
        client.force_login(user_with_role(role, f"{role}-admin"))
        assert client.get("/admin/").status_code == 302  # to the admin's login: not staff
    client.force_login(user_with_role(OPERATOR, "op-admin"))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/journal/trade/").status_code == 200


@pytest.mark.django_db
def test_a_trader_adds_notes_but_cannot_correct_or_delete_a_trade(stored):
    trader = _client(TRADER, api=True)
    url = f"/api/trades/{stored['trade_id']}/"
    assert trader.patch(url, {"notes": "fine", "tags": ["x"]}, format="json").status_code == 200
    assert trader.patch(url, {"notes": "and", "exit_price": "90"}, format="json").status_code == 403
    assert trader.delete(url).status_code == 403
    trade = Trade.objects.get(pk=stored["pk"])
    assert (trade.notes, trade.tag_list, trade.exit_price) == ("fine", ["x"], D("120"))


@pytest.mark.django_db
def test_pages_show_only_what_the_role_may_do(stored, client):
    client.force_login(user_with_role(VIEWER, "v"))
    page = client.get("/journal/").content.decode()
    assert "/journal/new/" not in page and "/journal/import/" not in page and "/control/" not in page
    detail = client.get(f"/journal/{stored['pk']}/").content.decode()
    assert "annotate-form" not in detail
    client.force_login(user_with_role(TRADER, "t"))
    page = client.get("/journal/").content.decode()
    assert "/journal/new/" in page and "/journal/import/" in page and "/control/" not in page
    assert "annotate-form" in client.get(f"/journal/{stored['pk']}/").content.decode()
    client.force_login(user_with_role(OPERATOR, "o"))
    assert "/control/" in client.get("/journal/").content.decode()


# --- the command that makes users and tokens ----------------------------------------------------------


@pytest.mark.django_db
def test_deskuser_creates_a_user_with_a_role_and_a_working_token(stored):
    out = io.StringIO()
    call_command("deskuser", "asha", "--role", "trader", "--token", stdout=out)
    text = out.getvalue()
    assert "Created user 'asha' with the role trader" in text and "Password (shown once): " in text
    key = text.split("API token: ")[1].split()[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/trades/").status_code == 200
    assert client.post("/api/trades/", TRADE_BODY, format="json").status_code == 201
    assert client.patch("/api/strategies/PCRStrategy/", {"enabled": False}, format="json").status_code == 403
    password = text.split("Password (shown once): ")[1].split()[0]
    assert APIClient().login(username="asha", password=password)

    # A change of role replaces the old one; the token stays the same.
    out = io.StringIO()
    call_command("deskuser", "asha", "--role", "viewer", "--token", stdout=out)
    assert "Updated user 'asha' with the role viewer" in out.getvalue() and key in out.getvalue()
    assert "Password" not in out.getvalue()
    assert client.post("/api/trades/", {**TRADE_BODY, "trade_id": "NEW-2"}, format="json").status_code == 403
    call_command("deskuser", "ravi", "--role", "operator", stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    ravi = get_user_model().objects.get(username="ravi")
    assert ravi.is_staff and list(ravi.groups.values_list("name", flat=True)) == ["operator"]
    with pytest.raises(Exception, match="invalid choice"):
        call_command("deskuser", "x", "--role", "admin", stdout=io.StringIO())


# --- the health check --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_healthz_says_whether_the_database_answers_and_names_no_host(client, settings):
    assert client.get("/healthz").json() == {"status": "ok"}
    host = settings.DATABASES["default"].get("HOST") or ""
    with database_unreachable():
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.content.decode()
    assert json.loads(body) == {"status": "error", "database": "unreachable"}
    for secret in ("127.0.0.1", "port", "5432", "nonexistent", host or "\x00"):
        assert secret not in body


# --- the API's description ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_schema_and_docs_need_a_login(client):
    assert APIClient().get("/api/schema/").status_code == 401
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_missing_role_group_is_made_again_with_its_permissions():
    from django.contrib.auth.models import Group

    Group.objects.filter(name=TRADER).delete()
    user = user_with_role(TRADER, "again")
    assert user.has_perm("journal.add_trade") and not user.has_perm("trading.control_desk")
    assert (
        Group.objects.get(name=TRADER).permissions.count()
        == Group.objects.get(name=VIEWER).permissions.count() + 4  # notes, trades, imports, backtests
    )


# --- the permissions' query ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_users_permissions_are_read_in_one_query_own_and_groups(django_assert_num_queries):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from trading import access

    user = user_with_role(VIEWER, "one-query")
    user.user_permissions.add(Permission.objects.get(codename="control_desk"))
    fresh = get_user_model().objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert fresh.has_perm(access.VIEW_JOURNAL)  # the group's
        assert fresh.has_perm(access.CONTROL_DESK)  # the user's own
        assert not fresh.has_perm(access.RECORD_TRADE)  # a trader's
    assert fresh.get_all_permissions() == set(access.role_permissions(VIEWER)) | {access.CONTROL_DESK}
    # The same set as Django's own ModelBackend (two ORM queries), also for a user in two groups.
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Group

    fresh.groups.add(Group.objects.get(name=TRADER))
    reference = ModelBackend().get_all_permissions(get_user_model().objects.get(pk=user.pk))
    ours = get_user_model().objects.get(pk=user.pk).get_all_permissions()
    assert ours == reference > set(access.role_permissions(VIEWER)) | {access.CONTROL_DESK}
    # As Django's ModelBackend: a superuser holds every permission, an inactive user none.
    boss = get_user_model().objects.create_superuser("boss", password=secrets.token_urlsafe(16))
    assert boss.get_all_permissions() >= {access.RECORD_TRADE, access.DELETE_TRADE, "auth.add_user"}
    fresh.is_active = False
    fresh.save()
    assert get_user_model().objects.get(pk=user.pk).get_all_permissions() == set()


@pytest.mark.django_db
def test_a_role_change_counts_from_the_next_request(stored):
    from trading import access

    viewer = user_with_role(VIEWER, "promoted")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}")
    assert client.post("/api/trades/", TRADE_BODY, format="json").status_code == 403
    access.desk_user_save(username="promoted", role=TRADER)
    assert client.post("/api/trades/", TRADE_BODY, format="json").status_code == 201
    access.desk_user_save(username="promoted", role=VIEWER)
    assert client.post("/api/trades/", {**TRADE_BODY, "trade_id": "NEW-2"}, format="json").status_code == 403
    assert client.get("/api/trades/").status_code == 200


@pytest.mark.django_db
def test_token_authentication_answers_as_drfs_in_one_query(stored, django_assert_num_queries):
    """``access.TokenAuthentication`` reads the token and its user in one statement and answers as
    DRF's own (the reference, run beside it): the same user and token, field by field, and the same
    refusals over the API for an unknown key and an inactive user."""
    from django.contrib.auth import get_user_model
    from rest_framework.authentication import TokenAuthentication as DRFTokenAuthentication

    from trading import access

    user = user_with_role(VIEWER, "token-reader")
    key = Token.objects.create(user=user).key
    with django_assert_num_queries(1):
        ours_user, ours_token = access.TokenAuthentication().authenticate_credentials(key)
        assert ours_token.user is ours_user  # no second query for the user
    drf_user, drf_token = DRFTokenAuthentication().authenticate_credentials(key)
    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    assert [getattr(ours_user, f) for f in fields] == [getattr(drf_user, f) for f in fields]
    assert (ours_token.key, ours_token.user_id, ours_token.created) == (
        drf_token.key,
        drf_token.user_id,
        drf_token.created,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/trades/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {key[:-1]}x'OR'1'='1")
    answer = client.get("/api/trades/")
    assert answer.status_code == 401 and answer.json()["detail"] == "Invalid token."
    user.is_active = False
    user.save()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    answer = client.get("/api/trades/")
    assert answer.status_code == 401 and answer.json()["detail"] == "User inactive or deleted."
