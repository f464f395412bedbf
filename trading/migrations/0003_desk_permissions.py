"""The desk's control permissions of ``trading.access`` (kill switch and breaker, LIVE, Kite login)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('trading', '0002_drop_dead_fields'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='tradingstate',
            options={'permissions': [('control_desk', 'Can use the kill switch and reset the circuit breaker'), ('confirm_live', 'Can confirm LIVE trading for the day'), ('kite_login', 'Can log in to Kite for the day')]},
        ),
    ]
