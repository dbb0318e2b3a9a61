"""manage.py create_api_key: prints a working key once and stores only its hash."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.models import ApiKey


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_it_prints_a_key_that_authenticates_as_the_user(owner):
    lines = run("--email", "OWNER@acme.test", "--name", "deploy script")
    raw = lines[-1]
    assert raw.startswith(ApiKey.PREFIX)
    assert ApiKey.authenticate(raw) == owner
    key = ApiKey.objects.get(user=owner)
    assert key.name == "deploy script"
    assert key.key_hash == ApiKey.hash_key(raw)
    assert raw not in key.key_hash and key.key_prefix == raw[:10]


@pytest.mark.django_db
def test_it_gives_a_new_key_each_time(owner):
    first, second = run("--email", owner.email)[-1], run("--email", owner.email)[-1]
    assert first != second
    names = sorted(ApiKey.objects.filter(user=owner).values_list("name", flat=True))
    assert names == ["CLI key", "CLI key 2"]


@pytest.mark.django_db
def test_it_refuses_a_name_the_user_already_has(owner):
    run("--email", owner.email, "--name", "deploy")
    with pytest.raises(CommandError, match="You already have an API key named 'deploy'"):
        run("--email", owner.email, "--name", "deploy")
    assert ApiKey.objects.filter(user=owner).count() == 1


@pytest.mark.django_db
def test_it_refuses_an_unknown_email():
    with pytest.raises(CommandError, match="no user with email ghost@nowhere.test"):
        run("--email", "ghost@nowhere.test")
    assert ApiKey.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_deactivated_user_and_a_blank_name(owner):
    with pytest.raises(CommandError, match="key name must be 1 to 100 characters"):
        run("--email", owner.email, "--name", "   ")
    owner.is_active = False
    owner.save()
    with pytest.raises(CommandError, match="user owner@acme.test is deactivated"):
        run("--email", owner.email)
    assert ApiKey.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_key_past_the_limit_per_user(attacker, settings):
    """Issue 15: one user held 55 keys, each with its own request rate. A CommandError: the
    message on stderr and exit status 1 from manage.py."""
    settings.API_KEYS_PER_USER = 10
    for _ in range(10):
        run("--email", attacker.email)
    with pytest.raises(CommandError) as caught:
        run("--email", attacker.email, "--name", "eleventh")
    assert str(caught.value) == (
        "You already have 10 API keys, the most one user may hold: delete one you no longer "
        "use, then create the new one."
    )
    assert ApiKey.objects.filter(user=attacker).count() == 10
