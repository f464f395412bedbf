"""Template filters of every page: ``{% load desk %}``. Each filter is one function of
``trading.formats`` (or of the journal for tags), so a number reads the same on every page.

``{{ x|inr }}`` ₹1,00,000.00 - ``{{ x|inr:0 }}`` ₹1,00,000 - ``{{ x|pnl }}`` +₹1,234.50 / -₹1,234.50 -
``{{ x|num:0 }}`` 2,30,94,400 - ``{{ x|iv }}`` 13.1% (from a fraction) - ``{{ x|pct }}`` 55.5% (from
a percentage) - ``{{ x|frac_pct }}`` 1.2% (from a fraction) - ``{{ x|ratio }}`` 1.35 - ``{{ x|minutes }}``
2h 05m - ``{{ x|pnl_class }}`` win/loss/"" - ``{{ s|tags }}`` ["eod", "oi-wall"] - ``{{ s|rst }}``
docstring reStructuredText as HTML.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from journal.models import stored_tags
from trading import formats

register = template.Library()


@register.filter
def inr(value, places: int = 2) -> str:
    return formats.inr(value, int(places))


@register.filter
def pnl(value, places: int = 2) -> str:
    """Rupees with a sign either way: a P&L."""
    return formats.inr(value, int(places), plus=True)


@register.filter
def num(value, places: int = 2) -> str:
    return formats.grouped(value, int(places))


@register.filter
def iv(value, places: int = formats.IV_PLACES) -> str:
    return formats.iv_percent(value, int(places))


@register.filter
def pct(value, places: int = 1) -> str:
    return formats.percent(value, int(places))


@register.filter
def frac_pct(value, places: int = 1) -> str:
    return formats.fraction_percent(value, int(places))


@register.filter
def ratio(value, places: int = 2) -> str:
    return formats.ratio(value, int(places))


@register.filter
def minutes(value) -> str:
    return formats.minutes(value)


@register.filter
def pnl_class(value) -> str:
    """``win`` above zero, ``loss`` below, ``""`` at zero or missing: the colour of a P&L."""
    return formats.pnl_class(value)


@register.filter
def tags(value) -> list[str]:
    """A trade's stored tags (``,eod,oi-wall,``) as a list, for chips."""
    return stored_tags(value)


@register.filter
def rst(value) -> SafeString:
    """A docstring's reStructuredText as HTML (escaped first; see ``formats.rst_html``)."""
    return mark_safe(formats.rst_html(str(value or "")))  # noqa: S308 - rst_html escapes every text
