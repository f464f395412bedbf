"""Tradebook legs grouped into combos: a real-layout Zerodha Console tradebook (its header, its
columns, fills split across exchange trades) holding two combos and single legs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from journal import combo_grouping, importers
from journal.import_services import check_combos, import_commit, import_preview
from journal.models import Combo, ImportBatch, Trade
from tests.helpers import user_with_role

from .test_import import HEADER, row

pytestmark = pytest.mark.django_db

CE, PE = "NIFTY2651224000CE", "NIFTY2651224000PE"
PE_LOW = "NIFTY2651223800PE"
CE_HIGH = "NIFTY2651224200CE"
BANK = "BANKNIFTY26MAY52000CE"  # monthly, expiry Tuesday 2026-05-26, lot 30

# 09:20:05 / 09:20:09 - a short straddle, two orders 4 s apart (the CE filled in two exchange
#                       trades), both bought back at 11:00;
# 09:20:07            - a BANKNIFTY call in the same seconds: another underlying, a single leg;
# 10:15:00 / 10:15:20 - a bull put spread, legs 20 s apart, closed at 14:00;
# 12:30               - a single NIFTY call, bought and sold.
TRADEBOOK = (
    "\n".join(
        (
            HEADER,
            row(CE, "sell", 65, "150.00", "T1", "A1", "09:20:05"),
            row(CE, "sell", 65, "150.00", "T2", "A1", "09:20:05"),
            row(BANK, "buy", 30, "400.00", "T3", "A3", "09:20:07", expiry="2026-05-26"),
            row(PE, "sell", 130, "140.00", "T4", "A2", "09:20:09"),
            row(PE_LOW, "buy", 65, "60.00", "T5", "B1", "10:15:00"),
            row(PE, "sell", 65, "138.00", "T6", "B2", "10:15:20"),
            row(BANK, "sell", 30, "430.00", "T7", "A4", "09:50:00", expiry="2026-05-26"),
            row(CE, "buy", 130, "120.00", "T8", "A5", "11:00:00"),
            row(PE, "buy", 130, "150.00", "T9", "A6", "11:00:02"),
            row(CE_HIGH, "buy", 65, "40.00", "T10", "C1", "12:30:00"),
            row(CE_HIGH, "sell", 65, "45.00", "T11", "C2", "13:00:00"),
            row(PE_LOW, "sell", 65, "30.00", "T12", "B3", "14:00:00"),
            row(PE, "buy", 65, "100.00", "T13", "B4", "14:00:01"),
        )
    )
    + "\n"
).encode()


def _symbols(preview, combo: list[str]) -> list[str]:
    by_id = {t.values["trade_id"]: t.values for t in preview.trades}
    return [f"{by_id[tid]['tradingsymbol']}@{by_id[tid]['entry_price']}" for tid in combo]


def test_two_combos_and_single_legs_grouped_right():
    preview = import_preview(content=TRADEBOOK, filename="tradebook.csv", combo_window=60)
    assert preview.ok, preview.errors
    # The PE sold at 09:20:09 (140) and at 10:15:20 (138) are two round trips of one contract: FIFO
    # closes the first at 11:00:02, and the second (with its leftover) at 14:00:01.
    assert len(preview.trades) == 6
    assert [_symbols(preview, c) for c in preview.combos] == [
        [f"{CE}@150.00", f"{PE}@140.00"],
        [f"{PE_LOW}@60.00", f"{PE}@138.00"],
    ]
    singles = sorted(t.values["tradingsymbol"] for t in preview.trades if t.combo is None)
    assert singles == [BANK, CE_HIGH]
    assert sorted(t.combo for t in preview.trades if t.combo) == [1, 1, 2, 2]


def test_the_window_is_configurable():
    # 10 s: the straddle's legs (4 s apart) stay together, the spread's (20 s) do not.
    preview = import_preview(content=TRADEBOOK, filename="tradebook.csv", combo_window=10)
    assert [_symbols(preview, c) for c in preview.combos] == [[f"{CE}@150.00", f"{PE}@140.00"]]
    # The window is anchored at a group's first entry: three legs 40 s apart in a chain are not one
    # group at 60 s, only the first two.
    parsed = importers.parse_file(TRADEBOOK)
    raw = [t.raw for t in parsed.trades]
    base = min(r["entry_time"] for r in raw)
    chained = [
        importers.ParsedTrade(
            raw={"symbol": "NIFTY", "tradingsymbol": s, "entry_time": base + timedelta(seconds=40 * i)},
            lines=(i,),
        )
        for i, s in enumerate(("A", "B", "C"))
    ]
    assert combo_grouping.group_combos(chained, timedelta(seconds=60)) == [(0, 1)]
    with pytest.raises(ValueError):
        combo_grouping.group_combos(chained, timedelta(seconds=-1))


def test_one_contract_at_two_prices_is_not_a_combo():
    same = [
        importers.ParsedTrade(raw={"symbol": "NIFTY", "tradingsymbol": CE, "entry_time": t}, lines=(1,))
        for t in (importers.parse_file(TRADEBOOK).trades[0].raw["entry_time"],) * 2
    ]
    assert combo_grouping.group_combos(same, timedelta(seconds=60)) == []


def test_the_users_grouping_is_checked():
    preview = import_preview(content=TRADEBOOK, filename="tradebook.csv")
    ids = {
        t.values["tradingsymbol"] + "@" + str(t.values["entry_price"]): t.values["trade_id"]
        for t in preview.trades
    }
    bank, high = ids[f"{BANK}@400.00"], ids[f"{CE_HIGH}@40.00"]
    straddle = preview.combos[0]
    assert check_combos(preview.trades, [straddle + [high]]) is None
    assert "at least two" in check_combos(preview.trades, [[high]])
    assert "mixes underlyings" in check_combos(preview.trades, [[high, bank]])
    assert "two combos" in check_combos(preview.trades, [straddle, [straddle[0], high]])
    assert "not a trade" in check_combos(preview.trades, [[high, "ZT-nope"]])
    mine = import_preview(content=TRADEBOOK, filename="tradebook.csv", combos=[straddle + [high]])
    assert mine.ok and [len(c) for c in mine.combos] == [3]
    bad = import_preview(content=TRADEBOOK, filename="tradebook.csv", combos=[[high, bank]])
    assert not bad.ok


def test_the_preview_page_shows_the_grouping_and_regroups(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    client.force_login(user_with_role("trader"))
    upload = SimpleUploadedFile("tradebook.csv", TRADEBOOK, content_type="text/csv")
    page = client.post("/journal/import/", {"file": upload, "combo_window": 60})
    text = page.content.decode()
    assert page.status_code == 200
    assert "2 combos" in text and text.count('class="combo"') == 6
    sha = page.context["preview"].sha256
    again = client.post("/journal/import/confirm/", {"sha256": sha, "action": "regroup", "combo_window": 10})
    assert again.status_code == 200 and len(again.context["preview"].combos) == 1


def test_confirming_stores_each_combo_with_its_legs_and_payoff():
    result = import_commit(content=TRADEBOOK, filename="tradebook.csv")
    assert result.added == 6
    combos = {c.legs[0]["instrument"] + c.legs[1]["instrument"]: c for c in Combo.objects.all()}
    assert set(combos) == {"CEPE", "PEPE"}
    straddle, spread = combos["CEPE"], combos["PEPE"]
    # The straddle: 2 lots of each, sold at 150 and 140 -> 290 x 130 = 37,700 at most; loss unlimited.
    assert (straddle.max_profit, straddle.max_loss) == (D("37700.00"), None)
    assert straddle.breakevens == [23710.0, 24290.0] and straddle.payoff_known
    # The spread: bought 23,800 PE at 60, sold 24,000 PE at 138: credit 78 x 65 = 5,070; the loss
    # (200 - 78) x 65 = 7,930; breakeven 24,000 - 78.
    assert (spread.max_profit, spread.max_loss) == (D("5070.00"), D("-7930.00"))
    assert spread.breakevens == [23922.0]
    for combo in (straddle, spread):
        legs = Trade.objects.filter(combo=combo)
        assert legs.count() == 2
        assert combo.net_pnl == sum(t.net_pnl for t in legs) and combo.gross_pnl == sum(
            t.gross_pnl for t in legs
        )
        assert (combo.status, combo.entry_mode, combo.data_source, combo.product) == (
            "CLOSED",
            "LIVE",
            "KITE",
            "MIS",
        )
        assert combo.entry_time == min(t.entry_time for t in legs) and combo.exit_time == max(
            t.exit_time for t in legs
        )
    assert Trade.objects.filter(combo__isnull=True).count() == 2  # the BANKNIFTY call and the 24,200 call


def test_the_users_grouping_is_what_is_stored(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    client.force_login(user_with_role("trader", "grouper"))
    upload = SimpleUploadedFile("tradebook.csv", TRADEBOOK, content_type="text/csv")
    preview = client.post("/journal/import/", {"file": upload}).context["preview"]
    ids = {
        t.values["tradingsymbol"] + "@" + str(t.values["entry_price"]): t.values["trade_id"]
        for t in preview.trades
    }
    # Keep the straddle as combo 1, break the spread up, put the 24,200 call with the straddle.
    form = {"sha256": preview.sha256, "action": "import", f"combo-{ids[f'{CE_HIGH}@40.00']}": "1"}
    for tid in preview.combos[0]:
        form[f"combo-{tid}"] = "1"
    answer = client.post("/journal/import/confirm/", form)
    assert answer.status_code == 302, answer.content[:500]
    (combo,) = Combo.objects.all()
    assert sorted(Trade.objects.filter(combo=combo).values_list("tradingsymbol", flat=True)) == sorted(
        [CE, PE, CE_HIGH]
    )
    # A grouping mixing underlyings is refused and imports nothing.
    Trade.objects.all().delete()
    Combo.objects.all().delete()
    ImportBatch.objects.all().delete()
    upload = SimpleUploadedFile("tradebook.csv", TRADEBOOK, content_type="text/csv")
    preview = client.post("/journal/import/", {"file": upload}).context["preview"]
    bad = {
        "sha256": preview.sha256,
        "action": "import",
        f"combo-{ids[f'{BANK}@400.00']}": "1",
        f"combo-{ids[f'{CE_HIGH}@40.00']}": "1",
    }
    answer = client.post("/journal/import/confirm/", bad)
    assert answer.status_code == 400 and "mixes underlyings" in answer.content.decode()
    assert not Trade.objects.exists() and not Combo.objects.exists()
