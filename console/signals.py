"""Signals the console sends so that apps above it can take part without being imported.

`cluster_deleting` is sent (sender=Cluster, cluster=...) inside the transaction that deletes a
cluster; a receiver answers with a refusal (a message a person can act on) or None, and the
first refusal stops the deletion (console.services.delete_cluster). jobs connects the rule
"not while an unfinished job uses it" (jobs/models.py).
"""

from __future__ import annotations

from django.dispatch import Signal

cluster_deleting = Signal()
