from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from console.redaction import route_pymilvus_logs

        route_pymilvus_logs()
