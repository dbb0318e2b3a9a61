"""How many rows a collection holds: `count(*)` where the server has it, a keys-only scan where
it does not, and the one key Milvus stores but never returns.

- Milvus 2.2 has no `count(*)` (it answers "query expression is empty", and with a filter it
  returns rows): there the rows are counted by a strongly consistent scan of the keys
  (reader.scan_keys). Whether a server has it is found once per client
  (capabilities.learn_count) by asking `count(*)` of rows no key matches: a server with it
  answers one row holding the count, one without answers rows (none).
- Milvus Lite's `count(*)` ignores `partition_names`: a partition there is counted by its keys.
- Every Milvus release tried (2.2.9–2.3.5) stores and counts a row keyed 2**63−1, yet no query
  returns it (`hidden_max_key`), so a copy cannot read it and a count exceeds the keys read by
  one. `count(*)` with a filter on that key still counts it, which names it. Without `count(*)`
  the collection statistics (every row stored, deleted ones too until compaction) are the only
  witness: they are compared with the keys read, and the difference is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .capabilities import capabilities, learn_count
from .errors import CopyError, VerifyError
from .filters import INT64_MAX, pk_literal
from .reader import scan_keys
from .rpc import RpcChannel, wait_for

COUNT = "count(*)"


def count_rows(
    client: MilvusClient,
    collection: str,
    *,
    pk: str,
    pk_is_varchar: bool = False,
    partition: str | None = None,
    channel: RpcChannel | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> int:
    """Exact number of rows (strong consistency), of one partition when `partition` is given:
    `count(*)` where the server has it and answers it right, else the keys counted.

    `channel` (the client's, with its cancel flag) reads the keys where they are counted;
    `should_cancel` is looked at while a count waits: CopyCanceled. VerifyError when the
    count cannot be made."""
    where = f"{collection}" + (f" partition {partition}" if partition else "")
    lite = capabilities(client).is_lite
    try:
        if (partition is not None and lite) or not has_count(
            client, collection, pk, pk_is_varchar, should_cancel
        ):
            end = channel or RpcChannel(client, "server", should_cancel)
            return sum(
                len(keys)
                for keys in scan_keys(end, collection, pk, pk_is_varchar, partition=partition)
            )
        answer = _count(client, collection, "", partition, should_cancel, where)
    except (MilvusException, CopyError) as exc:
        raise VerifyError(
            f"cannot count the rows of {where}: {getattr(exc, 'message', exc)}"
        ) from None
    return int(answer[0][COUNT])


def has_count(
    client: MilvusClient,
    collection: str,
    pk: str,
    pk_is_varchar: bool,
    should_cancel: Callable[[], bool] | None = None,
) -> bool:
    """Whether the server answers `count(*)` (asked once per client, of `collection`)."""
    known = capabilities(client).count
    if known is not None:
        return known
    answer = _count(
        client, collection, _matches_nothing(pk, pk_is_varchar), None, should_cancel, collection
    )
    found = bool(answer) and COUNT in answer[0]
    learn_count(client, found)
    return found


def hidden_max_key(
    client: MilvusClient,
    collection: str,
    pk: str,
    pk_is_varchar: bool,
    should_cancel: Callable[[], bool] | None = None,
) -> bool | None:
    """Whether the server counts a row keyed 2**63−1 that a query for it does not return
    (None: it cannot tell, the server has no `count(*)`)."""
    if pk_is_varchar or capabilities(client).is_lite:
        return False
    key = f"{pk} == {INT64_MAX}"
    where = f"{collection} key {INT64_MAX}"
    try:
        if not has_count(client, collection, pk, pk_is_varchar, should_cancel):
            return None
        counted = int(_count(client, collection, key, None, should_cancel, where)[0][COUNT])
        if not counted:
            return False
        rows = wait_for(
            lambda: client.query(
                collection, filter=key, output_fields=[pk], consistency_level="Strong"
            ),
            should_cancel,
            f"reading {where}",
        )
    except (MilvusException, CopyError) as exc:
        raise VerifyError(f"cannot read {where}: {getattr(exc, 'message', exc)}") from None
    return not rows


def statistics_rows(client: MilvusClient, collection: str) -> int | None:
    """The row count of the collection statistics (None when they cannot be read)."""
    try:
        return int(client.get_collection_stats(collection).get("row_count", 0))
    except MilvusException:
        return None


def hidden_key_line(role: str, pk: str) -> str:
    """The mismatch that names the key Milvus will not return."""
    shown = pk_literal(INT64_MAX, False)
    what = (
        "of the source cannot be copied"
        if role == "source"
        else "is stored on the target but cannot be verified"
    )
    return (
        f"row {pk}={shown} {what}: Milvus stores and counts a row keyed {shown} (2**63-1) but "
        "no query returns it"
    )


def _count(client, collection, expr, partition, should_cancel, where):
    return wait_for(
        lambda: client.query(
            collection,
            filter=expr,
            output_fields=[COUNT],
            partition_names=[partition] if partition else None,
            consistency_level="Strong",
        ),
        should_cancel,
        f"counting the rows of {where}",
    )


def _matches_nothing(pk: str, pk_is_varchar: bool) -> str:
    if pk_is_varchar:
        return f'{pk} < ""'
    return f"{pk} > 0 and {pk} < 0"
