"""The pure analytics modules import no Django (they run in backtests, scripts and Celery alike)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module", ["analytics.returns", "analytics.stats", "analytics.attribution", "analytics.buckets"]
)
def test_module_imports_without_django(module):
    code = f"import {module}, sys; assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no DJANGO_SETTINGS_MODULE either
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
