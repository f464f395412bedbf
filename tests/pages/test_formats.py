"""Number formats of the pages (trading/formats.py and the ``desk`` template filters), against
hand-written expectations: Indian grouping (lakh, crore), one IV unit, missing values."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from django.template import Context, Template

from trading import formats


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (0, 2, "0.00"),
        (999, 0, "999"),
        (1000, 0, "1,000"),
        (99999.5, 2, "99,999.50"),
        (100000, 2, "1,00,000.00"),
        (1234567, 0, "12,34,567"),
        (23094400, 0, "2,30,94,400"),
        (1000000000, 0, "1,00,00,00,000"),
        (-1234.5, 2, "-1,234.50"),
        (Decimal("474.50"), 2, "474.50"),
        (0.125, 2, "0.13"),  # half away from zero on the decimal value, not the binary float
        (-0.125, 2, "-0.13"),
        (-0.001, 2, "0.00"),  # no "-0.00"
        ("1234.5", 1, "1,234.5"),
    ],
)
def test_grouped(value, places, text):
    assert formats.grouped(value, places) == text


@pytest.mark.parametrize("missing", [None, "", math.nan, math.inf, -math.inf, "abc", Decimal("NaN")])
def test_missing_values_are_a_dash(missing):
    for fn in (
        formats.grouped,
        formats.inr,
        formats.iv_percent,
        formats.percent,
        formats.ratio,
        formats.minutes,
    ):
        assert fn(missing) == "\u2013"


def test_rupees():
    assert formats.inr(100000) == "₹1,00,000.00"
    assert formats.inr(Decimal("-98765.43")) == "-₹98,765.43"
    assert formats.inr(1234.5, 0) == "₹1,235"
    assert formats.inr(1234.5, plus=True) == "+₹1,234.50"
    assert formats.inr(0, plus=True) == "₹0.00"
    assert formats.inr(-0.001, plus=True) == "₹0.00"


def test_iv_one_unit():
    assert formats.iv_percent(0.131223) == "13.1%"
    assert formats.iv_percent(Decimal("0.2")) == "20.0%"
    assert formats.iv_percent(0.131223, 2) == "13.12%"
    assert formats.percent(55.555) == "55.6%"
    assert formats.fraction_percent(-0.0123) == "-1.2%"


def test_minutes():
    assert formats.minutes(45) == "45m"
    assert formats.minutes(125) == "2h 05m"
    assert formats.minutes(60 * 24 * 3 + 60 * 4 + 10) == "3d 4h"


def test_rst_html_escapes_and_drops_backticks():
    text = "Title line.\n\nRules:\n\n* close above ``or_high`` + `buffer`\n  and <b>bold</b>\n* second"
    out = formats.rst_html(text)
    assert "`" not in out
    assert out == (
        "<p>Title line.</p><p>Rules:</p><ul><li>close above <code>or_high</code> + <code>buffer</code> "
        "and &lt;b&gt;bold&lt;/b&gt;</li><li>second</li></ul>"
    )


def test_template_filters_are_the_formatters():
    tpl = Template(
        "{% load desk %}{{ m|inr }}|{{ m|inr:0 }}|{{ n|pnl }}|{{ oi|num:0 }}|{{ iv|iv }}|{{ wr|pct }}|"
        "{{ pf|ratio }}|{{ n|pnl_class }}|{% for t in tags|tags %}[{{ t }}]{% endfor %}|{{ doc|rst }}"
    )
    out = tpl.render(
        Context(
            {
                "m": Decimal("100000.00"),
                "n": Decimal("-1234.50"),
                "oi": 23094400.0,
                "iv": 0.131223,
                "wr": Decimal("55.00"),
                "pf": Decimal("0.0000"),
                "tags": ",eod,oi-wall,",
                "doc": "use ``x``",
            }
        )
    )
    assert out == (
        "₹1,00,000.00|₹1,00,000|-₹1,234.50|2,30,94,400|13.1%|55.0%|0.00|loss|[eod][oi-wall]|"
        "<p>use <code>x</code></p>"
    )
