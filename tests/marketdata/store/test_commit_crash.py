"""One file's import is all or nothing across its partitions, through a crash too: the import
killed (SIGKILL) or interrupted (SIGINT; SIGTERM to ``manage.py marketdata import``) between the
renames of its partitions - a real process, held right after the first rename - leaves the store with
the whole file once it is opened again, never the file's spot minutes with the chain minutes of
before; killed before its commit, it leaves the store as before and nothing the next writer keeps."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import script_process
from tests.marketdata.store.conftest import import_simulated
from trading.core.simulator import MarketSimulator
from trading.marketdata.replay import day_to_rows, format_rows
from trading.marketdata.store.importer import import_file
from trading.marketdata.store.store import MarketDataStore

ROOT = Path(__file__).resolve().parents[3]
SESSION = date(2025, 2, 5)
KINDS = ("spot_minute", "chain_minute")

# A process of its own holds (60 s) right after the first partition of a file is renamed in:
# ``os.replace`` wrapped, nothing else of the store's code changed. Then what it runs follows.
HOLD = """
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as from a terminal, wherever run

root, path, reached = {args}
real, renamed = os.replace, []

def held(src, dst):
    real(src, dst)
    if str(dst).endswith(".parquet"):
        renamed.append(dst)
        if len(renamed) == 1:
            Path(reached).write_text(str(dst))
            time.sleep(60)

os.replace = held
"""
# The import of one file (the importer's function).
CHILD = (
    HOLD
    + """
from trading.marketdata.store.importer import import_file
from trading.marketdata.store.store import MarketDataStore
print("ok" if import_file(MarketDataStore(root), "minute", path).ok else "refused", flush=True)
"""
)


def _partitions(root: Path) -> dict[str, pd.DataFrame | None]:
    store = MarketDataStore.__new__(MarketDataStore)  # reads only: no recovery on the way
    store.root = root
    return {k: store.read_partition(k, "NIFTY", SESSION) for k in KINDS}


def _same(a: dict, b: dict) -> bool:
    return all(a[k] is not None and b[k] is not None and a[k].equals(b[k]) for k in KINDS)


@pytest.fixture(scope="module")
def built_scene(tmp_path_factory):
    """A store holding the session (seed 7), the file of the same session with other prices (seed 8),
    and the partitions the store should hold before and after that file (imported without a stop
    into stores of their own). Built once for the module; each test gets its own copy (``scene``)."""
    work = tmp_path_factory.mktemp("scene")
    import_simulated(MarketDataStore(work / "store"), work, SESSION, seed=7)
    new_file = work / "new.csv"
    new_file.write_text(
        format_rows(day_to_rows(MarketSimulator(seed=8, start=date(2025, 1, 1)).day(SESSION)))
    )
    before, after = work / "before", work / "after"
    import_simulated(MarketDataStore(before), work, SESSION, seed=7)
    import_simulated(MarketDataStore(after), work, SESSION, seed=7)
    assert import_file(MarketDataStore(after), "minute", new_file).ok  # merged into the stored rows
    return work / "store", new_file, _partitions(before), _partitions(after)


@pytest.fixture
def scene(tmp_path, built_scene):
    """``built_scene`` with the store and the file copied into this test's own directory."""
    store, new_file, before, after = built_scene
    root = tmp_path / "store"
    shutil.copytree(store, root)
    shutil.copyfile(new_file, tmp_path / "new.csv")
    return root, tmp_path / "new.csv", before, after


def _source(template: str, tmp_path: Path, root: Path, new_file: Path) -> str:
    return template.replace("{args}", repr((str(root), str(new_file), str(tmp_path / "reached"))))


def _wait_held(child: subprocess.Popen, tmp_path: Path) -> None:
    """Until ``child`` is held (it wrote ``reached``); fails if it ends or takes over 60 s."""
    deadline = time.monotonic() + 60
    while not (tmp_path / "reached").exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "reached").exists(), f"the import was never held (exit {child.poll()})"


def _held_import(tmp_path: Path, root: Path, new_file: Path) -> subprocess.Popen:
    child = script_process(tmp_path, _source(CHILD, tmp_path, root, new_file))
    _wait_held(child, tmp_path)
    return child


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp"))


def test_an_import_killed_between_its_renames_is_finished_when_the_store_is_opened(tmp_path, scene):
    root, new_file, before, after = scene
    child = _held_import(tmp_path, root, new_file)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    half = _partitions(root)
    # The crash left half a file on disk: one partition new, the other as before.
    assert sum(half[k].equals(after[k]) for k in KINDS) == 1
    assert sum(half[k].equals(before[k]) for k in KINDS) == 1
    assert (root / ".commit").exists()

    opened = MarketDataStore(root)  # any reader or writer opening the store
    assert _same(_partitions(root), after)
    assert not (root / ".commit").exists() and _leftovers(root) == []
    again = import_file(opened, "minute", new_file)
    assert again.ok and again.written == 0  # the whole file is in: importing it again changes nothing
    assert _same(_partitions(root), after)


def test_an_import_interrupted_between_its_renames_finishes_them_before_it_stops(tmp_path, scene):
    root, new_file, before, after = scene
    child = _held_import(tmp_path, root, new_file)
    os.kill(child.pid, signal.SIGINT)  # Ctrl-C
    assert child.wait(timeout=30) != 0
    assert child.stdout.read() == ""  # it stopped: the import did not report
    assert _same(_partitions(root), after)  # read as it is: nothing left to recover
    assert not (root / ".commit").exists() and _leftovers(root) == []


def test_a_failed_stage_leaves_nothing_and_a_journal_of_another_commit_is_kept(tmp_path, scene):
    """``discard`` deletes what was staged, except the temporaries a decided commit still needs."""
    root, new_file, before, after = scene
    store = MarketDataStore(root)
    frame = after["spot_minute"]
    with store.lock():
        staged = [store.stage("spot_minute", "NIFTY", SESSION, frame)]
        (root / ".commit").write_text(f'[["{staged[0].temp.relative_to(root)}", "x.parquet"]]')
        store.discard(staged)
        assert staged[0].temp.exists()  # named by the journal: its commit finishes at recovery
        (root / ".commit").unlink()
        store.discard(staged)
        assert not staged[0].temp.exists()
    assert _same(_partitions(root), before) and _leftovers(root) == []


# The same hold inside ``manage.py marketdata import``, stopped by SIGTERM as a service manager would.
COMMAND = (
    HOLD
    + """
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "marketdata", "--dir", root, "import", "minute", path, "--quiet"])
"""
)


def test_the_import_command_stopped_between_its_renames_says_so_and_keeps_the_file_whole(tmp_path, scene):
    root, new_file, before, after = scene
    script = tmp_path / "command.py"
    script.write_text(_source(COMMAND, tmp_path, root, new_file))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "DEBUG": "1"}
    env |= {"VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    child = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_held(child, tmp_path)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode != 0 and "Traceback" not in err
    assert "after 0 of 1 file(s) were read" in err and "stored whole or not at all" in err
    assert _same(_partitions(root), after)
    assert not (root / ".commit").exists() and _leftovers(root) == []


# The import held in its commit before anything of it is renamed (every partition staged).
STAGED = """
import sys, time
from pathlib import Path
from trading.marketdata.store.importer import import_file
from trading.marketdata.store.store import MarketDataStore

root, path, reached = {args}

def held(self, staged):
    Path(reached).write_text(str(len(staged)))
    time.sleep(60)

MarketDataStore.commit = held
import_file(MarketDataStore(root), "minute", path)
"""


def test_an_import_killed_before_its_commit_leaves_the_store_as_before_and_no_litter(tmp_path, scene):
    root, new_file, before, after = scene
    child = script_process(tmp_path, _source(STAGED, tmp_path, root, new_file))
    _wait_held(child, tmp_path)
    assert (tmp_path / "reached").read_text() == "2"  # both partitions staged
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert len(_leftovers(root)) == 2 and _same(_partitions(root), before)
    with MarketDataStore(root).lock():  # the next writer
        pass
    assert _leftovers(root) == [] and _same(_partitions(root), before)
