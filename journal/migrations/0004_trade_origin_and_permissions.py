"""Who wrote each trade (``Trade.origin``): the engine's risk figures count only the engine's own
trades. Existing trades are classified from what they left: a trade whose id is an engine position's,
or that belongs to a backtest run, is the ENGINE's; a Zerodha tradebook's (``ZT-``) an IMPORT; the
rest MANUAL. Also the journal's own permissions (notes and tags; imports) of ``trading.access``."""

from django.db import migrations, models


def classify_origins(apps, schema_editor):
    Trade = apps.get_model("journal", "Trade")
    Position = apps.get_model("trading", "Position")
    engine_ids = Position.objects.values("position_id")
    Trade.objects.filter(trade_id__in=engine_ids).update(origin="ENGINE")
    Trade.objects.filter(backtest_run__isnull=False).update(origin="ENGINE")
    Trade.objects.filter(origin="MANUAL", trade_id__startswith="ZT-").update(origin="IMPORT")


class Migration(migrations.Migration):

    dependencies = [
        ('journal', '0003_performance_tables_owned_by_journal'),
        ('trading', '0002_drop_dead_fields'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='trade',
            options={'ordering': ['-exit_time', '-id'], 'permissions': [('annotate_trade', 'Can edit the notes and tags of a trade'), ('import_trades', "Can import a tradebook or the journal's own CSV")]},
        ),
        migrations.AddField(
            model_name='trade',
            name='origin',
            field=models.CharField(choices=[('ENGINE', 'Engine'), ('MANUAL', 'Manual'), ('IMPORT', 'Import')], default='MANUAL', help_text="Who wrote it: ENGINE, MANUAL or IMPORT (the engine's risk counts only its own)", max_length=8),
        ),
        migrations.AddIndex(
            model_name='trade',
            index=models.Index(fields=['symbol', 'entry_mode', 'trade_date', 'origin'], name='trade_risk_day'),
        ),
        migrations.RunPython(classify_origins, migrations.RunPython.noop),
    ]
