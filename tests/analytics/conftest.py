"""Fixtures of the analytics tests."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.helpers import user_with_role


@pytest.fixture
def api():
    """An API client logged in as a viewer (the fewest rights that read analytics)."""
    client = APIClient()
    client.force_authenticate(user_with_role("viewer", "analyst"))
    return client
