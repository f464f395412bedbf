"""/api/docs/ without internet, without a browser: the page names no other host and every file it
loads (Swagger UI from static/vendor, the favicon) is served by the project; the site's favicon is
linked from every page and /favicon.ico leads to it. (tests/browser opens /api/docs/ offline too.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest

from tests.helpers import user_with_role

pytestmark = pytest.mark.django_db

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.fixture
def user_client(client):
    client.force_login(user_with_role("viewer", "reader"))
    return client


def test_the_docs_page_names_no_other_host_and_every_file_is_served_here(user_client):
    page = user_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert URL.findall(html) == []  # no absolute URL at all: no CDN, no online validator
    assert '"validatorUrl": null' in html
    links = links_of(html)
    scripts = [link for link in links if link.endswith(".js")]
    assert any("swagger-ui-bundle" in link for link in scripts), links
    assert any("favicon" in link for link in links)
    for link in links:
        assert not urlparse(link).netloc and link.startswith("/"), link
        served = user_client.get(link)
        assert served.status_code == 200, link
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert body, link
    schema = user_client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi" in schema.content


def test_the_site_has_its_own_favicon(user_client):
    home = user_client.get("/journal/")
    assert home.status_code == 200
    [icon] = [link for link in links_of(home.content.decode()) if link.endswith("favicon.svg")]
    served = user_client.get(icon)
    assert served.status_code == 200 and served["Content-Type"].startswith("image/svg+xml")
    body = b"".join(served.streaming_content) if served.streaming else served.content
    assert body.startswith(b"<svg") and len(body) < 2048
    redirect = user_client.get("/favicon.ico")  # what browsers ask for on pages without the link
    assert redirect.status_code == 301 and redirect["Location"] == icon
