"""Which source collections a migration request names, and where each one goes.

A request names databases — `DatabaseChoice`: a source database, the target database it goes
into, its collections or all of them — or none at all: then every collection of every database
of the source goes into the target database of the same name (the REST API's `dbCollections`
omitted). `check_databases` refuses what is wrong without connecting (a bad name, a database
listed twice); `describe_selection` reads the source, one database at a time, and returns each
chosen collection with its description, the user's choices and its target database, plus the
problems of single collections (missing, chosen twice), so that all of them are reported at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from pymilvus import MilvusClient

from console.errors import Invalid, Unavailable
from migrations_app.engine import catalog
from migrations_app.engine.errors import EngineError
from migrations_app.engine.model import CollectionInfo, SchemaChoices
from migrations_app.engine.names import invalid_name

MAX_COLLECTIONS = 100


@dataclass
class CollectionChoice:
    """One source collection and what the user chose for its target (None keeps the source's).

    partition_key: None keeps the source's, "" removes it, a field name makes that field the key.
    """

    name: str
    target_name: str | None = None
    description: str | None = None
    enable_dynamic_field: bool | None = None
    partition_key: str | None = None

    def schema_choices(self, target_db: str) -> SchemaChoices:
        return SchemaChoices(
            target_db=target_db,
            target_name=self.target_name or self.name,
            description=self.description,
            enable_dynamic_field=self.enable_dynamic_field,
            partition_key=self.partition_key,
        )


@dataclass
class DatabaseChoice:
    """A source database of a request: `target_db` "" is the same name; `collections` None is
    every collection of the database."""

    source_db: str = "default"
    target_db: str = ""
    collections: list[CollectionChoice] | None = None


@dataclass
class Selected:
    """A chosen source collection, described, with its choices and target database. `label`
    names it in problems: its name, or `db.name` when the request spans several databases."""

    info: CollectionInfo
    choice: CollectionChoice
    target_db: str
    label: str

    def schema_choices(self) -> SchemaChoices:
        return self.choice.schema_choices(self.target_db)


def check_databases(choices: list[DatabaseChoice] | None) -> list[DatabaseChoice] | None:
    """The choices with their names trimmed and every target database named; None stays None
    (every database). Invalid, naming it, for a bad database name or a database listed twice."""
    if choices is None:
        return None
    if not choices:
        raise Invalid("choose at least one database to migrate", step="source")
    checked: list[DatabaseChoice] = []
    seen: set[str] = set()
    for choice in choices:
        source_db = (choice.source_db or "default").strip()
        target_db = (choice.target_db or source_db).strip()
        for db, what in ((source_db, "source"), (target_db, "target")):
            problem = invalid_name(db, f"{what} database")
            if problem:
                raise Invalid(problem.message, step=what)
        if source_db in seen:
            raise Invalid(
                f"source database {source_db} is listed more than once: list each database "
                "once, with all of its collections",
                step="source",
            )
        seen.add(source_db)
        checked.append(replace(choice, source_db=source_db, target_db=target_db))
    return checked


def describe_selection(
    open_db: Callable[[str], MilvusClient],
    choices: list[DatabaseChoice] | None,
    label: str,
) -> tuple[list[Selected], list[str]]:
    """(the chosen collections described, in order; problems of single collections).

    `open_db(name)` opens a client of the source bound to database `name` and raises the
    refusal when it does not exist. `choices` None: every database of the source (those without
    collections are skipped). Invalid when nothing is left to migrate or more than
    MAX_COLLECTIONS are chosen; Unavailable when the source cannot be listed.
    """
    every = choices is None
    if choices is None:
        client = open_db("default")
        try:
            databases = catalog.list_databases(client)
        except EngineError as exc:
            raise Unavailable(
                f"cannot list the databases of the source ({label}): {exc.message}",
                step="source",
            ) from None
        finally:
            client.close()
        choices = [DatabaseChoice(db, db, None) for db in databases]
    several = len(choices) > 1
    problems: list[str] = []
    selected: list[Selected] = []
    for index, choice in enumerate(choices):
        client = open_db(choice.source_db)
        try:
            names = _names(client, choice, label, every, problems)
            total = len(selected) + len(names)
            if total > MAX_COLLECTIONS:
                more = " or more" if index < len(choices) - 1 else ""
                raise Invalid(
                    f"a job migrates at most {MAX_COLLECTIONS} collections; {total}{more} "
                    "were chosen",
                    step="collections",
                )
            for name, chosen in names:
                shown = f"{choice.source_db}.{name}" if several else name
                try:
                    info = catalog.describe_collection(client, name)
                except EngineError as exc:
                    problems.append(f"collection {shown} cannot be read: {exc.message}")
                    continue
                selected.append(Selected(info, chosen, choice.target_db, shown))
        finally:
            client.close()
    if not selected and not problems:
        raise Invalid(f"the source ({label}) has no collections", step="source")
    return selected, problems


def _names(
    client: MilvusClient,
    choice: DatabaseChoice,
    label: str,
    every: bool,
    problems: list[str],
) -> list[tuple[str, CollectionChoice]]:
    """The collections of one database to describe, with their choices; problems noted."""
    db = choice.source_db
    try:
        existing = catalog.list_collections(client)
    except EngineError as exc:
        raise Unavailable(
            f"cannot list the collections of database {db} of the source: {exc.message}",
            step="source",
        ) from None
    if choice.collections is None:
        if not existing and not every:
            raise Invalid(
                f"database {db} of the source ({label}) has no collections", step="source"
            )
        return [(name, CollectionChoice(name)) for name in existing]
    if not choice.collections:
        raise Invalid("choose at least one collection to migrate", step="collections")
    names: list[tuple[str, CollectionChoice]] = []
    seen: set[str] = set()
    for chosen in choice.collections:
        if chosen.name in seen:
            problems.append(f"collection {chosen.name} of database {db} is chosen more than once")
            continue
        seen.add(chosen.name)
        if chosen.name not in existing:
            problems.append(
                f"collection {chosen.name} does not exist in database {db} of the source"
            )
            continue
        names.append((chosen.name, chosen))
    return names
