"""The rules for target names, each returning a typed Finding with the one message users read.

The plan, the service (which answers 409 for NAME_TAKEN) and the wizard's live name check all
use these, so a rule and its wording exist once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model import Finding, Problem

NAME_RULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_MAX = 255


def invalid_name(name: str | None, what: str) -> Finding | None:
    """INVALID_NAME when `name` is not a valid Milvus database/collection name, else None.

    `what` names it in the message: "target collection", "source database", ...
    """
    if not name:
        message = f"{what} name is empty"
    elif len(name) > NAME_MAX:
        message = f"{what} name {name[:40]}… is {len(name)} characters long (at most {NAME_MAX})"
    elif not NAME_RULE.match(name):
        message = (
            f"{what} name {name!r} is invalid: use letters, digits and underscores, "
            "not starting with a digit"
        )
    else:
        return None
    return Finding(Problem.INVALID_NAME, message)


def name_taken(name: str, db: str) -> Finding:
    """NAME_TAKEN: collection `name` exists already in database `db` of the target."""
    return Finding(
        Problem.NAME_TAKEN, f"collection {name} already exists in database {db} of the target"
    )


def duplicate_targets(targets: Sequence[tuple[str, str, str]]) -> dict[int, Finding]:
    """DUPLICATE_IN_REQUEST for each of `targets` — (source label, target db, target name) —
    whose target database and name another one of the same request has too, by index."""
    by_target: dict[tuple[str, str], list[int]] = {}
    for index, (_, db, name) in enumerate(targets):
        by_target.setdefault((db, name), []).append(index)
    found: dict[int, Finding] = {}
    for (db, name), indexes in by_target.items():
        if len(indexes) > 1:
            sources = ", ".join(targets[i][0] for i in indexes)
            finding = Finding(
                Problem.DUPLICATE_IN_REQUEST,
                f"target collection {name} in database {db} is chosen more than once in this "
                f"request (for {sources})",
            )
            found.update(dict.fromkeys(indexes, finding))
    return found
