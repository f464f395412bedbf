"""The breakdowns of the journal's trades (``by=`` of ``/api/analytics/breakdown``) as SQL: what each one
groups by and how the database computes a trade's group (the bucket rules of ``journal.buckets``
written as SQL by ``Dimension.sql_case``).

One definition for both readers of these groups: the live ``GROUP BY`` over the filtered trades
(``analytics.selectors``) and the pre-aggregated cells (``journal.cells``), which group the same SQL
per (mode, day, strategy). Each breakdown's key is an SQL expression over a subquery ``t`` of the
trades holding ``fields`` and the ORM ``annotations`` (the entry's IST minute, weekday and date).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMinute, TruncDate

from journal import buckets
from trading.choices import ExitType, Side
from trading.core import attribution
from trading.core.calendar import IST


@dataclass(frozen=True)
class Breakdown:
    """A breakdown: what it groups by, and how the database computes each trade's group."""

    name: str
    label: str
    fields: tuple[str, ...]  # the trade's columns the value reads (the subquery's columns)
    annotations: Callable[[], dict] | None  # ORM expressions of the subquery (IST times), by name
    value: Callable[[str], str]  # SQL of the group key over the subquery ``t`` (vendor -> SQL)
    dimension: buckets.Dimension | None = None  # bucketed: the key is the bucket rule's
    join: Callable[[str], str] | None = None  # a join that makes one row per value (tags)
    labels: Callable[[str], str] | None = None  # label of a key (categorical)

    def key_sql(self, vendor: str) -> str:
        """SQL of the group key of a row of ``t`` (the bucket's key for a bucketed breakdown)."""
        value = self.value(vendor)
        return self.dimension.sql_case(value) if self.dimension else value

    def label_of(self, key: str) -> str:
        """The label shown for a group key."""
        if self.dimension:
            return self.dimension.label_of(key)
        if self.labels and key != buckets.MISSING.key:
            return self.labels(key)
        return buckets.MISSING.label if key == buckets.MISSING.key else key

    def spec(self) -> str:
        """What the groups are, as text: equal specs group the same trades into the same keys (the
        cells record the spec they were built with; ``journal.cells``)."""
        return repr(self.dimension.buckets) if self.dimension else self.name


def _days_to_expiry(vendor: str) -> str:
    if vendor == "postgresql":
        return "(t.expiry_date - t.entry_day)"
    return "CAST(julianday(t.expiry_date) - julianday(t.entry_day) AS INTEGER)"


def _iv_percentile(vendor: str) -> str:
    if vendor == "postgresql":
        return (
            "CASE WHEN jsonb_typeof(t.entry_features -> 'iv_percentile') = 'number' "
            "THEN (t.entry_features ->> 'iv_percentile')::float8 END"
        )
    return (
        "CASE WHEN json_type(t.entry_features, '$.iv_percentile') IN ('integer', 'real') "
        "THEN json_extract(t.entry_features, '$.iv_percentile') END"
    )


def _tag_join(vendor: str) -> str:
    # One row per tag (tags are stored ",a,b,"); a trade without tags keeps one row with no tag.
    if vendor == "postgresql":
        return "LEFT JOIN LATERAL unnest(string_to_array(btrim(t.tags, ','), ',')) AS tg(tag) ON TRUE"
    quoted = "replace(replace(trim(t.tags, ','), '\\', '\\\\'), '\"', '\\\"')"
    return f"""JOIN json_each('["' || replace({quoted}, ',', '","') || '"]') AS tg"""


def _tag_value(vendor: str) -> str:
    return (
        "COALESCE(NULLIF(tg.tag, ''), 'na')"
        if vendor == "postgresql"
        else "COALESCE(NULLIF(tg.value, ''), 'na')"
    )


def _month(vendor: str) -> str:
    return "to_char(t.trade_date, 'YYYY-MM')" if vendor == "postgresql" else "substr(t.trade_date, 1, 7)"


def _column(name: str) -> Callable[[str], str]:
    return lambda vendor: f"t.{name}"


def entry_ist() -> dict:
    """The entry's IST minute of the day, weekday (Monday = 0) and date, as ORM expressions."""
    return {
        "entry_minute": ExtractHour("entry_time", tzinfo=IST) * 60 + ExtractMinute("entry_time", tzinfo=IST),
        "entry_weekday": ExtractIsoWeekDay("entry_time", tzinfo=IST) - 1,
        "entry_day": TruncDate("entry_time", tzinfo=IST),
    }


def _choice_label(choices) -> Callable[[str], str]:
    names = dict(choices)
    return lambda key: str(names.get(key, key))


def configured_dimensions() -> dict[str, buckets.Dimension]:
    """The bucketed breakdowns with the configured bounds (``ANALYTICS_VIX_BOUNDS``,
    ``ANALYTICS_PCR_BOUNDS``; the defaults of ``journal.buckets``)."""
    return buckets.dimensions(
        vix_bounds=tuple(settings.ANALYTICS_VIX_BOUNDS) or buckets.DEFAULT_VIX_BOUNDS,
        pcr_bounds=tuple(settings.ANALYTICS_PCR_BOUNDS) or buckets.DEFAULT_PCR_BOUNDS,
    )


_MAX_PAIN = (
    "CASE WHEN t.spot_price_entry > 0 AND t.max_pain_entry IS NOT NULL "
    "THEN (t.spot_price_entry - t.max_pain_entry) * 100.0 / t.spot_price_entry END"
)


def breakdowns(dims: dict[str, buckets.Dimension] | None = None) -> dict[str, Breakdown]:
    """Every breakdown of the API by name (``by=``), the bucketed ones on ``dims`` (configured bounds)."""
    d = dims or buckets.dimensions()

    def bucketed(name: str, fields: tuple[str, ...], value: Callable[[str], str], ann=None) -> Breakdown:
        dim = d[name]
        return Breakdown(name, dim.label, fields, ann, value, dimension=dim)

    items = [
        Breakdown("strategy", "Strategy", ("strategy_name",), None, _column("strategy_name")),
        Breakdown(
            "instrument_type",
            "Option type",
            ("instrument_type",),
            None,
            lambda v: (
                "CASE t.instrument_type WHEN 'CALL' THEN 'CE' WHEN 'PUT' THEN 'PE' ELSE t.instrument_type END"
            ),
        ),
        Breakdown("side", "Side", ("side",), None, _column("side"), labels=_choice_label(Side.choices)),
        Breakdown(
            "exit_type",
            "Exit type",
            ("exit_type",),
            None,
            _column("exit_type"),
            labels=_choice_label(ExitType.choices),
        ),
        bucketed("entry_time", (), _column("entry_minute"), entry_ist),
        bucketed("weekday", (), _column("entry_weekday"), entry_ist),
        bucketed("days_to_expiry", ("expiry_date",), _days_to_expiry, entry_ist),
        bucketed(
            "expiry_day",
            ("expiry_date",),
            lambda v: f"CASE WHEN {_days_to_expiry(v)} = 0 THEN 1 ELSE 0 END",
            entry_ist,
        ),
        bucketed("vix_regime", ("vix_entry",), _column("vix_entry")),
        bucketed("pcr", ("pcr_entry",), _column("pcr_entry")),
        bucketed("iv_percentile", ("entry_features",), _iv_percentile),
        bucketed("max_pain_distance", ("spot_price_entry", "max_pain_entry"), lambda v: _MAX_PAIN),
        Breakdown("tag", "Tag", ("tags",), None, _tag_value, join=_tag_join),
        Breakdown("month", "Month", ("trade_date",), None, _month, labels=buckets.month_label),
    ]
    return {b.name: b for b in items}


BREAKDOWN_NAMES: tuple[str, ...] = tuple(breakdowns())

# The sums of each group, over the subquery ``t``: the trade figures' and the Greeks attribution's.
TRADE_SUMS = (
    ("trades", "COUNT(*)"),
    ("wins", "SUM(CASE WHEN t.net_pnl > 0 THEN 1 ELSE 0 END)"),
    ("losses", "SUM(CASE WHEN t.net_pnl < 0 THEN 1 ELSE 0 END)"),
    ("net_pnl", "SUM(t.net_pnl)"),
    ("sum_wins", "SUM(CASE WHEN t.net_pnl > 0 THEN t.net_pnl ELSE 0 END)"),
    ("sum_losses", "SUM(CASE WHEN t.net_pnl < 0 THEN t.net_pnl ELSE 0 END)"),
    ("r_count", "COUNT(t.r_multiple)"),
    ("r_sum", "SUM(t.r_multiple)"),
)
ATTRIBUTION_PARTS = tuple(f"{c}_pnl" for c in attribution.COMPONENTS)
ATTRIBUTION_SUMS = (
    ("trades", "COUNT(*)"),
    ("attributed", "COUNT(t.delta_pnl)"),
    ("gross_pnl", "SUM(t.gross_pnl)"),
    ("gross_attributed", "SUM(CASE WHEN t.delta_pnl IS NOT NULL THEN t.gross_pnl ELSE 0 END)"),
    *((part, f"SUM(t.{part})") for part in ATTRIBUTION_PARTS),
)
