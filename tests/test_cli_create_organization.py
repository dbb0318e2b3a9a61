"""manage.py create_organization: good input creates org + owner + "Default Project"."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.models import Membership, Organization, Project, User


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_organization", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_it_creates_the_organization_owner_and_default_project():
    lines = run("Initech", "--owner", "Peter@Initech.test", "--password", "tps-reports-42")
    org = Organization.objects.get(name="Initech")
    project = Project.objects.get(organization=org)
    assert lines[-1] == f"{org.pk} {project.pk}"
    assert project.name == "Default Project"
    owner = User.objects.get(email="peter@initech.test")
    assert owner.check_password("tps-reports-42")
    assert Membership.objects.get(user=owner, organization=org).role == Membership.Role.ORG_OWNER
    assert "tps-reports-42" not in "\n".join(lines)


@pytest.mark.django_db
def test_it_makes_an_existing_user_owner_without_changing_their_password(owner):
    run("Second Org", "--owner", owner.email, "--password", "ignored-password")
    org = Organization.objects.get(name="Second Org")
    owner.refresh_from_db()
    assert owner.check_password("correct-horse-battery")
    assert Membership.objects.filter(user=owner, organization=org, role="ORG_OWNER").exists()


@pytest.mark.django_db
def test_it_refuses_a_duplicate_organization_name(org):
    with pytest.raises(CommandError, match="an organization named 'acme' already exists"):
        run("acme", "--owner", "new@acme.test", "--password", "long-enough-pw")
    assert not User.objects.filter(email="new@acme.test").exists()
    assert Organization.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("  ", "--owner", "a@b.test", "--password", "long-enough-pw"), "must not be empty"),
        (("X" * 101, "--owner", "a@b.test", "--password", "long-enough-pw"), "at most 100"),
        (("Org", "--owner", "not-an-email", "--password", "long-enough-pw"), "not a valid email"),
        (
            ("Org", "--owner", "a@b.test", "--password", "short"),
            "password rejected: This password is too short",
        ),
        (("Org", "--password", "long-enough-pw"), "the following arguments are required: --owner"),
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Organization.objects.count() == 0
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_it_exits_non_zero_with_the_message_on_stderr(org, capsys):
    from console.management.commands.create_organization import Command

    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(
            [
                "manage.py",
                "create_organization",
                "Acme",
                "--owner",
                "x@y.test",
                "--password",
                "pw-long-enough",
            ]
        )
    assert exit_info.value.code != 0
    assert "CommandError: an organization named 'Acme' already exists" in capsys.readouterr().err


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("4815162342", "This password is entirely numeric."),
        ("initech-peter", "The password is too similar to the email."),
    ],
)
def test_it_applies_every_password_validator(password, message):
    with pytest.raises(CommandError) as caught:
        run("Initech", "--owner", "peter@initech.test", "--password", password)
    assert str(caught.value).startswith("password rejected: ") and message in str(caught.value)
    assert not Organization.objects.exists() and not User.objects.exists()


@pytest.mark.django_db
def test_it_reads_the_password_from_standard_input():
    out = StringIO()
    call_command(
        "create_organization",
        "Initech",
        "--owner",
        "peter@initech.test",
        "--password",
        "-",
        stdin=StringIO("from-stdin-pw-7\n"),
        stdout=out,
    )
    assert User.objects.get(email="peter@initech.test").check_password("from-stdin-pw-7")
    assert "from-stdin-pw-7" not in out.getvalue()


@pytest.mark.django_db
def test_it_reads_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONSOLE_PASSWORD", "from-env-pw-7")
    run("Initech", "--owner", "peter@initech.test")
    assert User.objects.get(email="peter@initech.test").check_password("from-env-pw-7")


@pytest.mark.django_db
def test_it_refuses_an_empty_standard_input_and_creates_nothing():
    with pytest.raises(CommandError, match="--password -: standard input was empty"):
        call_command(
            "create_organization",
            "Initech",
            "--owner",
            "p@i.test",
            "--password",
            "-",
            stdin=StringIO(""),
            stdout=StringIO(),
        )
    assert not Organization.objects.exists()
