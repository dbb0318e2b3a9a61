"""Writing rows that may be on the target already (a killed run's batch, a write whose answer
was lost, a repaired range), so that each key ends up there exactly once.

Where the target has Upsert the rows are upserted: a row already there is replaced. Milvus 2.2
has no Upsert (capabilities.py): there the listed keys are deleted first, then the rows are
inserted. Milvus applies a delete to the rows written before it (by timestamp), never to rows
written after it, so the earlier write's rows go and the new ones stay — however late the
delete becomes visible to queries. The delete names its keys (`pk in [...]`,
filters.pk_in_filter), which Milvus runs without a query: on a collection loaded or not.
"""

from __future__ import annotations

from pymilvus.grpc_gen import milvus_pb2

from .filters import pk_in_filter
from .rpc import RpcChannel

DELETE_CHUNK = 1_000  # keys per delete request


def rewrite_request(collection: str, partition: str, fields_data, rows: int, upsert: bool):
    """The request that writes `fields_data`: an UpsertRequest, or an InsertRequest to send
    after `delete_keys` where the target has no Upsert."""
    kind = milvus_pb2.UpsertRequest if upsert else milvus_pb2.InsertRequest
    request = kind(collection_name=collection, partition_name=partition, num_rows=rows)
    request.fields_data.extend(fields_data)
    return request


def delete_keys(
    channel: RpcChannel,
    what: str,
    collection: str,
    partition: str,
    keys: list,
    pk_field: str,
    pk_is_varchar: bool,
) -> None:
    """Delete the rows of exactly these keys (any copies of them), in chunks. Raises what
    RpcChannel.call raises."""
    for start in range(0, len(keys), DELETE_CHUNK):
        chunk = keys[start : start + DELETE_CHUNK]
        request = milvus_pb2.DeleteRequest(
            collection_name=collection,
            partition_name=partition,
            expr=pk_in_filter(pk_field, chunk, pk_is_varchar),
        )
        channel.call(what, "Delete", request)
