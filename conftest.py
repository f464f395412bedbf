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
