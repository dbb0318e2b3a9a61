"""The end of a job as its creator's e-mail (Django's locmem backend: mail.outbox) and as the
webhook's body, made in this process; tests/test_jobs_notify.py runs them in a real worker."""

from __future__ import annotations

import json
import socket

import pytest
from django.core import mail

from console.models import ProjectMembership
from jobs.models import Job
from jobs.notify import email_creator, job_ended, webhook_body
from jobs.serializers import job_data
from tests.jobrows import job_clusters, make_job

pytestmark = pytest.mark.django_db


def failed_job(project, user, **fields) -> Job:
    return make_job(
        project,
        user,
        status=Job.Status.FAILED,
        reason="1 of 1 collection(s) failed — default.docs: cannot reach prod",
        **{**job_clusters(project), **fields},
    )


def test_it_mails_the_creator_the_outcome_and_a_link(admin, project, settings):
    settings.CONSOLE_URL = "https://console.example.test"
    settings.DEFAULT_FROM_EMAIL = "migrations@example.test"
    job = failed_job(project, admin)
    assert email_creator(job)
    (sent,) = mail.outbox
    assert sent.to == [admin.email]
    assert sent.from_email == "migrations@example.test"
    assert sent.subject == f"Migration job {job.pk}: Failed"
    assert f"in project {project.name} ended: Failed." in sent.body
    assert "Reason: 1 of 1 collection(s) failed — default.docs: cannot reach prod" in sent.body
    assert f"View Details: https://console.example.test/jobs/{job.pk}/" in sent.body


def test_it_mails_nobody_who_may_no_longer_see_the_job(admin, project):
    job = failed_job(project, admin)
    ProjectMembership.objects.filter(user=admin).delete()
    assert not email_creator(job)
    assert mail.outbox == []


def test_it_hides_a_source_cluster_the_creator_may_not_see(admin, project, other_project):
    # The admin of this project is no member of the source's project.
    job = failed_job(project, admin, **job_clusters(project, source_project=other_project))
    email_creator(job)
    (sent,) = mail.outbox
    assert "Source: a cluster of another project (database default)" in sent.body
    assert "prod" not in sent.body.replace("cannot reach a cluster of another project", "")


def test_it_logs_a_mail_that_cannot_be_sent(admin, project, settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    job = failed_job(project, admin)
    assert not email_creator(job)
    (line,) = job.events.filter(level="WARNING")
    assert line.message.startswith(f"the e-mail to {admin.email} about the job's end could not")


def test_it_sends_the_webhook_the_job_as_the_api_gives_it(owner, project, api_as):
    project.webhook_url = "https://hooks.example.com/"
    project.save()
    job = failed_job(project, owner)
    event = job_ended(job.pk)
    assert event.job_status == "FAILED"
    answer = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]
    assert json.loads(event.body) == answer


def test_it_names_a_source_of_another_project_only_so_in_the_webhook(owner, project, other_project):
    job = failed_job(project, owner, **job_clusters(project, source_project=other_project))
    body = json.loads(webhook_body(job))
    assert body["source"] == {"clusterName": "a cluster of another project", "dbName": "default"}
    assert "prod" not in json.dumps(body)
    assert job_data(Job.objects.get(pk=job.pk))["source"]["clusterName"] == "prod"


def test_it_tells_nothing_of_a_job_that_is_not_final(owner, project):
    project.webhook_url = "https://hooks.example.com/"
    project.save()
    job = make_job(project, owner, status=Job.Status.IN_PROGRESS)
    assert job_ended(job.pk) is None
    assert mail.outbox == []
