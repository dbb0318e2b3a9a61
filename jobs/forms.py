"""Filters of the Jobs page and of View Details' log. They only validate; the views apply."""

from __future__ import annotations

from django import forms

from console.clusters.forms import ConnectionForm
from jobs.models import Job, JobEvent
from jobs.pace import MAX_MB_PER_SECOND, MAX_ROWS_PER_SECOND


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "All statuses"), *Job.Status.choices]
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Job ID or collection name"}
        ),
    )


class LogFilterForm(forms.Form):
    ORDERS = [("oldest", "Oldest first"), ("newest", "Newest first")]

    level = forms.ChoiceField(
        label="Level", required=False, choices=[("", "All levels"), *JobEvent.Level.choices]
    )
    order = forms.ChoiceField(label="Order", required=False, choices=ORDERS)

    def values(self) -> tuple[str, str]:
        """(level, order) — an unknown value falls back to every level, oldest first."""
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("level", ""), data.get("order") or "oldest"


class RetrySourceForm(ConnectionForm):
    """Another organization's source given again, for a Retry after its credentials were
    removed: the job's endpoint (filled in) and its API key or username and password. The
    service checks that the endpoint is the job's."""

    def __init__(self, *args, job: Job, **kwargs) -> None:
        kwargs.setdefault("initial", {"uri": job.source_name})
        super().__init__(*args, **kwargs)
        self.fields["uri"].label = "Endpoint"
        self.fields["uri"].help_text = "The source of this job: the same endpoint as before."
        self.fields["api_key"].help_text = ""


class SpeedCapForm(forms.Form):
    """A job's speed cap (jobs/pace.py), summed over its collections; empty for no cap. In
    Configure Schema and in View Details; the service has the last word on what is valid."""

    max_rows_per_second = forms.IntegerField(
        label="Max rows per second", required=False, min_value=1, max_value=MAX_ROWS_PER_SECOND
    )
    max_mb_per_second = forms.FloatField(
        label="Max MB per second",
        required=False,
        min_value=0.001,
        max_value=MAX_MB_PER_SECOND,
        help_text="Megabytes (10^6 bytes) of rows per second.",
    )
