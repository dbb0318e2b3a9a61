"""Drop Collection on the cluster page: a Project Admin or Organization Owner drops one
collection, confirmed by typing its name (console.clusters.forms.DropCollectionForm), logged
as a ClusterEvent.

Refused, with nothing dropped: a watcher (Forbidden); a cluster not running or not reachable
(Unavailable); a collection that is gone (NotFound); a collection a job that has not finished
may still write into, by its owner mark (Conflict, from receivers of
console.signals.collection_dropping — jobs connects that rule, so the console need not know
jobs).
"""

from __future__ import annotations

from pymilvus.exceptions import MilvusException

from console.access import can_manage, refusal
from console.clients import open_client
from console.errors import Conflict, Forbidden, NotFound, Unavailable
from console.models import Cluster, ClusterEvent, User
from console.redaction import redact
from console.signals import collection_dropped, collection_dropping
from migrations_app.engine.connect import on_database
from migrations_app.engine.errors import CollectionNotFound, EngineError
from migrations_app.engine.fence import FencedClient
from migrations_app.engine.ownership import mark_in, row_count
from migrations_app.engine.target import drop_named

ACTION_DROP = "drop collections"
NOTHING_DROPPED = "nothing was dropped"
# Seconds each Milvus call of a drop may take (look-up, count, drop).
CALL_TIMEOUT = 20.0


def drop_collection(user: User, cluster: Cluster, db: str, name: str) -> int:
    """Drop collection `name` of database `db` of `cluster`; the rows it held (counted just
    before). Raises a ServiceError whose message says why and that nothing was dropped."""
    if not can_manage(user, cluster.project):
        raise Forbidden(refusal(cluster.project, ACTION_DROP))
    if cluster.status not in Cluster.LIVE_STATUSES:
        raise Unavailable(
            f"cluster {cluster.name} is {cluster.get_status_display().lower()}: it must be "
            f"running to drop a collection ({NOTHING_DROPPED})"
        )
    connection = cluster.connection()
    secrets = connection.secrets()
    try:
        # Every call with a deadline: a server that stops answering holds no page for long.
        client = FencedClient(
            open_client(connection),
            lambda: None,  # no lease: a person's drop is not superseded by anyone
            call_timeout=CALL_TIMEOUT,
            wait_timeout=CALL_TIMEOUT,
        )
    except EngineError as exc:
        message = redact(exc.message, secrets)
        raise Unavailable(
            f"cluster {cluster.name} cannot be reached: {message} ({NOTHING_DROPPED})"
        ) from None
    try:
        mark = mark_in(client, db, name)
        for _receiver, refused in collection_dropping.send(
            sender=Cluster, cluster=cluster, db=db, name=name, mark=mark
        ):
            if refused:
                raise Conflict(f"{refused} ({NOTHING_DROPPED})")
        with on_database(client, db) as on_db:
            rows = row_count(on_db, name)
        drop_named(client, db, name)
    except CollectionNotFound as exc:
        raise NotFound(f"{exc.message} on cluster {cluster.name}") from None
    except MilvusException as exc:
        message = redact(exc.message, secrets)
        raise Unavailable(
            f"cluster {cluster.name} did not answer: {message} ({NOTHING_DROPPED})"
        ) from None
    finally:
        client.close()
    ClusterEvent.objects.create(
        cluster=cluster,
        user=user,
        message=f"{user.email} dropped collection {name} of database {db} ({rows:,} rows)",
    )
    collection_dropped.send(sender=Cluster, cluster=cluster, db=db, name=name, mark=mark, user=user)
    return rows
