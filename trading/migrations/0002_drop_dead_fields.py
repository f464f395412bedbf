"""Drop what nothing reads: ``StrategyConfig.last_signal_at`` (the engine's cooldown runs from the
stored accepted signals) and the ``allow_pyramiding`` parameter (it never had an effect; a
strategy's open positions are capped by ``max_open_positions``) from stored parameters, so that
they validate against the strategies' parameters again."""

from __future__ import annotations

from django.db import migrations

DROPPED_PARAMETERS = ("allow_pyramiding",)


def drop_parameters(apps, schema_editor):
    StrategyConfig = apps.get_model("trading", "StrategyConfig")
    for config in StrategyConfig.objects.all():
        parameters = config.parameters or {}
        if any(name in parameters for name in DROPPED_PARAMETERS):
            config.parameters = {k: v for k, v in parameters.items() if k not in DROPPED_PARAMETERS}
            config.save(update_fields=["parameters"])


class Migration(migrations.Migration):
    dependencies = [("trading", "0001_initial")]

    operations = [
        migrations.RemoveField(model_name="strategyconfig", name="last_signal_at"),
        migrations.RunPython(drop_parameters, migrations.RunPython.noop),
    ]
