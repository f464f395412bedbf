"""/api/docs/ in a real browser with the internet cut off: every request to another host is aborted
and counted; Swagger UI still draws the API's operations."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "docs-pw-1"


def test_swagger_ui_draws_the_api_without_internet(page, screenshot_dir) -> None:
    User.objects.create_user("reader", password=PASSWORD)
    here = urlparse(page.base_url).netloc
    elsewhere: list[str] = []

    def offline(route) -> None:
        if urlparse(route.request.url).netloc == here:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(page.base_url + "/accounts/login/?next=/api/docs/")
    page.fill("input[name=username]", "reader")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/api/docs/$"))
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert "Options desk API" in page.locator(".swagger-ui .info .title").inner_text()
    page.screenshot(path=str(screenshot_dir / "api-docs.png"))
    assert elsewhere == []
