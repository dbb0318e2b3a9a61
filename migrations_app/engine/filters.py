"""Filter expressions over the primary key, escaped by the engine itself: shared by copy, the
resume of a copy, and verify.

pymilvus' own helpers (`query_iterator`, `ids=`) build these filters without escaping VARCHAR
keys, which breaks on keys holding `"` or `\\`. Every key-range or key-list filter the engine
sends is built here.

Server quirk handled here (DESIGN §9): a literal `-9223372036854775808` (the INT64 minimum) is a
parse error on Milvus ("value out of range": the minus is applied to an out-of-range literal),
in `>`, `==` and `in [...]` alike, so the minimum key is never written as a literal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def pk_literal(value: int | str, pk_is_varchar: bool) -> str:
    """`value` written as a literal of a Milvus filter expression (or shown in a message).

    VARCHAR keys become a double-quoted string with JSON escapes (backslash, double quote,
    control characters), which Milvus (Go `strconv.Unquote`) and Milvus Lite both read back as
    the same string; non-ASCII characters stay as they are. The INT64 minimum cannot be parsed
    back by Milvus: the filter builders below never put it in a filter.
    """
    if pk_is_varchar:
        return json.dumps(str(value), ensure_ascii=False)
    return str(int(value))


def pk_after_filter(pk_field: str, last: int | str | None, pk_is_varchar: bool) -> str:
    """Filter matching the keys after `last` (every key when `last` is None)."""
    if last is None:
        # An always-true comparison rather than an empty filter: every server version accepts
        # it. (INT64_MAX itself is a valid key, hence <=.)
        if pk_is_varchar:
            return f'{pk_field} >= ""'
        return f"{pk_field} <= {INT64_MAX}"
    if not pk_is_varchar and int(last) == INT64_MIN:
        return f"{pk_field} >= {INT64_MIN + 1}"
    return f"{pk_field} > {pk_literal(last, pk_is_varchar)}"


def pk_range_filter(
    pk_field: str, after: int | str | None, upto: int | str | None, pk_is_varchar: bool
) -> str:
    """Filter matching the keys after `after` and up to `upto` included (None: unbounded)."""
    lower = pk_after_filter(pk_field, after, pk_is_varchar)
    if upto is None:
        return lower
    if not pk_is_varchar and int(upto) == INT64_MIN:
        return f"{lower} and {pk_field} < {INT64_MIN + 1}"
    return f"{lower} and {pk_field} <= {pk_literal(upto, pk_is_varchar)}"


def pk_in_filter(pk_field: str, keys: Iterable[int | str], pk_is_varchar: bool) -> str:
    """Filter matching exactly the rows whose key is one of `keys` (which must not be empty)."""
    keys = list(keys)
    if not keys:
        raise ValueError("pk_in_filter needs at least one key")
    if pk_is_varchar:
        return f"{pk_field} in [{', '.join(pk_literal(k, True) for k in keys)}]"
    plain = [int(k) for k in keys if int(k) != INT64_MIN]
    clauses = []
    if plain:
        clauses.append(f"{pk_field} in [{', '.join(str(k) for k in plain)}]")
    if len(plain) < len(keys):
        clauses.append(f"{pk_field} < {INT64_MIN + 1}")
    return " or ".join(clauses)
