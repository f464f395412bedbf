"""The roles of ``trading.access`` as Django groups - viewer, trader, operator - with their
permissions (the desk's and the journal's custom ones included)."""

from django.db import migrations

from trading.access import sync_role_groups


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("trading", "0003_desk_permissions"),
        ("journal", "0004_trade_origin_and_permissions"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
