"""The research API, pages and command: drift (JSON, CSV, page), Monte Carlo of a run, the deflated
Sharpe ratio of runs, a walk-forward study; bad input is a 400 naming the field."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analytics import research as figures
from analytics.drift import ROW_FIELDS, SUMMARY_FIELDS
from journal.models import TradeOrigin
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.research.data import DAY, drifted_day
from trading.core.live import SimSource
from trading.execution import research as research_services
from trading.execution.models import BacktestRun
from trading.execution.research_api import _csv_cell
from trading.marketdata.store.recorder import StoreRecorder
from trading.marketdata.store.store import MarketDataStore


def _api(role: str = "viewer") -> APIClient:
    client = APIClient()
    user = user_with_role(role, f"{role}-research")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def drifted(db, settings, tmp_path):
    return drifted_day(settings, tmp_path)


def test_drift_api_csv_page_and_command(drifted, client):
    api = _api()
    url = reverse("api-research-drift")
    body = api.get(url, {"start": DAY.isoformat()}).json()
    assert body["sessions"] == [DAY.isoformat()] and body["skipped"] == {}
    totals = body["totals"]
    n = len(drifted["trades"])
    assert (totals["matched"], totals["missed"], totals["extra"]) == (n - 1, 1, 0)
    dearer = [r for r in body["rows"] if r["entry_slippage"] not in (None, "0.00", "0")]
    assert len(dearer) == 1 and Decimal(dearer[0]["entry_slippage"]) == Decimal("0.50")
    assert Decimal(totals["slippage"]) == Decimal("-0.50") * dearer[0]["quantity"]
    (missed,) = [r for r in body["rows"] if r["status"] == "missed"]
    first = drifted["trades"][0].trade
    assert missed["strategy"] == first["strategy_name"]
    assert missed["note"] == "the desk stored no signal of this strategy on that bar"  # no desk ran here
    assert missed["backtest_entry_time"] == first["entry_time"].astimezone(ist(2025, 1, 1).tzinfo).isoformat()

    response = api.get(reverse("api-research-drift-csv"), {"start": DAY.isoformat(), "mode": "PAPER"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert tuple(rows[0]) == ROW_FIELDS and len(rows) == 1 + n
    summary = api.get(reverse("api-research-drift-csv"), {"start": DAY.isoformat(), "table": "summary"})
    lines = list(csv.reader(io.StringIO(b"".join(summary.streaming_content).decode())))
    assert tuple(lines[0]) == ("session", "strategy", *SUMMARY_FIELDS)
    assert [line[:2] for line in lines[1:]] == [[s["session"], s["strategy"]] for s in body["summary"]]
    assert api.get(
        reverse("api-research-drift-csv"), {"start": DAY.isoformat(), "table": "x"}
    ).json().keys() == {"table"}

    client.force_login(user_with_role("viewer", "page-viewer"))
    page = client.get(reverse("research-drift"), {"start": DAY.isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="drift-summary"' in html and html.count('data-status="missed"') == 1

    out = io.StringIO()
    call_command("research", "drift", "--start", DAY.isoformat(), stdout=out)
    assert f"matched {n - 1}, missed 1, extra 0" in out.getvalue()


@pytest.mark.django_db
def test_bad_input_is_a_400_naming_the_field(client):
    api = _api()
    assert api.get(reverse("api-research-drift"), {"start": "soon"}).json().keys() == {"start"}
    bad_end = api.get(reverse("api-research-drift"), {"start": "2026-05-05", "end": "2026-05-01"})
    assert bad_end.status_code == 400 and "end" in bad_end.json()
    assert "mode" in api.get(reverse("api-research-drift"), {"start": "2026-05-05", "mode": "X"}).json()
    assert "start" in api.get(reverse("api-research-drift"), {"start": "0001-01-01"}).json()
    assert api.get(reverse("api-research-deflated-sharpe"), {"runs": "1,x"}).json().keys() == {"runs"}
    assert "runs" in api.get(reverse("api-research-deflated-sharpe"), {"runs": "424242"}).json()
    run = BacktestRun.objects.create(start=date(2026, 5, 4), end=date(2026, 5, 8), status="DONE")
    url = reverse("api-research-monte-carlo", args=[run.pk])
    assert api.get(url, {"method": "guess"}).json().keys() == {"method"}
    assert api.get(url, {"runs": "0"}).status_code == 400
    wf = reverse("api-research-walk-forward")
    query = {
        "strategy": "PCRStrategy",
        "grid": '{"pcr_high": [1.2, 1.4]}',
        "start": "2025-11-17",
        "end": "2025-11-21",
        "in_sample": 3,
        "out_of_sample": 1,
    }
    assert "grid" in api.get(wf, {**query, "grid": "[1, 2]"}).json()
    assert "grid" in api.get(wf, {**query, "grid": '{"no_such": [1]}'}).json()
    huge = json.dumps({f"p{i}": list(range(50)) for i in range(12)})  # 50^12 combinations: refused unbuilt
    assert "at most" in api.get(wf, {**query, "grid": huge}).json()["grid"][0]
    assert "strategy" in api.get(wf, {**query, "strategy": "Nope"}).json()
    assert "in_sample" in api.get(wf, {**query, "in_sample": 9}).json()


def _run_with_trades(nets_by_day: dict[date, list[str]], name: str) -> BacktestRun:
    days = sorted(nets_by_day)
    run = BacktestRun.objects.create(name=name, start=days[0], end=days[-1], status="DONE")
    n = 0
    for d, nets in nets_by_day.items():
        for k, net in enumerate(nets):
            n += 1
            # 1 NIFTY lot of 65 bought at 100: the exit price sets the gross; the services read the
            # stored net (gross - charges), whatever it is.
            exit_price = Decimal("100") + Decimal(net) / 65
            record_trade(
                now=NOW,
                origin=TradeOrigin.ENGINE,
                backtest_run=run,
                **trade_fields(
                    trade_id=f"{name}-{n}",
                    entry_mode="BACKTEST",
                    entry_time=ist(d.year, d.month, d.day, 9, 30 + k),
                    exit_time=ist(d.year, d.month, d.day, 10, 30 + k),
                    exit_price=exit_price.quantize(Decimal("0.05")),
                    expiry_date="2026-05-26",
                ),
            )
    return run


SESSIONS = [date(2026, 5, d) for d in (4, 5, 6, 7, 8, 11, 12, 13)]


@pytest.mark.django_db
def test_monte_carlo_of_a_run_api_page_and_command(client, monkeypatch):
    run = _run_with_trades(
        {
            d: [net]
            for d, net in zip(SESSIONS, ["1300", "-650", "650", "-1300", "1950", "-650", "325", "975"])
        },
        "mc",
    )
    nets = [float(t.net_pnl) for t in run.trades.order_by("exit_time", "id")]
    body = (
        _api()
        .get(reverse("api-research-monte-carlo", args=[run.pk]), {"runs": 200, "seed": 3, "floor": 495000})
        .json()
    )
    want = figures.monte_carlo(nets, runs=200, seed=3, capital=500000.0, floor=495000.0)
    assert body["bands"] == want.bands and body["final_pnl"] == want.final_pnl
    assert body["below_floor"] == want.below_floor and body["steps"] == len(nets) == 8
    boot = _api("trader").get(
        reverse("api-research-monte-carlo", args=[run.pk]), {"method": "bootstrap", "runs": 50}
    )
    assert boot.json()["steps"] == len(SESSIONS)  # every trading day of the run's span

    client.force_login(user_with_role("viewer", "mc-viewer"))
    page = client.get(reverse("research-monte-carlo", args=[run.pk]), {"runs": 100, "floor": 495000})
    assert page.status_code == 200
    assert page.content.decode().count("<polyline") == 3 and 'id="mc-floor"' in page.content.decode()
    out = io.StringIO()
    call_command("research", "montecarlo", "--run", str(run.pk), "--runs", "50", stdout=out)
    assert json.loads(out.getvalue())["steps"] == 8

    monkeypatch.setattr(research_services, "MAX_MONTE_CARLO_CELLS", 8 * 100)  # 100 paths of 8 trades
    url = reverse("api-research-monte-carlo", args=[run.pk])
    operator = _api("operator")
    assert operator.get(url, {"runs": 100}).status_code == 200
    too_many = operator.get(url, {"runs": 101})
    assert too_many.status_code == 400 and too_many.json() == {"runs": ["at most 100 paths of 8 steps"]}
    assert client.get(reverse("research-monte-carlo", args=[run.pk]), {"runs": 101}).status_code == 400


@pytest.mark.django_db
def test_deflated_sharpe_of_the_best_run():
    steady = _run_with_trades(
        {d: [n] for d, n in zip(SESSIONS, ["650", "325", "975", "-325", "650", "325", "650", "-325"])}, "a"
    )
    wild = _run_with_trades(
        {d: [n] for d, n in zip(SESSIONS, ["1950", "-1950", "650", "-1300", "2600", "-650", "325", "-975"])},
        "b",
    )
    body = _api().get(reverse("api-research-deflated-sharpe"), {"runs": f"{steady.pk},{wild.pk}"}).json()
    daily = {r.pk: [float(t.net_pnl) for t in r.trades.order_by("exit_time")] for r in (steady, wild)}
    srs = {pk: figures.period_sharpe(v) for pk, v in daily.items()}
    assert body["best"] == steady.pk == max(srs, key=srs.get)
    want = figures.deflated_sharpe_of_trials(daily[steady.pk], list(srs.values()))
    assert body["deflated_sharpe"]["dsr"] == pytest.approx(want.dsr)
    assert body["deflated_sharpe"]["trials"] == 2

    client = Client()
    client.force_login(user_with_role("viewer", "dsr-viewer"))
    page = client.get(reverse("research-deflated-sharpe"), {"runs": f"{steady.pk},{wild.pk}"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-best="1"' in html and 'id="dsr-value"' in html
    assert client.get(reverse("research-deflated-sharpe"), {"runs": "x"}).status_code == 400


@pytest.mark.slow
@pytest.mark.django_db
def test_walk_forward_study_api_page_and_store(tmp_path):
    query = {
        "strategy": "OpeningRangeBreakoutStrategy",
        "grid": json.dumps({"buffer_em": [0.05, 0.2]}),
        "start": "2025-11-17",
        "end": "2025-11-21",
        "in_sample": 2,
        "out_of_sample": 1,
        "score": "net",
    }
    body = _api().get(reverse("api-research-walk-forward"), query).json()
    assert [s["window"] for s in body["steps"]] == [1, 2, 3]
    assert body["out_of_sample"]["dates"] == ["2025-11-19", "2025-11-20", "2025-11-21"]
    assert body["candidates"] == [{"buffer_em": 0.05}, {"buffer_em": 0.2}]
    assert body["out_of_sample"]["net"] == pytest.approx(sum(s["out_of_sample_net"] for s in body["steps"]))
    assert body["stability"]["windows"] == 3

    # The same sessions recorded into the store give the same study from the store.
    store = MarketDataStore(tmp_path / "wf-store")
    recorder = StoreRecorder(store, flush_every=400)
    for day in SimSource(index="NIFTY", seed=7, start=date(2025, 11, 17)).sim.days(
        date(2025, 11, 17), date(2025, 11, 21)
    ):
        for i in range(len(day)):
            recorder.record(day.bar(i))
    recorder.flush()
    grid = {"buffer_em": [0.05, 0.2]}
    kwargs = dict(strategy="OpeningRangeBreakoutStrategy", grid=grid, start=date(2025, 11, 17))
    kwargs.update(end=date(2025, 11, 21), in_sample=2, out_of_sample=1, score="net")
    from_store = research_services.walk_forward_study(user=None, source="store", store=store, **kwargs)
    assert {**from_store.as_dict(), "source": "sim"} == body
    # A range the store does not hold is refused as such (it read "0 sessions leave no window").
    with pytest.raises(ValueError, match="holds no NIFTY minute bars between 2025-12-01 and 2025-12-05"):
        research_services.walk_forward_study(
            user=None,
            source="store",
            store=store,
            **{**kwargs, "start": date(2025, 12, 1), "end": date(2025, 12, 5)},
        )

    client = Client()
    client.force_login(user_with_role("viewer", "wf-viewer"))
    page = client.get(reverse("research-walk-forward"), query)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<tr><td>") == 3 and 'id="wf-equity"' in html and 'id="wf-best"' in html
    bad = client.get(reverse("research-walk-forward"), {**query, "strategy": "Nope"})
    assert bad.status_code == 400 and "<b>strategy</b>" in bad.content.decode()


@pytest.mark.django_db
def test_the_walkforward_command_draws_its_progress_on_stderr_and_only_json_on_stdout():
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command(
        "research", "walkforward", "--strategy", "OpeningRangeBreakoutStrategy",
        "--grid", json.dumps({"buffer_em": [0.05, 0.2]}), "--start", "2025-11-17", "--end", "2025-11-21",
        "--in-sample", "2", "--out-of-sample", "1", "--progress", stdout=out, stderr=err,
    )  # fmt: skip
    assert json.loads(out.getvalue())["candidates"] == [{"buffer_em": 0.05}, {"buffer_em": 0.2}]
    drawn = err.getvalue()
    assert "candidate 1/2" in drawn and "100.0%  candidate 2/2" in drawn


@pytest.mark.django_db
def test_ctrl_c_in_a_study_ends_the_command_with_one_line(monkeypatch):
    from io import StringIO

    from django.core.management import CommandError, call_command

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(research_services, "walk_forward_study", interrupted)
    with pytest.raises(CommandError, match="^interrupted$") as caught:
        call_command(
            "research", "walkforward", "--strategy", "OpeningRangeBreakoutStrategy",
            "--grid", json.dumps({"buffer_em": [0.05]}), "--start", "2025-11-17", "--end", "2025-11-21",
            "--in-sample", "2", "--out-of-sample", "1", stdout=StringIO(), stderr=StringIO(),
        )  # fmt: skip
    assert caught.value.returncode == 130


def test_csv_cells_escape_text_not_numbers():
    assert _csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _csv_cell(Decimal("-97.50")) == "-97.50"
    assert _csv_cell(-120) == -120 and _csv_cell(None) == ""
    assert _csv_cell(ist(2026, 5, 5, 10, 0)) == "2026-05-05T10:00:00+05:30"


def test_a_sweeps_best_combination_deflated():
    from types import SimpleNamespace as NS

    # Three finished combinations over 2026-05-04..08 (5 sessions) and one that failed; exit times in UTC.
    def equity(*pairs):
        return [[f"2026-05-{day:02d}T05:00:00+00:00", str(cum)] for day, cum in pairs]

    combos = [
        NS(
            number=1, parameters={"a": 1}, status="DONE", equity=equity((4, 100), (5, 50), (7, 400), (8, 300))
        ),
        NS(
            number=2,
            parameters={"a": 2},
            status="DONE",
            equity=equity((4, 80), (5, 40), (6, 190), (7, 220), (8, 310)),
        ),
        NS(number=3, parameters={"a": 3}, status="DONE", equity=equity((5, -100), (8, -50))),
        NS(number=4, parameters={"a": 4}, status="FAILED", equity=[]),
    ]
    sweep = NS(start=date(2026, 5, 4), end=date(2026, 5, 8), combinations=NS(all=lambda: combos))
    got = research_services.sweep_deflated_sharpe(user=None, sweep=sweep)
    daily = np.array([[100, -50, 0, 350, -100], [80, -40, 150, 30, 90], [0, -100, 0, 0, 50]], dtype=float)
    srs = [row.mean() / row.std(ddof=1) for row in daily]
    assert got["best"] == 2 and got["parameters"] == {"a": 2} and got["trials"] == 3
    want = figures.deflated_sharpe_of_trials(daily[1], srs)
    assert got["deflated_sharpe"]["dsr"] == pytest.approx(want.dsr)


def test_a_study_where_nothing_traded_is_valid_json():
    sessions = [date(2026, 5, d) for d in (4, 5, 6, 7)]
    pnl = np.zeros((2, 4))  # no trades: no Sharpe ratio in any window
    windows = figures.walk_forward_windows(4, in_sample=2, out_of_sample=1)
    study = research_services.WalkForwardStudy(
        strategy="S",
        index="NIFTY",
        seed=7,
        sessions=sessions,
        candidates=[{"a": 1}, {"a": 2}],
        pnl=pnl,
        result=figures.walk_forward(pnl, windows),
        best=0,
        deflated=None,
    )
    data = json.loads(json.dumps(study.as_dict(), allow_nan=False))
    assert [s["in_sample_score"] for s in data["steps"]] == [None, None]


@pytest.mark.django_db
def test_the_sweep_page_shows_the_deflated_sharpe_of_its_best(client):
    from trading.execution.models import Sweep, SweepCombination

    sweep = Sweep.objects.create(
        strategy="PCRStrategy", start=date(2026, 5, 4), end=date(2026, 5, 8), seed=7, objective="net_pnl",
        space={"a": [1, 2, 3]}, total=3, done=3, status="DONE",
    )  # fmt: skip
    curves = {
        1: ((4, 100), (5, 50), (7, 400), (8, 300)),  # net 300: the best by the objective
        2: ((4, 80), (5, 40), (6, 190), (7, 220), (8, 290)),  # net 290, the steadier
        3: ((5, -100), (8, -50)),
    }
    for number, curve in curves.items():
        SweepCombination.objects.create(
            sweep=sweep, number=number, parameters={"a": number}, status="DONE",
            net_pnl=Decimal(curve[-1][1]), equity=[[f"2026-05-{d:02d}T05:00:00+00:00", str(c)] for d, c in curve],
        )  # fmt: skip
    daily = np.array([[100, -50, 0, 350, -100], [80, -40, 150, 30, 70], [0, -100, 0, 0, 50]], dtype=float)
    srs = [row.mean() / row.std(ddof=1) for row in daily]
    want = figures.deflated_sharpe_of_trials(daily[0], srs)  # the objective's best, not the best Sharpe
    client.force_login(user_with_role("viewer", "sweep-viewer"))
    html = client.get(reverse("sweep-detail", args=[sweep.pk])).content.decode()
    assert "combination #1" in html
    assert f'<b id="sweep-dsr">{want.dsr * 100:.1f}%</b>' in html
