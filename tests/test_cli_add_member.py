"""manage.py add_member: organization and project roles for new and existing users."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.models import Membership, ProjectMembership, User


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("add_member", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_it_adds_a_new_org_member_and_prints_the_user_id(org):
    lines = run(
        "--org",
        org.pk,
        "--email",
        "new@acme.test",
        "--password",
        "new-user-pass",
        "--role",
        "ORG_MEMBER",
    )
    user = User.objects.get(email="new@acme.test")
    assert lines[-1] == str(user.pk)
    assert user.check_password("new-user-pass")
    assert Membership.objects.get(user=user, organization=org).role == "ORG_MEMBER"
    assert "new-user-pass" not in "\n".join(lines)


@pytest.mark.django_db
def test_it_gives_a_project_role_and_org_membership(org, project):
    run(
        "--org",
        org.pk,
        "--email",
        "pa@acme.test",
        "--password",
        "pa-password",
        "--role",
        "PROJECT_ADMIN",
        "--project",
        project.pk,
    )
    user = User.objects.get(email="pa@acme.test")
    assert ProjectMembership.objects.get(user=user, project=project).role == "PROJECT_ADMIN"
    assert Membership.objects.get(user=user, organization=org).role == "ORG_MEMBER"


@pytest.mark.django_db
def test_it_adds_the_membership_to_an_existing_user_and_keeps_their_password(
    org, project, outsider
):
    run(
        "--org",
        org.pk,
        "--email",
        outsider.email,
        "--password",
        "other-password",
        "--role",
        "PROJECT_READ_ONLY",
        "--project",
        project.pk,
    )
    outsider.refresh_from_db()
    assert outsider.check_password("correct-horse-battery")
    assert ProjectMembership.objects.get(user=outsider, project=project).role == "PROJECT_READ_ONLY"
    assert outsider.memberships.count() == 2


@pytest.mark.django_db
def test_it_changes_the_role_of_an_existing_member(org, project, viewer):
    run(
        "--org",
        org.pk,
        "--email",
        viewer.email,
        "--password",
        "whatever-pass",
        "--role",
        "PROJECT_READ_WRITE",
        "--project",
        project.pk,
    )
    assert ProjectMembership.objects.get(user=viewer, project=project).role == "PROJECT_READ_WRITE"
    assert ProjectMembership.objects.filter(user=viewer).count() == 1


@pytest.mark.django_db
def test_it_refuses_a_project_of_another_organization(org, outsider):
    foreign = outsider.memberships.get().organization.projects.get()
    with pytest.raises(
        CommandError, match=f"project {foreign.pk} does not belong to organization {org.pk}"
    ):
        run(
            "--org",
            org.pk,
            "--email",
            "x@acme.test",
            "--password",
            "long-enough-pw",
            "--role",
            "PROJECT_ADMIN",
            "--project",
            foreign.pk,
        )
    assert not User.objects.filter(email="x@acme.test").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--role", "SUPERUSER"], "unknown role 'SUPERUSER': use one of ORG_OWNER"),
        (
            ["--role", "PROJECT_ADMIN"],
            r"role PROJECT_ADMIN needs a project \(a project of organization .*\) \(--project\)",
        ),
        (
            ["--role", "ORG_MEMBER", "--project", "PROJECT"],
            "role ORG_MEMBER is an organization role",
        ),
        (
            ["--role", "PROJECT_ADMIN", "--project", "proj-doesnotexist"],
            "project proj-doesnotexist does not exist",
        ),
    ],
)
def test_it_refuses_bad_roles_and_projects(org, project, extra, message):
    extra = [project.pk if item == "PROJECT" else item for item in extra]
    with pytest.raises(CommandError, match=message):
        run("--org", org.pk, "--email", "x@acme.test", "--password", "long-enough-pw", *extra)
    assert not User.objects.filter(email="x@acme.test").exists()


@pytest.mark.django_db
def test_it_refuses_an_unknown_organization():
    with pytest.raises(CommandError, match="organization org-nope does not exist"):
        run(
            "--org",
            "org-nope",
            "--email",
            "x@acme.test",
            "--password",
            "long-enough-pw",
            "--role",
            "ORG_MEMBER",
        )


@pytest.mark.django_db
def test_it_refuses_a_bad_email_or_a_weak_password_for_a_new_user(org):
    with pytest.raises(CommandError, match="'nobody' is not a valid email address"):
        run(
            "--org",
            org.pk,
            "--email",
            "nobody",
            "--password",
            "long-enough-pw",
            "--role",
            "ORG_MEMBER",
        )
    with pytest.raises(CommandError, match="password rejected"):
        run("--org", org.pk, "--email", "x@acme.test", "--password", "abc", "--role", "ORG_MEMBER")
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_to_demote_the_only_owner(org, owner):
    with pytest.raises(CommandError, match="owner@acme.test is the only owner of organization"):
        run(
            "--org",
            org.pk,
            "--email",
            owner.email,
            "--password",
            "x-long-enough",
            "--role",
            "ORG_MEMBER",
        )
    assert Membership.objects.get(user=owner, organization=org).role == "ORG_OWNER"
    run(
        "--org",
        org.pk,
        "--email",
        "second@acme.test",
        "--password",
        "second-owner",
        "--role",
        "ORG_OWNER",
    )
    run(
        "--org",
        org.pk,
        "--email",
        owner.email,
        "--password",
        "x-long-enough",
        "--role",
        "ORG_MEMBER",
    )
    assert Membership.objects.get(user=owner, organization=org).role == "ORG_MEMBER"


@pytest.mark.django_db
def test_it_reads_the_password_from_the_environment(org, monkeypatch):
    monkeypatch.setenv("CONSOLE_PASSWORD", "env-member-pw-9")
    run("--org", org.pk, "--email", "env@acme.test", "--role", "ORG_MEMBER")
    assert User.objects.get(email="env@acme.test").check_password("env-member-pw-9")
