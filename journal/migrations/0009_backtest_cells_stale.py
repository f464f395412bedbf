"""Issue 18: until this release a backtest's trades (``record_trades(keep=False)``) never reached the
breakdown cells, so a journal with BACKTEST trades has cells that miss them. Their specs are marked
stale: the breakdowns group the trades live (exact) until ``manage.py rebuild_breakdown_cells``."""

from django.db import migrations


def mark_cells_stale_when_backtests_were_journaled(apps, schema_editor):
    alias = schema_editor.connection.alias
    Trade = apps.get_model("journal", "Trade")
    Spec = apps.get_model("journal", "BreakdownCellSpec")
    if not Trade.objects.using(alias).filter(entry_mode="BACKTEST").exists():
        return
    if Spec.objects.using(alias).exclude(spec="stale").update(spec="stale"):
        print("\n  breakdown cells: run `manage.py rebuild_breakdown_cells` (until then, breakdowns group live)")


class Migration(migrations.Migration):
    dependencies = [
        ("journal", "0008_breakdown_cells"),
    ]

    operations = [
        migrations.RunPython(mark_cells_stale_when_backtests_were_journaled, migrations.RunPython.noop),
    ]
