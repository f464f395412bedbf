"""Issue 13 (analytics at a million trades): the breakdown cells (``journal.cells``) and the specs they
were built with. On an empty journal the (empty) cells are whole: their specs are recorded now. With
trades already in the journal the cells start empty and unrecorded, so the breakdowns keep grouping the
trades live until ``manage.py rebuild_breakdown_cells`` (docs/analytics.md)."""

from django.db import migrations, models
from django.utils import timezone


def record_specs_of_an_empty_journal(apps, schema_editor):
    Trade = apps.get_model("journal", "Trade")
    Spec = apps.get_model("journal", "BreakdownCellSpec")
    if Trade.objects.using(schema_editor.connection.alias).exists():
        print("\n  breakdown cells: run `manage.py rebuild_breakdown_cells` (until then, breakdowns group live)")
        return
    from journal.breakdowns import breakdowns, configured_dimensions

    now = timezone.now()
    Spec.objects.using(schema_editor.connection.alias).bulk_create(
        [Spec(dimension=name, spec=by.spec(), built_at=now) for name, by in breakdowns(configured_dimensions()).items()]
    )


class Migration(migrations.Migration):

    dependencies = [
        ('journal', '0007_backtest_store_source'),
    ]

    operations = [
        migrations.CreateModel(
            name='BreakdownCellSpec',
            fields=[
                ('dimension', models.CharField(max_length=24, primary_key=True, serialize=False)),
                ('spec', models.TextField()),
                ('built_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='BreakdownCell',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dimension', models.CharField(max_length=24)),
                ('mode', models.CharField(choices=[('PAPER', 'Paper'), ('LIVE', 'Live'), ('BACKTEST', 'Backtest')], max_length=8)),
                ('date', models.DateField()),
                ('strategy_name', models.CharField(max_length=64)),
                ('key', models.CharField(max_length=500)),
                ('trades', models.PositiveIntegerField(default=0)),
                ('wins', models.PositiveIntegerField(default=0)),
                ('losses', models.PositiveIntegerField(default=0)),
                ('net_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('sum_wins', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('sum_losses', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('r_count', models.PositiveIntegerField(default=0)),
                ('r_sum', models.DecimalField(decimal_places=4, default=0, max_digits=24)),
                ('attributed', models.PositiveIntegerField(default=0)),
                ('gross_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('gross_attributed', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('delta_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('gamma_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('theta_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('vega_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('residual_pnl', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
            ],
            options={
                'indexes': [models.Index(fields=['dimension', 'mode', 'strategy_name', 'date'], name='breakdown_cell_strategy')],
                'constraints': [models.UniqueConstraint(fields=('dimension', 'mode', 'date', 'strategy_name', 'key'), name='breakdown_cell_unique')],
            },
        ),
        migrations.RunPython(record_specs_of_an_empty_journal, migrations.RunPython.noop),
    ]
