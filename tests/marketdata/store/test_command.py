"""`manage.py marketdata`: import with a progress bar, list, verify, eod as JSON; refusals exit non-zero."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from tests.marketdata.store.conftest import (
    INDEX_CLOSE_FILE,
    MD,
    OLD_FILE,
    REPLAY_FILE,
    UDIFF_FILE,
    snapshot_files,
)
from trading.marketdata.store.store import MarketDataStore


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("marketdata", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_list_verify_and_eod(tmp_path, settings) -> None:
    settings.MARKETDATA_DIR = tmp_path / "md"
    out, _ = run("import", "bhavcopy", str(OLD_FILE), str(UDIFF_FILE))
    assert "100.0%" in out and "[####" in out  # the progress bar
    assert "2 of 2 file(s) imported" in out and "4 other rows skipped" in out
    out, _ = run("import", "bhavcopy", str(OLD_FILE))
    assert "unchanged (already in the store)" in out
    run("import", "index-close", "--index", "NIFTY", str(INDEX_CLOSE_FILE))
    run("import", "minute", "--quiet", str(REPLAY_FILE))
    out, _ = run("eod", "--index", "NIFTY", "--date", "2024-01-05")
    data = json.loads(out)
    assert data["pcr"] == 0.96875 and data["max_pain"] == 21700 and data["atm_strike"] == 21700
    assert data["spot"] == 21710.8 and data["spot_source"] == "index_close" and data["expiry"] == "2024-01-11"
    assert 0 < data["atm_iv"] < 1
    out, _ = run("list", "--json")
    kinds = {(r["kind"], r["index"]): r for r in json.loads(out)}
    assert (
        kinds[("chain_eod", "NIFTY")]["partitions"] == 2 and kinds[("chain_minute", "NIFTY")]["rows"] == 1320
    )
    out, _ = run("verify", "--index", "NIFTY")
    assert "2025-10-06  minute 30/375 bars: missing_minutes 345 (09:45-15:29)" in out
    # 120 weekdays and the Saturday session of 2024-01-20 (special_sessions.csv)
    assert "chain_eod: 121 trading day(s) missing: 2024-01-08..2024-07-05" in out
    report = json.loads(run("verify", "--index", "NIFTY", "--json")[0])
    assert {s["session"] for s in report["sessions"]} == {"2024-01-05", "2024-07-08", "2025-10-06"}


def test_a_refused_file_is_reported_and_stores_nothing(tmp_path, settings) -> None:
    settings.MARKETDATA_DIR = tmp_path / "md"
    lines = OLD_FILE.read_text().splitlines()
    lines[4] = lines[4].replace("10-Jan-2024", "10/01/2024")
    bad = tmp_path / "fo05JAN2024bhav.csv"
    bad.write_text("\n".join(lines) + "\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command(
            "marketdata", "import", "bhavcopy", str(bad), str(UDIFF_FILE), stdout=io.StringIO(), stderr=err
        )
    assert "line 5: EXPIRY_DT '10/01/2024' is not a date" in err.getvalue()
    store = MarketDataStore(tmp_path / "md")
    assert store.sessions("chain_eod", "NIFTY") == [date(2024, 7, 8)]
    assert all("2024-01-05" not in name for name in snapshot_files(store))


def test_ctrl_c_mid_import_says_what_is_stored_in_one_line(tmp_path, settings, monkeypatch) -> None:
    """Ctrl-C while the second file is read: the first is in the store, the second is not, and the
    command ends with one line and 130 (it was a traceback)."""
    from trading.marketdata.store import importer

    settings.MARKETDATA_DIR = tmp_path / "md"
    real = importer.import_file

    def interrupted(store, what, path, **kwargs):
        if str(path) == str(UDIFF_FILE):
            raise KeyboardInterrupt
        return real(store, what, path, **kwargs)

    monkeypatch.setattr(importer, "import_file", interrupted)
    with pytest.raises(CommandError, match="interrupted after 1 of 2 file") as caught:
        run("import", "bhavcopy", str(OLD_FILE), str(UDIFF_FILE))
    assert caught.value.returncode == 130
    assert "the file being read was stored whole or not at all" in str(caught.value)
    assert MarketDataStore(tmp_path / "md").sessions("chain_eod", "NIFTY") == [date(2024, 1, 5)]


def test_usage_errors(tmp_path, settings) -> None:
    settings.MARKETDATA_DIR = tmp_path / "md"
    with pytest.raises(CommandError, match="--mapping applies to `import minute` only"):
        run("import", "bhavcopy", "--mapping", "x.toml", str(OLD_FILE))
    with pytest.raises(CommandError, match="no end-of-day NIFTY chain for 2024-01-08"):
        run("eod", "--index", "NIFTY", "--date", "2024-01-08")
    with pytest.raises(CommandError, match="unknown index"):
        run("eod", "--index", "NIFTYX", "--date", "2024-01-08")
    with pytest.raises(CommandError, match="no such mapping file"):
        run("import", "minute", "--mapping", str(tmp_path / "none.toml"), str(REPLAY_FILE))
    # A directory stands for its csv/zip files: the two bhavcopies import, the daily CSVs are refused.
    with pytest.raises(CommandError, match="2 of 4 file"):
        run("import", "bhavcopy", "--quiet", str(MD))
