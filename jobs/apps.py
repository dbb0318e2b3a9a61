from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Connects the receiver that notes, in a job's log, a target collection dropped on the
        # cluster page (console.signals.collection_dropped).
        import jobs.lifecycle  # noqa: F401
