"""Celery tasks of the migrations app: the periodic sweep of abandoned wizard drafts.

Run by beat next to the job reaper (console/settings.py CELERY_BEAT_SCHEDULE, same period):
a draft of *In Other Organization* holds typed credentials (encrypted), so an abandoned one
must not wait for its user to start another wizard to go.
"""

from __future__ import annotations

import logging

from celery import shared_task

from migrations_app.models import WizardDraft

log = logging.getLogger("migrations_app")

PURGE_DRAFTS = "migrations_app.purge_drafts"


@shared_task(name=PURGE_DRAFTS, ignore_result=True)
def purge_drafts() -> int:
    """Delete the wizard drafts untouched for longer than DRAFT_TTL; how many."""
    deleted, _ = WizardDraft.objects.expired().delete()
    if deleted:
        log.info("reaper: %d expired wizard draft(s) deleted", deleted)
    return deleted
