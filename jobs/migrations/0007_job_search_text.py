"""Job.search_text: what the Jobs page's search reads (the job id and its collection names,
lower case), filled in for the jobs that exist."""

from django.db import migrations, models


def fill(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    JobCollection = apps.get_model("jobs", "JobCollection")
    names: dict[str, list[str]] = {}
    rows = JobCollection.objects.order_by("job_id", "position", "pk").values_list(
        "job_id", "source_name", "target_name"
    )
    for job_id, source, target in rows.iterator(chunk_size=2000):
        names.setdefault(job_id, []).extend((source, target))
    batch = []
    for job in Job.objects.only("pk").iterator(chunk_size=2000):
        # jobs.models.search_text_for, as it is when this migration was written.
        job.search_text = " ".join(dict.fromkeys([job.pk, *names.get(job.pk, [])])).lower()
        batch.append(job)
        if len(batch) == 2000:
            Job.objects.bulk_update(batch, ["search_text"])
            batch = []
    Job.objects.bulk_update(batch, ["search_text"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_jobcollection_target_discarded"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                fields=["project", "-created_at", "search_text"], name="job_project_search"
            ),
        ),
    ]
