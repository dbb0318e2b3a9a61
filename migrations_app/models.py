"""The wizard's server-side state: one draft per started migration, owned by one user.

A draft holds only what the user chose (ids, names, schema choices) and, for *In Other
Organization*, the typed connection encrypted like a cluster's credentials. Nothing is created
on any cluster before *Migrate*, so an abandoned draft leaves no trace but its row, and rows
older than DRAFT_TTL are deleted by the periodic sweep (migrations_app.tasks, run by beat with
the job reaper) and whenever a new draft is made.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from console.connections import Connection
from console.models import Project, User

DRAFT_TTL = timedelta(hours=24)


class WizardDraftQuerySet(models.QuerySet):
    def live(self) -> models.QuerySet[WizardDraft]:
        return self.filter(updated_at__gte=timezone.now() - DRAFT_TTL)

    def expired(self) -> models.QuerySet[WizardDraft]:
        return self.filter(updated_at__lt=timezone.now() - DRAFT_TTL)


class WizardDraft(models.Model):
    class Flow(models.TextChoices):
        CURRENT = "CURRENT", "In Current Organization"
        OTHER = "OTHER", "In Other Organization"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wizard_drafts")
    # The project whose organization the wizard runs in (the header's current project).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    flow = models.CharField(max_length=10, choices=Flow.choices)
    data = models.JSONField(default=dict)
    # In Other Organization: the typed endpoint and credentials, Fernet-encrypted.
    connection_enc = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WizardDraftQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["updated_at"], name="wizard_draft_updated")]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} draft {self.pk} of {self.user_id}"

    @property
    def is_other(self) -> bool:
        return self.flow == self.Flow.OTHER

    def connection(self) -> Connection | None:
        return Connection.decrypt(self.connection_enc) if self.connection_enc else None

    def set_connection(self, connection: Connection) -> None:
        self.connection_enc = connection.encrypt()
