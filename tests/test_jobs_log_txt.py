"""The log download (/jobs/<id>/log.txt): every line, oldest first, as a text attachment, and
never a credential."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.connections import Connection
from jobs.events import log_event
from jobs.models import Job
from tests.jobrows import add_event, make_job

TOKEN = "sk-live-7f3a9c1e5b2d4f6a8c0e"
PASSWORD = "hunter2-but-longer"


def _url(job: Job) -> str:
    return reverse("job_log_txt", args=[job.pk])


def _text(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "writer_client", "viewer_client"]
)
def test_it_downloads_every_line_oldest_first(request, persona, project):
    job = make_job(project, status=Job.Status.FAILED, reason="1 of 1 collection(s) failed")
    docs = job.collections.get()
    for i in range(600):  # more than the page shows
        add_event(job, f"line {i}", ago=1000 - i, collection=docs if i % 2 else None)
    add_event(job, "job failed: 1 of 1 collection(s) failed", "ERROR")

    response = request.getfixturevalue(persona).get(_url(job))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{job.pk}-log.txt"'
    lines = _text(response).splitlines()
    assert lines[0] == f"# {job.pk}: {job.description}"
    assert lines[2] == "# reason: 1 of 1 collection(s) failed"
    body = lines[3:]
    assert len(body) == 601
    assert body[0].endswith(" INFO    line 0")
    assert body[1].endswith(" INFO    [docs] line 1")
    assert body[-1].endswith(" ERROR   job failed: 1 of 1 collection(s) failed")
    assert body[0][:20].endswith("Z")  # ISO 8601 UTC


def test_it_never_lets_a_credential_out(owner_client, project):
    source = Connection("http://10.1.2.3:19530", token=TOKEN)
    job = make_job(
        project,
        status=Job.Status.FAILED,
        source_connection_enc=source.encrypt(),
        source_name=source.address,
        reason=f"cannot connect with token {TOKEN}",
    )
    log_event(job, f"connecting to 10.1.2.3:19530 with {TOKEN}", level="ERROR")
    # A line written before redaction existed (or by a careless writer) is cleaned on the way out.
    add_event(job, f"retrying with api key {TOKEN} and password={PASSWORD}", "WARNING")
    add_event(job, f"uri http://root:{PASSWORD}@10.1.2.3:19530 refused", "ERROR")

    text = _text(owner_client.get(_url(job)))

    assert TOKEN not in text
    assert PASSWORD not in text
    assert "connecting to 10.1.2.3:19530 with ***" in text
    assert "password=***" in text
    assert "http://***@10.1.2.3:19530" in text
    # The page does not show them either.
    html = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert TOKEN not in html and PASSWORD not in html
    assert "connecting to 10.1.2.3:19530 with ***" in html
    assert "cannot connect with token ***" in html


def test_it_downloads_an_empty_log(viewer_client, project):
    job = make_job(project, status=Job.Status.PENDING)
    lines = _text(viewer_client.get(_url(job))).splitlines()
    assert lines == [f"# {job.pk}: {job.description}", "# status PENDING, started -, ended -"]


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, project):
    job = make_job(project)
    assert request.getfixturevalue(persona).get(_url(job)).status_code == 404


def test_it_sends_anonymous_visitors_to_the_login_page(client, project):
    job = make_job(project)
    response = client.get(_url(job))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
