"""Project-wide promises: the pure core imports no Django; settings refuse unsafe starts."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import trading.core

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "foundation-tests-" + "0123456789abcdef" * 4  # strong enough for DEBUG off


def _core_modules() -> list[str]:
    names = [
        "journal.accumulator",
        "analytics.stats",
        "analytics.returns",
        "journal.buckets",
        "analytics.research",
        "analytics.drift",
    ]
    for info in pkgutil.walk_packages(trading.core.__path__, "trading.core."):
        names.append(info.name)
    return names


def test_core_and_stats_import_no_django():
    code = (
        "import importlib, sys\n"
        f"for name in {_core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(bad))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Django imported by the pure core: {out.stdout}"


def _start(env_over: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "TESTING")}
    env.update(env_over)
    code = "import django; django.setup(); from django.conf import settings; print(settings.TRADING_MODE)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_refuses_to_start_with_debug_off_and_no_secret_key(tmp_path):
    out = _start({"DEBUG": "0", "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "tradingsite.settings"})
    assert out.returncode != 0
    assert "SECRET_KEY" in out.stderr


def test_development_key_is_generated_once_and_kept(tmp_path):
    env = {"DEBUG": "1", "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "tradingsite.settings"}
    assert _start(env).returncode == 0
    key = (tmp_path / "dev_secret_key").read_text()
    assert len(key) > 40
    assert _start(env).stdout.strip() == "PAPER"
    assert (tmp_path / "dev_secret_key").read_text() == key


def test_trading_mode_defaults_to_paper_and_rejects_nonsense(tmp_path):
    env = {
        "SECRET_KEY": STRONG_KEY,
        "VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
    }
    assert _start(env).stdout.strip() == "PAPER"
    out = _start(env | {"TRADING_MODE": "YOLO"})
    assert out.returncode != 0 and "TRADING_MODE" in out.stderr
