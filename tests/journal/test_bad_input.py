"""Bad input is a 400 naming the field, never a server error (issue 11, item 7). Each case here was a
500 (on PostgreSQL: time-zone offsets of 16 hours or more, NUL characters) or was accepted when it
should not be (``a/b`` as a trade id, a right-to-left override in a tag, ``?mode=``)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from journal.cursor import encode_cursor
from journal.models import Trade
from tests.helpers import trade_fields, user_with_role
from tests.journal.api_data import make_engine_rows, make_journal
from trading.strategies.services import ensure_strategy_configs

pytestmark = pytest.mark.django_db

TRADE_GETS = (
    "/api/trades/",
    "/api/trades/history",
    "/api/trades/totals",
    "/api/trades/export.csv",
    "/api/trades/export.xlsx",
)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_with_role("operator"))
    return client


@pytest.fixture
def journal():
    return make_journal(6)


def _body(**over) -> dict:
    fields = {k: str(v) for k, v in trade_fields(trade_id="BAD-1").items()}
    fields.update(quantity=65, entry_time="2026-05-05T09:30:00+05:30", exit_time="2026-05-05T10:45:00+05:30")
    fields.update(over)
    return fields


def _names(response) -> set[str]:
    assert response.status_code == 400, (response.status_code, getattr(response, "content", b"")[:300])
    return set(response.json())


# --- time-zone offsets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", TRADE_GETS)
@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59", "-22:44"])
def test_an_offset_of_16_hours_or_more_in_a_filter_is_a_400_naming_it(api, journal, url, offset):
    for name in ("exit_from", "exit_to"):
        assert name in _names(api.get(url, {name: f"2026-05-05T10:00:00{offset}"}))


@pytest.mark.parametrize("url", TRADE_GETS)
def test_an_offset_under_16_hours_is_fine(api, journal, url):
    response = api.get(
        url, {"exit_from": "2026-05-04T10:00:00-15:59", "exit_to": "2026-05-30T10:00:00+15:59"}
    )
    assert response.status_code == 200


def test_the_journal_page_refuses_the_offset_too(client, journal):
    client.force_login(user_with_role("viewer"))
    response = client.get("/journal/", {"exit_from": "2026-05-05T10:00:00+16:00"})
    assert response.status_code == 400 and "exit_from" in response.context["form"].errors


@pytest.mark.parametrize("name", ["entry_time", "exit_time"])
def test_an_offset_of_16_hours_in_a_posted_time_is_a_400_naming_it(api, name):
    assert name in _names(
        api.post("/api/trades/", _body(**{name: "2026-05-05T09:30:00+16:00"}), format="json")
    )
    assert not Trade.objects.exists()


def test_a_cursor_with_such_an_offset_is_a_400(api, journal):
    cursor = encode_cursor({"t": "2026-05-05T10:00:00+16:00", "i": 5})
    assert _names(api.get("/api/trades/", {"cursor": cursor})) == {"cursor"}


# --- NUL characters -------------------------------------------------------------------------------------------


def test_nul_in_a_posted_trade_id_or_note_is_a_400_naming_it(api):
    assert _names(api.post("/api/trades/", _body(trade_id="T\x00-1"), format="json")) == {"trade_id"}
    assert _names(api.post("/api/trades/", _body(notes="a\x00b"), format="json")) == {"notes"}
    assert not Trade.objects.exists()


def test_nul_in_a_path_or_a_query_string(api, journal):
    assert api.get("/api/trades/T%00-1/").status_code == 404
    assert _names(api.get("/api/trades/", {"strategy": "PCR\x00"})) == {"strategy"}
    assert _names(api.get("/api/orders/", {"strategy": "\x00"})) == {"strategy"}
    assert _names(api.get("/api/market/chain", {"source": "SIM\x00"})) == {"source"}


# --- JSON nested too deep --------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_json_nested_thousands_deep_is_a_400(api, depth):
    ensure_strategy_configs()
    deep = "[" * depth + "]" * depth
    for method, url in (("post", "/api/trades/"), ("patch", "/api/strategies/PCRStrategy/")):
        response = api.generic(
            method.upper(), url, '{"trade_id": ' + deep + "}", content_type="application/json"
        )
        assert response.status_code == 400, (url, response.status_code)


def test_entry_features_nested_past_the_limit_are_a_400_naming_them(api):
    features = {"a": 1}
    for _ in range(40):
        features = {"x": features}
    assert "entry_features" in _names(api.post("/api/trades/", _body(entry_features=features), format="json"))


# --- trade ids, tags and labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trade_id", ["a/b", "a b", "caf\u00e9", "-x", ".x", "x" * 65, "a?b", "a%2Fb", "a\nb"]
)
def test_a_trade_id_outside_the_alphabet_is_refused(api, trade_id):
    assert _names(api.post("/api/trades/", _body(trade_id=trade_id), format="json")) == {"trade_id"}


def test_a_trade_id_of_the_alphabet_is_accepted_and_reachable(api):
    trade_id = "A-1_b.c:d"
    assert api.post("/api/trades/", _body(trade_id=trade_id), format="json").status_code == 201
    assert api.get(f"/api/trades/{trade_id}/").json()["trade_id"] == trade_id


@pytest.mark.parametrize(
    "tag", ["evil\u202etxt.exe", "a\u2066b", "zero\u200dwidth", "bell\u0007", "line\u2028sep", "rtl\u200f"]
)
def test_bidi_and_control_characters_in_tags_are_refused(api, journal, tag):
    assert _names(api.post("/api/trades/", _body(tags=["fine", tag]), format="json")) == {"tags"}
    trade_id = journal[0].trade_id
    assert _names(api.patch(f"/api/trades/{trade_id}/", {"tags": [tag]}, format="json")) == {"tags"}
    assert Trade.objects.get(trade_id=trade_id).tags == journal[0].tags


def test_the_page_refuses_a_bidi_override_in_tags_and_a_strategy_with_a_control_character(client, journal):
    client.force_login(user_with_role("trader"))
    response = client.post(f"/journal/{journal[0].pk}/annotate/", {"notes": "n", "tags": "ok, evil\u202etxt"})
    assert response.status_code == 400 and "tags" in response.context["form"].errors
    client.force_login(user_with_role("operator", "op"))
    api = APIClient()
    api.force_login(user_with_role("operator", "op2"))
    assert _names(api.post("/api/trades/", _body(strategy_name="PCR\u202e"), format="json")) == {
        "strategy_name"
    }
    assert _names(api.post("/api/trades/", _body(notes="fine\u202e"), format="json")) == {"notes"}
    # Line breaks and tabs in notes are text.
    assert api.post("/api/trades/", _body(notes="line one\n\tline two"), format="json").status_code == 201


# --- empty choices ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", TRADE_GETS)
@pytest.mark.parametrize("name", ["mode", "instrument_type", "status", "exit_type", "winning"])
def test_an_empty_choice_is_a_400_naming_it(api, journal, url, name):
    assert _names(api.get(f"{url}?{name}=")) == {name}


@pytest.mark.parametrize("url", ["/api/orders/", "/api/positions/", "/api/signals/"])
def test_an_empty_choice_on_the_engines_tables_is_a_400(api, url):
    make_engine_rows()
    assert _names(api.get(f"{url}?mode=")) == {"mode"}
    assert _names(api.get(f"{url}?status=")) == {"status"}
    assert api.get(url, {"mode": "PAPER"}).status_code == 200


def test_the_page_keeps_mode_empty_as_every_mode_and_its_export_links_leave_it_out(client, journal):
    client.force_login(user_with_role("viewer"))
    response = client.get("/journal/?mode=&strategy=")
    assert response.status_code == 200
    assert len(response.context["page"].trades) == len(journal)
    for link in (response.context["export_csv"], response.context["export_xlsx"]):
        assert "mode=" not in link and "strategy=" not in link


# --- the schema ---------------------------------------------------------------------------------------------------


def test_every_operation_documents_400_401_403_404(api):
    schema = json.loads(api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    operations = [
        (path, method, spec)
        for path, item in schema["paths"].items()
        for method, spec in item.items()
        if method in ("get", "post", "patch", "put", "delete")
    ]
    assert len(operations) >= 19
    for path, method, spec in operations:
        for code in ("400", "401", "403", "404"):
            assert "application/json" in spec["responses"][code]["content"], (path, method, code)


@pytest.mark.parametrize("label", [True, False])
def test_text_checks_of_every_ascii_character_and_json_walks_agree_with_the_rules(label):
    """The checks' shortcuts (printable ASCII passes at once; numbers in JSON are not walked) refuse
    exactly what the rules refuse, character by character, against a reference written here."""
    import unicodedata

    from trading import inputs

    def reference(text: str) -> bool:  # True: refused
        for char in text:
            category = unicodedata.category(char)
            if char in inputs.BIDI_CONTROLS:
                return True
            if label and category in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}:
                return True
            if not label and category == "Cc" and char not in "\t\n\r":
                return True
        return False

    for code in [*range(128), 0x85, 0xA0, 0x200E, 0x202E, 0x2028, 0xE000]:
        text = f"ok {chr(code)} fine"
        assert (inputs.text_problem(text, label=label) is not None) == reference(text), hex(code)
    assert inputs.json_problem({"a": 1.5, "b": [1, 2, {"c": "x\x00"}], "d": None}) == (
        "b",
        "contains a NUL character",
    )
    assert inputs.json_problem({"a": [0.1] * 50, "b": {"c": True}}) is None
