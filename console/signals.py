"""Signals the console sends so that apps above it can take part without being imported.

`cluster_deleting` is sent (sender=Cluster, cluster=...) inside the transaction that deletes a
cluster; a receiver answers with a refusal (a message a person can act on) or None, and the
first refusal stops the deletion (console.services.delete_cluster). jobs connects the rule
"not while an unfinished job uses it" (jobs/models.py).

`collection_dropping` is sent (sender=Cluster, cluster=..., db=..., name=..., mark=...) before
a person drops a collection from the cluster page; `mark` is the collection's owner mark (the
id of the job that created it, or None). The same answer as above: a refusal or None; jobs
refuses while the job of the mark has not finished (it may still write into it).

`collection_dropped` is sent (sender=Cluster, cluster=..., db=..., name=..., mark=..., user=...)
after such a drop; jobs notes it in the log of the job of the mark, and a collection of that
job that had not finished forgets its checkpoint (a Retry copies it again from the start).
"""

from __future__ import annotations

from django.dispatch import Signal

cluster_deleting = Signal()
collection_dropping = Signal()
collection_dropped = Signal()
