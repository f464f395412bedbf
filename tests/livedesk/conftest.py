"""Fixtures of the live desk's tests: the engine tests' simulated session and paper desk."""

from __future__ import annotations

from tests.engine.conftest import _fresh_desks, paper_desk, source  # noqa: F401 - fixtures
