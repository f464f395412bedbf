from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from trading.monitoring import wiring  # metrics: files folded at exit, trades observed, Celery hooks

        wiring.install()
        from trading.strategies.services import install_guard_metrics  # strategy exceptions -> metrics

        install_guard_metrics()
