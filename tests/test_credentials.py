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


@pytest.fixture
def console_log():
    """What the console's configured log handler (settings.LOGGING, on the root logger) writes."""
    import io
    import logging

    from console.redaction import RedactingFilter

    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_it_sends_pymilvus_logs_through_the_redacting_handler(console_log):
    import logging

    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer"):
        logger = logging.getLogger(name)
        assert logger.handlers == [] and logger.propagate, name
    logging.getLogger("pymilvus.milvus_client").warning(
        "failed to connect with token=%s", "pm-token-9f8e7d"
    )
    text = console_log.getvalue()
    assert "failed to connect with token=***" in text
    assert "pm-token-9f8e7d" not in text


def test_it_redacts_tracebacks_in_logs(console_log):
    import logging

    try:
        raise RuntimeError("connect to http://root:tb-secret-77@milvus:19530 password=tb-pw-88")
    except RuntimeError:
        logging.getLogger("console.test").exception("the connection failed")
    text = console_log.getvalue()
    assert "the connection failed" in text and "Traceback" in text and "RuntimeError" in text
    assert "tb-secret-77" not in text and "tb-pw-88" not in text
