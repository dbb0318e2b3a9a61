"""Jobs page (/jobs/): the current project's jobs, newest first, with the contract's words;
filter by status, search by job id or collection name, pagination; Organization Owners'
organization view; rows of unfinished jobs poll; the query count does not grow with the jobs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.models import Job
from tests.jobrows import job_clusters, make_job

URL = reverse("jobs")
HEADERS = [
    "Description &amp; Type",
    "Status",
    "Job ID",
    "Start Time &amp; End Time",
    "Created By",
    "Actions",
]
CANCEL_WHY = (
    "Only Organization Owners and Project Admins can cancel jobs in project Default Project."
)


def _headers(html: str) -> list[str]:
    return re.findall(r'<th scope="col">(.*?)</th>', html)


def _row(html: str, job: Job) -> str:
    start = html.index(f'<tr id="job-{job.pk}"')
    return html[start : html.index("</tr>", start)]


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr id="job-(job-[a-z0-9]+)"', html)


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "writer_client", "viewer_client"]
)
def test_it_lists_the_projects_jobs_with_the_contracts_words(request, persona, project, admin):
    client = request.getfixturevalue(persona)
    jobs = {
        status: make_job(project, admin, status=status, collections=("docs", "users"))
        for status in Job.Status.values
    }

    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert _headers(html) == HEADERS
    for status, job in jobs.items():
        row = _row(html, job)
        assert f'data-status="{status}">{Job.Status(status).label}</span>' in row
        assert job.description in row
        assert "Migration · 2 collections: docs, users" in row
        assert f"<code>{job.pk}</code>" in row
        assert f'data-copy="{job.pk}"' in row
        assert "admin@<wbr>acme.test" in row
        assert ">View Details</a>" in row
    labels = re.findall(r'data-status="[A-Z_]+">([A-Za-z ]+)</span>', html)
    assert sorted(labels) == sorted(
        ["Pending", "In Progress", "Successful", "Failed", "Canceling", "Canceled"]
    )


def test_it_lists_newest_first(owner_client, project):
    old = make_job(project, ago=timedelta(hours=2))
    new = make_job(project, ago=timedelta(minutes=1))
    middle = make_job(project, ago=timedelta(hours=1))

    assert _ids(owner_client.get(URL).content.decode()) == [new.pk, middle.pk, old.pk]


def test_it_shows_only_the_current_projects_jobs(owner_client, project, other_project):
    here = make_job(project)
    there = make_job(other_project)

    html = owner_client.get(URL, {"project": project.pk}).content.decode()
    assert _ids(html) == [here.pk]
    html = owner_client.get(URL, {"project": other_project.pk}).content.decode()
    assert _ids(html) == [there.pk]
    assert '<th scope="col">Project</th>' not in html


def test_it_offers_cancel_with_a_dialog_to_owners_and_admins(
    owner_client, project_admin_client, project
):
    running = make_job(project, status=Job.Status.IN_PROGRESS)
    pending = make_job(project, status=Job.Status.PENDING)
    done = make_job(project, status=Job.Status.SUCCESSFUL)
    for client in (owner_client, project_admin_client):
        html = client.get(URL).content.decode()
        for job in (running, pending):
            row = _row(html, job)
            assert f'action="{reverse("job_cancel", args=[job.pk])}"' in row
            assert f'data-cancel-job="{job.pk}">Cancel</button>' in row
        assert ">Cancel</button>" not in _row(html, done)
        assert '<dialog id="cancel-dialog"' in html
        assert '<button type="submit" class="btn btn-danger">Cancel Job</button>' in html


@pytest.mark.parametrize("persona", ["viewer_client", "writer_client"])
def test_it_shows_watchers_why_they_cannot_cancel(request, persona, project):
    running = make_job(project, status=Job.Status.IN_PROGRESS)

    html = request.getfixturevalue(persona).get(URL).content.decode()

    row = _row(html, running)
    assert "data-cancel-job" not in row
    assert (
        f'aria-disabled="true" title="{CANCEL_WHY}" aria-describedby="cancel-why" '
        'popovertarget="cancel-why">Cancel'
    ) in row
    # The reason opens on click or tap too (a popover, outside the polled rows): see
    # tests/e2e/test_disabled_reasons.py.
    assert f'<p id="cancel-why" class="why-popover" popover>{CANCEL_WHY}</p>' in html
    assert "<dialog" not in html


def test_it_polls_unfinished_rows_only(viewer_client, project):
    running = make_job(project, status=Job.Status.IN_PROGRESS)
    canceling = make_job(project, status=Job.Status.CANCELING)
    failed = make_job(project, status=Job.Status.FAILED)

    html = viewer_client.get(URL).content.decode()

    for job in (running, canceling):
        row = _row(html, job)
        assert f'hx-get="{reverse("job_row", args=[job.pk])}"' in row
        assert 'hx-trigger="every 2s" hx-swap="outerHTML"' in row
    assert "hx-get" not in _row(html, failed)


def test_it_filters_by_status(viewer_client, project):
    failed = make_job(project, status=Job.Status.FAILED)
    make_job(project, status=Job.Status.SUCCESSFUL)
    make_job(project, status=Job.Status.IN_PROGRESS)

    html = viewer_client.get(URL, {"status": "FAILED"}).content.decode()

    assert _ids(html) == [failed.pk]
    assert '<option value="FAILED" selected>Failed</option>' in html
    assert "Clear filters" in html


def test_it_searches_by_job_id_and_collection_name(viewer_client, project):
    docs = make_job(project, collections=("docs",))
    users = make_job(project, collections=("users", "user_events"))

    assert _ids(viewer_client.get(URL, {"q": users.pk}).content.decode()) == [users.pk]
    assert _ids(viewer_client.get(URL, {"q": users.pk[-6:]}).content.decode()) == [users.pk]
    assert _ids(viewer_client.get(URL, {"q": "events"}).content.decode()) == [users.pk]
    assert _ids(viewer_client.get(URL, {"q": "DOCS"}).content.decode()) == [docs.pk]
    html = viewer_client.get(URL, {"q": "nothing-like-this"}).content.decode()
    assert "No jobs match these filters." in html


def test_it_combines_status_filter_and_search(viewer_client, project):
    make_job(project, status=Job.Status.FAILED, collections=("docs",))
    wanted = make_job(project, status=Job.Status.SUCCESSFUL, collections=("docs",))
    make_job(project, status=Job.Status.SUCCESSFUL, collections=("users",))

    html = viewer_client.get(URL, {"q": "docs", "status": "SUCCESSFUL"}).content.decode()

    assert _ids(html) == [wanted.pk]


def test_it_searches_target_collection_names_too(viewer_client, project):
    renamed = make_job(project, collections=("docs",))
    renamed.collections.update(target_name="Docs_V2")
    renamed.index_for_search()
    make_job(project, collections=("users",))

    assert _ids(viewer_client.get(URL, {"q": "docs_v"}).content.decode()) == [renamed.pk]
    assert renamed.search_text == f"{renamed.pk} docs docs_v2"


def test_it_says_an_unknown_status_is_not_applied(viewer_client, project):
    job = make_job(project)

    response = viewer_client.get(URL, {"status": "BOGUS"})

    html = response.content.decode()
    assert response.status_code == 200
    assert _ids(html) == [job.pk]
    assert (
        '<div id="filter-errors" class="error" role="alert"><p>Status BOGUS does not exist: '
        "showing every status. Choose one in the list.</p></div>"
    ) in html
    assert "Clear filters" in html


def test_it_says_a_search_too_long_is_not_applied(viewer_client, project):
    failed = make_job(project, status=Job.Status.FAILED, collections=("docs",))
    make_job(project, status=Job.Status.SUCCESSFUL, collections=("docs",))
    text = "docs" + "x" * 296

    response = viewer_client.get(URL, {"q": text, "status": "FAILED"})

    html = response.content.decode()
    assert response.status_code == 200
    assert _ids(html) == [failed.pk]  # the valid filter still applies
    assert (
        "<p>Search is at most 100 characters (this one has 300): not applied. Shorten it.</p>"
    ) in html
    assert f'value="{text}"' in html  # the box shows what the message speaks of
    assert 'aria-invalid="true"' in html


def test_it_shows_no_filter_message_for_valid_filters(viewer_client, project):
    make_job(project, status=Job.Status.FAILED)

    html = viewer_client.get(URL, {"q": "docs", "status": "FAILED"}).content.decode()

    assert "filter-errors" not in html


def test_it_names_the_target_collections_in_each_row(viewer_client, project):
    same = make_job(project, collections=("docs",))
    renamed = make_job(project, collections=("docs", "users", "events", "logs"))
    renamed.collections.filter(source_name="users").update(target_name="users_v2")
    renamed.collections.filter(source_name="events").update(target_db="archive")

    html = viewer_client.get(URL).content.decode()

    assert "Migration · 1 collection: docs</p>" in _row(html, same)
    assert (
        "Migration · 4 collections: docs, users → users_v2, events → archive.events +1 more</p>"
    ) in _row(html, renamed)


def test_it_pages_by_twenty_keeping_the_filters(viewer_client, project):
    jobs = [
        make_job(project, status=Job.Status.FAILED, ago=timedelta(minutes=i)) for i in range(45)
    ]
    make_job(project, status=Job.Status.SUCCESSFUL)

    first = viewer_client.get(URL, {"status": "FAILED"}).content.decode()
    second = viewer_client.get(URL, {"status": "FAILED", "page": 2}).content.decode()
    third = viewer_client.get(URL, {"status": "FAILED", "page": 3}).content.decode()

    assert _ids(first) == [j.pk for j in jobs[:20]]
    assert _ids(second) == [j.pk for j in jobs[20:40]]
    assert _ids(third) == [j.pk for j in jobs[40:]]
    assert "Page 2 of 3 · 45 jobs" in second
    assert f'href="?status=FAILED&amp;project={project.pk}&amp;page=3" rel="next"' in second
    assert f'href="?status=FAILED&amp;project={project.pk}&amp;page=1" rel="prev"' in second
    # A page number out of range shows the last page rather than an error.
    assert _ids(viewer_client.get(URL, {"status": "FAILED", "page": 99}).content.decode()) == [
        j.pk for j in jobs[40:]
    ]


def test_it_gives_organization_owners_every_projects_jobs(
    owner_client, project, other_project, admin
):
    here = make_job(project, admin, ago=timedelta(minutes=2))
    there = make_job(other_project, admin, ago=timedelta(minutes=1))

    response = owner_client.get(URL, {"scope": "org"})

    assert response.status_code == 200
    html = response.content.decode()
    assert _ids(html) == [there.pk, here.pk]
    assert _headers(html) == HEADERS[:1] + ["Project"] + HEADERS[1:]
    assert '<td data-label="Project">Analytics</td>' in _row(html, there)
    assert '<td data-label="Project">Default Project</td>' in _row(html, here)
    assert f'hx-get="{reverse("job_row", args=[here.pk])}?scope=org"' in _row(html, here)
    assert "All Projects" in html


def test_it_keeps_other_organizations_out_of_the_owners_view(owner_client, project, outsider):
    from console.models import Project

    mine = make_job(project)
    theirs = make_job(Project.objects.get(organization__name="Globex"), outsider)

    html = owner_client.get(URL, {"scope": "org"}).content.decode()

    assert _ids(html) == [mine.pk]
    assert theirs.pk not in html


@pytest.mark.parametrize("persona", ["project_admin_client", "viewer_client", "writer_client"])
def test_it_refuses_the_organization_view_to_non_owners(request, persona, project):
    client = request.getfixturevalue(persona)

    assert client.get(URL, {"scope": "org"}).status_code == 403
    assert "All Projects" not in client.get(URL).content.decode()


def test_it_answers_404_to_an_outsider_naming_the_project(outsider_client, project):
    make_job(project)
    assert outsider_client.get(URL, {"project": project.pk}).status_code == 404
    assert outsider_client.get(URL, {"project": project.pk, "scope": "org"}).status_code == 404


def test_it_shows_the_outsider_only_their_own_organization(outsider_client, project):
    job = make_job(project)

    response = outsider_client.get(URL)

    assert response.status_code == 200
    assert job.pk not in response.content.decode()
    assert "No jobs yet." in response.content.decode()


def test_it_answers_404_to_an_organization_member_without_a_project(member_client, project):
    make_job(project)
    assert member_client.get(URL).status_code == 404
    assert member_client.get(URL, {"project": project.pk}).status_code == 404


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def _queries(client, params) -> tuple[int, list[str]]:
    client.get(URL, params)  # the first visit stores the current project in the session
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, params)
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("params", [{}, {"scope": "org"}, {"q": "docs", "status": "FAILED"}])
def test_it_makes_as_many_queries_for_200_jobs_as_for_10(owner_client, project, admin, params):
    statuses = Job.Status.values
    for i in range(10):
        make_job(project, admin, status=statuses[i % 6], collections=("docs", "users"))
    few, _ = _queries(owner_client, params)

    for i in range(190):
        make_job(project, admin, status=statuses[i % 6], collections=("docs", "users", "x"))
    many, sql = _queries(owner_client, params)

    assert many == few, "\n".join(sql)


def test_it_highlights_the_job_just_created_and_keeps_it_while_polling(owner_client, project):
    other = make_job(project, ago=timedelta(minutes=5))
    new = make_job(project, ago=timedelta(minutes=1), status=Job.Status.PENDING)
    html = owner_client.get(f"{URL}?highlight={new.pk}").content.decode()
    assert 'class="row-highlight" aria-current="true"' in _row(html, new)
    assert "row-highlight" not in _row(html, other)
    assert f"highlight={new.pk}" in _row(html, new)  # the poll asks for the mark again
    row = owner_client.get(
        reverse("job_row", args=[new.pk]) + f"?highlight={new.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'class="row-highlight"' in row


def test_it_names_a_source_the_viewer_may_not_see_as_a_cluster_of_another_project(
    member, member_client, project, other_project
):
    member.project_memberships.create(project=other_project, role="PROJECT_READ_ONLY")
    job = make_job(other_project, **job_clusters(other_project, source_project=project))

    html = member_client.get(URL, {"project": other_project.pk}).content.decode()

    row = _row(html, job)
    assert "Migrate a cluster of another project (default) to staging" in row
    assert "prod" not in row
    polled = member_client.get(reverse("job_row", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert "a cluster of another project" in polled.content.decode()
