from django.apps import AppConfig

from console.redaction import route_pymilvus_logs


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        route_pymilvus_logs()
        # Connects the receiver that starts a session's idle clock at login.
        import console.middleware  # noqa: F401
