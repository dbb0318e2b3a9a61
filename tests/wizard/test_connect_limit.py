"""Connect to Data Source makes the server open a connection on every Next: it counts against
the same per-user limit as Test connection, so the wizard is no port scanner either."""

from __future__ import annotations

from django.urls import reverse

from console import throttle
from console.clusters.lite_process import free_port
from migrations_app.models import WizardDraft


def test_it_limits_connection_attempts_per_user(owner, owner_client, settings):
    settings.CONNECTION_TEST_LIMIT = 2
    throttle.reset_connection_tests(owner.pk)
    data = {"uri": f"http://127.0.0.1:{free_port()}", "auth": "API_KEY", "api_key": "k"}
    try:
        for _ in range(2):
            assert (
                "Cannot reach 127.0.0.1:"
                in owner_client.post(reverse("wizard_other"), data).content.decode()
            )
        html = owner_client.post(reverse("wizard_other"), data).content.decode()
        assert throttle.TOO_MANY_CONNECTION_TESTS in html
        assert "Cannot reach" not in html
        assert not WizardDraft.objects.exists()
    finally:
        throttle.reset_connection_tests(owner.pk)
