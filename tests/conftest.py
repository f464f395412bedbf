"""Fixtures of the whole suite."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings


@pytest.fixture(scope="session", autouse=True)
def _quick_password_hashing():
    """Passwords hashed with ``tests.helpers.QuickPBKDF2PasswordHasher`` (the same algorithm, fewer
    rounds); the default hashers stay listed after it, so every stored hash still verifies."""
    with override_settings(
        PASSWORD_HASHERS=["tests.helpers.QuickPBKDF2PasswordHasher", *settings.PASSWORD_HASHERS]
    ):
        yield
