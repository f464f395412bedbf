"""Issue 13 (analytics): the Greeks P&L attribution stored on each trade - five money columns, filled
for the trades already recorded with their snapshots (``trading.core.attribution``, as ``record_trade``
does) - and the sums analytics adds over the performance rows (R, MAE/MFE, exit efficiency, runs of
wins and losses), and an index that serves one strategy's daily series by itself. Existing performance rows keep ``first_sign`` null (not computed): readers go to the
trades until a row is refreshed (any trade of its day or strategy, or ``performance.rebuild_all``)."""

from django.db import migrations, models

from trading.core import attribution

PARTS = ("delta_pnl", "gamma_pnl", "theta_pnl", "vega_pnl", "residual_pnl")
READ = (
    "id",
    "gross_pnl",
    "side",
    "quantity",
    "spot_price_entry",
    "spot_price_exit",
    "iv_entry",
    "iv_exit",
    "delta_entry",
    "gamma_entry",
    "theta_entry",
    "vega_entry",
    "entry_time",
    "exit_time",
)


def fill(apps, schema_editor):
    Trade = apps.get_model("journal", "Trade")
    with_snapshots = Trade.objects.filter(
        spot_price_entry__isnull=False,
        spot_price_exit__isnull=False,
        iv_entry__isnull=False,
        iv_exit__isnull=False,
        delta_entry__isnull=False,
        gamma_entry__isnull=False,
        theta_entry__isnull=False,
        vega_entry__isnull=False,
    ).values(*READ)
    batch = []
    for values in with_snapshots.iterator(chunk_size=2000):
        parts = attribution.stored_parts(attribution.attribute_trade(values))
        if parts["delta_pnl"] is not None:
            batch.append(Trade(id=values["id"], **parts))
        if len(batch) >= 2000:
            Trade.objects.bulk_update(batch, PARTS)
            batch = []
    if batch:
        Trade.objects.bulk_update(batch, PARTS)


def _money(help_text: str):
    return models.DecimalField(blank=True, decimal_places=2, help_text=help_text, max_digits=14, null=True)


def _performance_fields():
    def count():
        return models.PositiveIntegerField(default=0)

    def rupees():
        return models.DecimalField(decimal_places=2, default=0, max_digits=16)

    return (
        ("r_count", count()),
        ("r_sum", models.DecimalField(decimal_places=4, default=0, max_digits=24)),
        ("r_sum_sq", models.DecimalField(decimal_places=8, default=0, max_digits=30)),
        ("mae_count", count()),
        ("mae_sum", rupees()),
        ("mfe_count", count()),
        ("mfe_sum", rupees()),
        ("efficiency_count", count()),
        ("efficiency_sum", models.FloatField(default=0)),
        ("first_sign", models.SmallIntegerField(blank=True, null=True)),
        ("first_run", count()),
        ("last_sign", models.SmallIntegerField(default=0)),
        ("last_run", count()),
        ("best_win_run", count()),
        ("best_loss_run", count()),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("journal", "0004_trade_origin_and_permissions"),
    ]

    operations = [
        migrations.AddField("trade", "delta_pnl", _money("delta x dS x quantity, rupees")),
        migrations.AddField("trade", "gamma_pnl", _money("0.5 x gamma x dS^2 x quantity, rupees")),
        migrations.AddField("trade", "theta_pnl", _money("theta per day x days held x quantity, rupees")),
        migrations.AddField(
            "trade", "vega_pnl", _money("vega per vol point x IV change in points x quantity")
        ),
        migrations.AddField("trade", "residual_pnl", _money("gross - the four Greek parts, rupees")),
        migrations.RunPython(fill, migrations.RunPython.noop),
        *(
            migrations.AddField(model, name, field)
            for model in ("dailyperformance", "strategyperformance")
            for name, field in _performance_fields()
        ),
        migrations.AddIndex(
            "trade",
            models.Index(
                fields=["strategy_name", "entry_mode", "trade_date", "net_pnl"], name="trade_strategy_day_net"
            ),
        ),
    ]
