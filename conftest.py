"""Suite-wide test set-up."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_setup(item):
    """Service tests need DATABASE_URL (PostgreSQL) and REDIS_URL. In CI they must run: missing
    services fail there; on a bare laptop (SQLite, no Redis) they are skipped."""
    if not item.get_closest_marker("services"):
        return
    have_pg = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    have_redis = bool(os.environ.get("REDIS_URL"))
    if have_pg and have_redis:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI must run this against PostgreSQL and Redis: DATABASE_URL/REDIS_URL are not set")
    pytest.skip("needs DATABASE_URL=postgres://... and REDIS_URL")


@pytest.fixture(autouse=True)
def _isolated_spool(tmp_path, settings):
    """Each test gets its own trade spool file."""
    settings.TRADE_SPOOL_PATH = tmp_path / "spool.jsonl"
    yield


# The parts of the suite with a budget of their own inside CI (the developers' guide: the fault suite
# 6 minutes, schemathesis 3, the Prometheus panel check 3, the browser tests together 6). Each test's
# setup + call + teardown counts towards the first part whose path fragment its node id contains.
BUDGETS = (
    ("fault suite", "tests/faults/", 6 * 60),
    ("schemathesis", "test_schemathesis", 3 * 60),
    ("Prometheus panel check", "panel", 3 * 60),
    ("browser tests", "tests/browser/", 6 * 60),
)
_spent: dict[str, float] = {}


_figures: list[str] = []


def pytest_runtest_logreport(report):
    """Counts the budgeted parts' time; keeps the figures a test records (``record_property("figures",
    ...)``, e.g. schemathesis' counts) for the summary, so CI's log shows them."""
    if report.when == "call":
        _figures.extend(str(value) for key, value in report.user_properties if key == "figures")
    for name, fragment, _ in BUDGETS:
        if fragment in report.nodeid:
            _spent[name] = _spent.get(name, 0.0) + report.duration
            return


def pytest_terminal_summary(terminalreporter):
    for line in _figures:
        terminalreporter.write_line(f"figures: {line}")
    if not _spent:
        return
    terminalreporter.write_line("time spent by the budgeted parts of the suite:")
    for name, _, budget in BUDGETS:
        if name in _spent:
            over = "  OVER BUDGET" if _spent[name] > budget else ""
            terminalreporter.write_line(f"  {name}: {_spent[name]:.0f} s of {budget} s{over}")
