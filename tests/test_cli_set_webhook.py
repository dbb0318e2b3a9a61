"""manage.py set_webhook --project P --url URL (--url "" removes it)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.webhooks import signing_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def public_name(resolver):
    resolver.answers["hooks.example.com"] = [["93.184.216.34"]]


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("set_webhook", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_prints_the_signing_secret_last(project):
    lines = run("--project", project.pk, "--url", "https://hooks.example.com/jobs")
    project.refresh_from_db()
    assert project.webhook_url == "https://hooks.example.com/jobs"
    assert project.webhook_set_by is None
    assert lines[-1] == signing_secret(project)
    assert lines[-1].startswith("whsec_")
    assert "https://hooks.example.com/jobs" in lines[0]


def test_it_removes_the_webhook_with_an_empty_url(project):
    run("--project", project.pk, "--url", "https://hooks.example.com/jobs")
    lines = run("--project", project.pk, "--url", "")
    assert lines == [f"Webhook of project {project.name} ({project.pk}) removed."]
    project.refresh_from_db()
    assert (project.webhook_url, project.webhook_secret_enc) == ("", "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "file:///etc/passwd",
            "Webhook URL scheme 'file' is not allowed: use http or https (--url)",
        ),
        ("https://hooks.example.com:0/", "has an invalid port (--url)"),
        ("http://metadata.google.internal/", "is a cloud metadata service and is not allowed"),
    ],
)
def test_it_refuses_a_bad_url(project, url, message):
    with pytest.raises(CommandError) as refused:
        run("--project", project.pk, "--url", url)
    assert message in str(refused.value)
    project.refresh_from_db()
    assert project.webhook_url == ""


def test_it_refuses_an_unknown_project(db):
    with pytest.raises(CommandError, match="no project with id proj-nope"):
        run("--project", "proj-nope", "--url", "https://hooks.example.com/")
