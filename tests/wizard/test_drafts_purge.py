"""Abandoned wizard drafts (an In Other Organization one holds typed credentials) are deleted by
the periodic sweep beat runs with the reaper, not only when their user starts another wizard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.celery import app
from console.connections import Connection
from migrations_app.models import DRAFT_TTL, WizardDraft
from migrations_app.tasks import PURGE_DRAFTS
from tests.workers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _draft(user, project, age: timedelta) -> WizardDraft:
    draft = WizardDraft(user=user, project=project, flow=WizardDraft.Flow.OTHER, data={})
    draft.set_connection(Connection(uri="http://192.0.2.7:19530", token="draft-key-0123"))
    draft.save()
    WizardDraft.objects.filter(pk=draft.pk).update(updated_at=timezone.now() - age)
    return draft


def test_the_sweep_deletes_expired_drafts_and_keeps_live_ones(owner, project, job_worker):
    expired = _draft(owner, project, DRAFT_TTL + timedelta(minutes=1))
    live = _draft(owner, project, DRAFT_TTL - timedelta(minutes=5))

    app.send_task(PURGE_DRAFTS)  # the task beat sends, run by the real worker

    wait_until(
        lambda: not WizardDraft.objects.filter(pk=expired.pk).exists(),
        60,
        lambda: f"the expired draft is still there\n{job_worker.logs()[-3000:]}",
    )
    assert list(WizardDraft.objects.values_list("pk", flat=True)) == [live.pk]
    job_worker.wait_for_log("reaper: 1 expired wizard draft(s) deleted")
