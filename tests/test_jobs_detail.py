"""View Details (/jobs/<id>/): source → target, who and when, the overall and per-collection
progress with phases and verification figures, Retry/Cancel, and the log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobCollection
from tests.jobrows import add_event, job_clusters, make_job

CANCEL_WHY = (
    "Only Organization Owners and Project Admins can cancel jobs in project Default Project."
)
RETRY_WHY = "Only Organization Owners and Project Admins can retry jobs in project Default Project."


def _url(job: Job, **params) -> str:
    return reverse("job_detail", args=[job.pk])


@pytest.fixture
def running(project, admin) -> Job:
    """A job copying one collection while another is verified and a third waits."""
    now = timezone.now()
    job = make_job(
        project,
        admin,
        status=Job.Status.IN_PROGRESS,
        collections=("docs", "users", "events"),
        progress=55,
        started_at=now - timedelta(minutes=3, seconds=5),
    )
    docs, users, events = job.collections.all()
    JobCollection.objects.filter(pk=docs.pk).update(
        status=JobCollection.Status.COPYING,
        total_entities=100_000,
        migrated_entities=40_000,
        rows_per_s=2_000,
        phases={
            "CREATING": {
                "start": (now - timedelta(seconds=70)).isoformat(),
                "end": (now - timedelta(seconds=65)).isoformat(),
            },
            "COPYING": {"start": (now - timedelta(seconds=65)).isoformat()},
        },
    )
    JobCollection.objects.filter(pk=users.pk).update(
        status=JobCollection.Status.DONE,
        total_entities=5_000,
        migrated_entities=5_000,
        verification=JobCollection.Verification.VERIFIED,
        report={
            "source_count": 5_000,
            "target_count": 5_000,
            "sampled_rows": 1_000,
            "duplicate_keys": 0,
            "mismatches": [],
            "messages": ["the source gained 3 rows during the migration"],
            "partitions": {},
        },
        phases={
            "COPYING": {
                "start": (now - timedelta(seconds=200)).isoformat(),
                "end": (now - timedelta(seconds=125)).isoformat(),
            },
            "VERIFYING": {
                "start": (now - timedelta(seconds=125)).isoformat(),
                "end": (now - timedelta(seconds=120)).isoformat(),
            },
        },
    )
    JobCollection.objects.filter(pk=events.pk).update(total_entities=0)
    return job


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "writer_client", "viewer_client"]
)
def test_it_shows_source_target_people_and_times(request, persona, running, admin):
    response = request.getfixturevalue(persona).get(_url(running))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{running.description}</h1>" in html
    assert f"<code>{running.pk}</code>" in html
    assert "prod" in html and "staging" in html
    assert "<dt>Created By</dt><dd>admin@acme.test</dd>" in html
    # Started 3m 05s before the request (a slow first request may add a second or two).
    assert re.search(r"<dt>Duration</dt><dd>3m 0[5-9]s</dd>", html)
    assert 'data-status="IN_PROGRESS">In Progress</span>' in html
    assert "<dt>Current Phase</dt><dd>Copying</dd>" in html


def test_it_shows_the_overall_progress_with_rows_per_second_and_eta(viewer_client, running):
    html = viewer_client.get(_url(running)).content.decode()

    assert '<label for="overall-progress">Overall progress</label>' in html
    # The bar from the rows shown, not the stored figure (55): (45,000 copied + 5,000
    # verified) of twice 105,000 rows.
    assert '<progress id="overall-progress" max="100" value="23">' in html
    # 45,000 of 105,000 rows; 60,000 left at 2,000 rows/s: half a minute.
    assert "Copied 45,000 of 105,000 rows · 2,000 rows/s · about 30s left" in html
    assert "Verified 5,000 of 105,000 rows</p>" in html


def test_it_shows_each_collection_with_its_progress_phases_and_verification(viewer_client, running):
    html = viewer_client.get(_url(running)).content.decode()
    docs, users, events = running.collections.all()

    def row(c):
        start = html.index(f'<tr id="collection-{c.pk}"')
        return html[start : html.index("</tr>", start)]

    r = row(docs)
    assert 'data-status="COPYING">Copying</span>' in r
    assert 'value="20" aria-label="Progress of docs"' in r
    assert "40,000 of 100,000 rows copied · 20% · 2,000 rows/s" in r
    assert '<span>Creating</span> <span class="num">5s</span>' in r
    assert re.search(
        r'<span>Copying</span> <span class="num">1m 0[5-9]s</span> <span class="muted">\(running\)</span>',
        r,
    )
    assert 'data-status="PENDING">Pending</span>' in r  # verification not done yet

    r = row(users)
    assert 'data-status="DONE">Done</span>' in r
    assert 'value="100" aria-label="Progress of users"' in r
    assert '<span>Copying</span> <span class="num">1m 15s</span>' in r
    assert 'data-status="VERIFIED">Verified</span>' in r
    assert '<dt>Source count</dt><dd class="num">5,000</dd>' in r
    assert '<dt>Target count</dt><dd class="num">5,000</dd>' in r
    assert '<dt>Rows compared</dt><dd class="num">1,000</dd>' in r
    assert '<dt>Mismatches</dt><dd class="num">0</dd>' in r
    assert "the source gained 3 rows during the migration" in r

    assert '<li class="muted">Not started</li>' in row(events)


def test_it_puts_a_failed_jobs_reason_first_with_its_mismatches(
    owner_client, viewer_client, project
):
    job = make_job(
        project,
        status=Job.Status.FAILED,
        reason="1 of 1 collection(s) failed — default.docs: verification found differences",
    )
    JobCollection.objects.filter(job=job).update(
        status=JobCollection.Status.FAILED,
        verification=JobCollection.Verification.MISMATCH,
        error="MISMATCH: source 10 rows, target 9 rows",
        report={
            "source_count": 10,
            "target_count": 9,
            "rows_compared": 10,
            "ranges_compared": 4,
            "ranges_differing": 1,
            "first_differing_keys": [7, 'k"8'],
            "source_changed": True,
            "duplicate_keys": 0,
            "mismatches": ["key 7 missing on the target", "count differs: 10 → 9"],
            "messages": [],
            "partitions": {},
        },
    )

    html = owner_client.get(_url(job)).content.decode()

    alert = html.index('role="alert"')
    assert alert < html.index("Overview")
    assert "verification found differences" in html[alert : html.index("</div>", alert)]
    assert 'data-status="MISMATCH">Mismatch</span>' in html
    assert '<dt>Mismatches</dt><dd class="num">2</dd>' in html
    assert "<li>key 7 missing on the target</li>" in html
    assert '<dt>Rows compared</dt><dd class="num">10</dd>' in html
    assert '<dt>Key ranges compared</dt><dd class="num">4</dd>' in html
    assert '<dt>Key ranges differing</dt><dd class="num">1</dd>' in html
    assert "<dt>Source changed</dt><dd>Yes, during the migration</dd>" in html
    assert '<dt>First differing keys</dt><dd class="keys">7, k&quot;8</dd>' in html
    assert 'action="' + reverse("job_retry", args=[job.pk]) + '"' in html
    assert ">Retry</button>" in html
    assert "hx-trigger" not in html  # final: nothing polls

    html = viewer_client.get(_url(job)).content.decode()
    assert reverse("job_retry", args=[job.pk]) not in html
    assert f'aria-disabled="true" title="{RETRY_WHY}"' in html


def test_it_offers_cancel_to_managers_only(owner_client, viewer_client, running):
    html = owner_client.get(_url(running)).content.decode()
    assert f'data-cancel-job="{running.pk}">Cancel</button>' in html
    assert '<button type="submit" class="btn btn-danger">Cancel Job</button>' in html

    html = viewer_client.get(_url(running)).content.decode()
    assert "data-cancel-job" not in html
    assert f'title="{CANCEL_WHY}"' in html


def test_it_polls_the_body_and_the_log_while_the_job_runs(viewer_client, running):
    html = viewer_client.get(_url(running), {"level": "ERROR"}).content.decode()

    assert f'hx-get="{reverse("job_live", args=[running.pk])}" hx-trigger="every 2s"' in html
    assert (
        f'hx-get="{reverse("job_log", args=[running.pk])}?level=ERROR" hx-trigger="every 2s"'
        in html
    )


def test_it_shows_the_log_oldest_first_and_filters_by_level(viewer_client, running):
    docs = running.collections.first()
    add_event(running, "job started", ago=30)
    add_event(running, "docs: slow page, retrying", "WARNING", ago=20, collection=docs)
    add_event(running, "docs: cannot reach 127.0.0.1:1", "ERROR", ago=10, collection=docs)

    html = viewer_client.get(_url(running)).content.decode()
    assert html.index("job started") < html.index("slow page") < html.index("cannot reach")
    assert '<td data-label="Collection">docs</td>' in html

    html = viewer_client.get(_url(running), {"order": "newest"}).content.decode()
    assert html.index("cannot reach") < html.index("slow page") < html.index("job started")

    html = viewer_client.get(_url(running), {"level": "WARNING"}).content.decode()
    assert "slow page" in html and "job started" not in html and "cannot reach" not in html
    assert '<option value="WARNING" selected>Warning</option>' in html


def test_it_jumps_to_the_first_error(viewer_client, running):
    add_event(running, "first failure", "ERROR", ago=20)
    add_event(running, "second failure", "ERROR", ago=10)

    html = viewer_client.get(_url(running), {"order": "newest"}).content.decode()

    assert '<a class="jump" href="#first-error">Jump to first error</a>' in html
    anchor = html.index('id="first-error"')
    assert "first failure" in html[anchor : html.index("</tr>", anchor)]

    # Filtered to warnings, the error is not on the page: the link opens the errors.
    html = viewer_client.get(_url(running), {"level": "WARNING"}).content.decode()
    assert 'href="?level=ERROR&amp;order=oldest#first-error">Jump to first error' in html


def test_it_has_no_jump_link_without_errors(viewer_client, running):
    add_event(running, "all good")
    assert "Jump to first error" not in viewer_client.get(_url(running)).content.decode()


def test_it_links_the_log_download(viewer_client, running):
    html = viewer_client.get(_url(running)).content.decode()
    assert f'href="{reverse("job_log_txt", args=[running.pk])}" download>Download Log</a>' in html


def test_it_shows_a_pending_job_waiting_for_a_worker(viewer_client, project):
    job = make_job(project, status=Job.Status.PENDING)
    html = viewer_client.get(_url(job)).content.decode()
    assert "<dt>Current Phase</dt><dd>Waiting for a worker</dd>" in html
    assert '<dt>Start Time</dt><dd><span class="muted">Not started</span></dd>' in html


def test_it_makes_as_many_queries_for_a_long_log_as_for_a_short_one(viewer_client, running):
    docs = running.collections.first()
    for i in range(3):
        add_event(running, f"line {i}", collection=docs)
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(_url(running))
    for i in range(300):
        add_event(running, f"more {i}", collection=docs if i % 2 else None)
    with CaptureQueriesContext(connection) as many:
        viewer_client.get(_url(running))
    assert len(many) == len(few)


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, running):
    assert request.getfixturevalue(persona).get(_url(running)).status_code == 404


def test_it_answers_404_to_an_unknown_job(viewer_client, db):
    assert viewer_client.get(reverse("job_detail", args=["job-nosuchjob"])).status_code == 404


def test_it_lets_an_organization_owner_read_every_projects_job(owner_client, other_project):
    job = make_job(other_project, status=Job.Status.FAILED, reason="boom")
    response = owner_client.get(_url(job))
    assert response.status_code == 200
    assert "boom" in response.content.decode()


def test_it_shows_the_average_speed_of_a_finished_job(viewer_client, project):
    # make_job: a final job ran 42 s.
    job = make_job(project, status=Job.Status.SUCCESSFUL)
    JobCollection.objects.filter(job=job).update(
        status=JobCollection.Status.DONE, total_entities=4_200, migrated_entities=4_200
    )

    html = viewer_client.get(_url(job)).content.decode()

    assert "Copied 4,200 of 4,200 rows · 100 rows/s on average" in html
    assert "<dt>Current Phase</dt><dd>—</dd>" in html


# --- a source cluster of a project the viewer is no member of (issue 15) ------------------


def test_it_names_a_source_the_viewer_may_not_see_without_name_id_or_link(
    member, member_client, owner_client, project, other_project
):
    # The job is in `other_project`, which `member` watches; its source is in `project`.
    member.project_memberships.create(project=other_project, role="PROJECT_READ_ONLY")
    clusters = job_clusters(other_project, source_project=project)
    job = make_job(other_project, status=Job.Status.FAILED, reason="docs: boom", **clusters)
    add_event(job, "job created by a@acme.test: 1 collection(s) from cluster prod (database x)")
    job.collections.update(status="FAILED", error="database x does not exist on the source (prod)")
    source = clusters["source_cluster"]

    html = member_client.get(_url(job)).content.decode()

    assert "<h1>Migrate a cluster of another project (default) to staging</h1>" in html
    assert "<dt>Source</dt>\n      <dd>a cluster of another project · database" in html
    assert "from a cluster of another project (database x)" in html
    assert "on the source (a cluster of another project)" in html
    assert "prod" not in html and source.pk not in html
    assert reverse("cluster_detail", args=[source.pk]) not in html
    log = b"".join(member_client.get(reverse("job_log_txt", args=[job.pk])).streaming_content)
    assert b"prod" not in log and b"a cluster of another project" in log
    # Someone who may see the source gets its name and link.
    html = owner_client.get(_url(job)).content.decode()
    assert f'<a href="{reverse("cluster_detail", args=[source.pk])}">prod</a>' in html


def test_it_shows_no_pending_verification_for_canceled_or_failed_collections(
    viewer_client, project
):
    job = make_job(project, status=Job.Status.CANCELED, collections=("docs", "users", "logs"))
    docs, users, logs = job.collections.all()
    JobCollection.objects.filter(pk=docs.pk).update(status=JobCollection.Status.CANCELED)
    JobCollection.objects.filter(pk=users.pk).update(status=JobCollection.Status.FAILED)
    JobCollection.objects.filter(pk=logs.pk).update(
        status=JobCollection.Status.DONE, verification=JobCollection.Verification.PENDING
    )

    html = viewer_client.get(_url(job)).content.decode()

    def verification(c):
        start = html.index(f'<tr id="collection-{c.pk}"')
        row = html[start : html.index("</tr>", start)]
        return row[row.index('<td data-label="Verification">') :]

    assert '<span class="muted">Not verified (canceled)</span>' in verification(docs)
    assert '<span class="muted">Not verified (failed)</span>' in verification(users)
    for c in (docs, users):
        assert ">Pending</span>" not in verification(c)
    assert 'data-status="PENDING">Pending</span>' in verification(logs)  # done, not yet verified
