"""Cluster credentials are encrypted at rest and redacted from text."""

import pytest
from django.db import connection

from console.models import Cluster
from console.redaction import redact

SECRET = "s3cr3t-token-value-42"


@pytest.fixture
def cluster(project):
    c = Cluster(
        project=project,
        name="ext",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri="http://127.0.0.1:19530",
    )
    c.set_credentials(username="root", password=SECRET)
    c.save()
    return c


def test_it_never_stores_the_secret_in_clear(cluster):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM console_cluster WHERE id = %s", [cluster.pk])
        row = cursor.fetchone()
    assert not any(SECRET in str(value) for value in row)
    assert Cluster.objects.get(pk=cluster.pk).credentials == {
        "username": "root",
        "password": SECRET,
    }
    assert Cluster.objects.get(pk=cluster.pk).token == f"root:{SECRET}"


def test_it_switches_between_api_key_and_user_password(cluster):
    cluster.set_credentials(token="tok-123456")
    assert cluster.auth == Cluster.Auth.API_KEY
    assert cluster.token == "tok-123456"
    cluster.set_credentials()
    assert cluster.auth == Cluster.Auth.NONE
    assert cluster.token is None and cluster.credentials_enc == ""


def test_it_redacts_known_secrets_and_credential_shapes():
    text = (
        f"failed http://root:{SECRET}@10.0.0.1:19530 token={SECRET} "
        f"Authorization: Bearer abc.def password: 'hunter22'"
    )
    cleaned = redact(text, [SECRET])
    assert SECRET not in cleaned
    assert "abc.def" not in cleaned
    assert "hunter22" not in cleaned
    assert "10.0.0.1:19530" in cleaned
