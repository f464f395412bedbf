from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from trading import metrics  # metrics: fold this process's files at exit, observe recorded trades

        metrics.install()
        from trading.strategy_services import install_guard_metrics  # strategy exceptions -> metrics

        install_guard_metrics()
