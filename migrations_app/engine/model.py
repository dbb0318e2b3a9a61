"""Plain data the engine passes around, each JSON-serialisable with to_dict/from_dict.

Django stores these (JobCollection's schema choices, target spec and verification figures), so
every field is a str/int/float/bool/None, a list or a dict of those. Field and index types are
pymilvus `DataType` names ("INT64", "FLOAT_VECTOR"...), never enum objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a flat dataclass from a dict, ignoring keys it does not know (older/newer rows)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in known})


class Serializable:
    """to_dict/from_dict for flat dataclasses; nested ones override both."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        return _from_dict(cls, data)


@dataclass
class FieldInfo(Serializable):
    """One schema field. Type parameters are None where the type has none."""

    name: str
    dtype: str
    description: str = ""
    is_primary: bool = False
    auto_id: bool = False
    dim: int | None = None
    max_length: int | None = None
    element_type: str | None = None
    max_capacity: int | None = None
    nullable: bool = False
    default_value: Any = None
    is_partition_key: bool = False
    is_clustering_key: bool = False
    is_function_output: bool = False
    enable_analyzer: bool = False
    enable_match: bool = False
    analyzer_params: dict[str, Any] | None = None
    # Any other type parameters the server reported (e.g. "mmap.enabled"), kept as given.
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_vector(self) -> bool:
        return self.dtype.endswith("_VECTOR")


@dataclass
class IndexInfo(Serializable):
    """One index: `params` are the build parameters (nlist, M...), without type and metric."""

    field_name: str
    index_name: str
    index_type: str
    metric_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class FunctionInfo(Serializable):
    """A schema function (BM25): its output fields are computed by the server, never copied."""

    name: str
    type: str
    input_field_names: list[str]
    output_field_names: list[str]
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)


class _SchemaShaped(Serializable):
    """Shared by CollectionInfo and TargetSpec: field lookup and nested (de)serialisation."""

    fields: list[FieldInfo]
    functions: list[FunctionInfo]
    indexes: list[IndexInfo]
    primary_field: str

    def field(self, name: str) -> FieldInfo | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def pk(self) -> FieldInfo:
        found = self.field(self.primary_field)
        assert found is not None, "the primary field is always among the fields"
        return found

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        shaped = _from_dict(cls, data)
        shaped.fields = [FieldInfo.from_dict(f) for f in data.get("fields", [])]  # type: ignore[attr-defined]
        shaped.functions = [FunctionInfo.from_dict(f) for f in data.get("functions", [])]  # type: ignore[attr-defined]
        shaped.indexes = [IndexInfo.from_dict(i) for i in data.get("indexes", [])]  # type: ignore[attr-defined]
        return shaped


@dataclass
class CollectionInfo(_SchemaShaped):
    """Everything the engine knows of a source collection (see catalog.describe_collection).

    `partitions` lists the explicit partitions ("_default" included) and is empty for a
    partition-key collection, whose partitions the server manages (`num_partitions` of them).
    """

    db: str
    name: str
    fields: list[FieldInfo]
    primary_field: str
    description: str = ""
    auto_id: bool = False
    enable_dynamic_field: bool = False
    partition_key: str | None = None
    num_partitions: int | None = None
    partitions: list[str] = field(default_factory=list)
    functions: list[FunctionInfo] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    entity_count: int = 0
    load_state: str = "NotLoad"
    num_shards: int = 1
    consistency_level: str = "Bounded"
    properties: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)  # carried to the target by the copy

    @property
    def copied_fields(self) -> list[str]:
        """Fields whose values are read and written: every field but function outputs."""
        return [f.name for f in self.fields if not f.is_function_output]


@dataclass
class SchemaChoices(Serializable):
    """What the user chose for one target collection. None means "keep the source's".

    partition_key: None keeps the source's partition key, "" means no partition key, a field
    name makes that field the partition key. enable_dynamic_field: None keeps the source's.
    """

    target_db: str | None = None
    target_name: str | None = None
    description: str | None = None
    enable_dynamic_field: bool | None = None
    partition_key: str | None = None
    num_shards: int | None = None


@dataclass
class TargetSpec(_SchemaShaped):
    """The target collection as it will be created, and how rows are to be copied into it.

    `fields` are the target schema (primary key with auto_id off, so source keys are kept;
    function outputs included since the function fills them). `read_fields` are the source
    fields copied, `copy_dynamic` whether dynamic keys ($meta) are carried, `copy_partitions`
    the source partitions copied one by one into the same-named target partitions (None: the
    whole collection at once, for partition-key targets and sources without explicit
    partitions other than "_default").
    """

    source_db: str
    source_name: str
    db: str
    name: str
    fields: list[FieldInfo]
    primary_field: str
    description: str = ""
    enable_dynamic_field: bool = False
    partition_key: str | None = None
    num_partitions: int | None = None
    partitions: list[str] = field(default_factory=list)
    functions: list[FunctionInfo] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    num_shards: int | None = None
    consistency_level: str = "Bounded"
    source_auto_id: bool = False
    read_fields: list[str] = field(default_factory=list)
    copy_dynamic: bool = False
    copy_partitions: list[str] | None = None

    @property
    def pk_is_varchar(self) -> bool:
        return self.pk.dtype == "VARCHAR"


class Problem(StrEnum):
    """What kind of problem a plan found: callers decide by kind, never by the words."""

    INVALID_NAME = "INVALID_NAME"  # not a valid Milvus database or collection name
    NAME_TAKEN = "NAME_TAKEN"  # the target collection exists already
    DUPLICATE_IN_REQUEST = "DUPLICATE_IN_REQUEST"  # two collections of one request, one target
    TARGET_GONE = "TARGET_GONE"  # a resumed migration's target collection no longer exists
    UNSUPPORTED = "UNSUPPORTED"  # the target server cannot take a type, feature or function
    INVALID_CHOICE = "INVALID_CHOICE"  # a partition key or shard count the rules refuse


@dataclass(frozen=True)
class Finding(Serializable):
    """One problem a plan found: its `kind` and the `message` a user reads."""

    kind: Problem
    message: str


@dataclass
class PlanResult:
    """A plan: the spec to create, `findings` (any one blocks creation) and `warnings`."""

    spec: TargetSpec | None
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """The messages of the findings, in order."""
        return [finding.message for finding in self.findings]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict() if self.spec else None,
            "findings": [finding.to_dict() for finding in self.findings],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanResult:
        spec = data.get("spec")
        return cls(
            spec=TargetSpec.from_dict(spec) if spec else None,
            findings=[Finding(Problem(f["kind"]), f["message"]) for f in data.get("findings", [])],
            warnings=list(data.get("warnings", [])),
        )


@dataclass(frozen=True)
class CopyProgress:
    """Reported after every written batch; figures are for the whole copy, this run included."""

    rows: int
    bytes: int
    rows_per_s: float  # rows written in this run / elapsed
    elapsed: float  # seconds since this run started
    partition: str


@dataclass
class VerifyProgress:
    """Reported while a verification reads: `rows` read on both sides so far (the smaller of
    the two counts) of `total` expected, at `rows_per_s` since it began `elapsed` seconds ago."""

    rows: int
    total: int
    rows_per_s: float
    elapsed: float


@dataclass
class RetryNote(Serializable):
    """A call that failed with a transient error and waits to be sent again: on the `role`
    ("source"/"target"), `what` it was doing, why it failed, the attempt that failed (`attempt`
    of `attempts` allowed) and the seconds until the next one (`delay`)."""

    role: str
    what: str
    reason: str
    attempt: int
    attempts: int
    delay: float


@dataclass
class VerifyReport(Serializable):
    """Outcome of verify: `verified` is True only when every check passed.

    Counts are per collection and per partition (source → target). Every row is compared:
    `rows_compared` of them in `ranges_compared` key ranges, `ranges_differing` of which differ;
    `first_differing_keys` are the first keys found different; `source_changed` is True when
    the source's rows at the end differ from what the copy read (None: not known, e.g. Verify
    Again). `mismatches` lists each difference found, `messages` the notes for people.
    """

    source: str
    target: str
    verified: bool
    source_count: int
    target_count: int
    source_count_at_start: int | None = None
    partitions: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_compared: int = 0
    ranges_compared: int = 0
    ranges_differing: int = 0
    first_differing_keys: list[Any] = field(default_factory=list)
    source_changed: bool | None = None
    duplicate_keys: int = 0
    mismatches: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    copied_rows: int | None = None
    seconds: float | None = None

    @property
    def status(self) -> str:
        """The JobCollection verification word: VERIFIED or MISMATCH."""
        return "VERIFIED" if self.verified else "MISMATCH"

    def summary(self) -> str:
        """One line with the figures, fit for a job's `reason` or a CLI."""
        head = (
            f"{self.status}: {self.source} → {self.target}: source {self.source_count} rows, "
            f"target {self.target_count} rows, {self.rows_compared} rows compared"
        )
        if self.mismatches:
            shown = "; ".join(self.mismatches[:5])
            more = f" (+{len(self.mismatches) - 5} more)" if len(self.mismatches) > 5 else ""
            head += f"; {shown}{more}"
        return head
