"""engine.plan: every problem found before anything is created, warnings apart, create_target
all or nothing. Real Milvus Lite servers, and the Milvus 2.3 standalone as an older target."""

from __future__ import annotations

import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import client_for_database, connect
from migrations_app.engine.errors import CreateError, PlanError
from migrations_app.engine.model import Finding, PlanResult, Problem, SchemaChoices
from migrations_app.engine.plan import plan, plan_many, require_ok
from migrations_app.engine.target import create_target
from tests.engine.sample_data import create_bm25, create_simple, schema_with_every_scalar
from tests.milvus import MilvusClient


def plan_for(source, target, name, **choices) -> PlanResult:
    return plan(
        describe_collection(source, name), SchemaChoices(**choices), target, source_client=source
    )


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("1st", "target collection name '1st' is invalid"),
        ("with-dash", "target collection name 'with-dash' is invalid"),
        ("with space", "target collection name 'with space' is invalid"),
        ("ünïcode", "target collection name 'ünïcode' is invalid"),
        ("x" * 256, "is 256 characters long (at most 255)"),
    ],
)
def test_it_reports_an_invalid_target_name(pair, name, words):
    source, target = pair
    if not source.has_collection("named"):
        create_simple(source, "named", rows=1)

    result = plan_for(source, target, "named", target_name=name)

    assert any(words in problem for problem in result.problems), result.problems
    assert not target.has_collection(name[:255])


def test_it_accepts_the_longest_valid_name(pair):
    source, target = pair
    create_simple(source, "longest", rows=1)

    result = plan_for(source, target, "longest", target_name="_" + "a" * 254)

    assert result.problems == []


def test_it_reports_an_invalid_target_database_name(pair):
    source, target = pair
    create_simple(source, "db_named", rows=1)

    result = plan_for(source, target, "db_named", target_db="bad-db")

    assert "target database name 'bad-db' is invalid" in result.problems[0]
    assert result.findings[0].kind == Problem.INVALID_NAME


def test_it_reports_a_name_already_taken_on_the_target(pair):
    source, target = pair
    create_simple(source, "clash", rows=1)
    create_simple(target, "clash", rows=1)

    result = plan_for(source, target, "clash")

    assert result.findings == [
        Finding(
            Problem.NAME_TAKEN, "collection clash already exists in database default of the target"
        )
    ]
    with pytest.raises(PlanError) as caught:
        require_ok(result)
    assert caught.value.message == result.problems[0]


def test_it_reports_duplicate_target_names_within_one_request(pair):
    source, target = pair
    create_simple(source, "first", rows=1)
    create_simple(source, "second", rows=1)
    create_simple(source, "third", rows=1)
    first, second, third = (describe_collection(source, n) for n in ("first", "second", "third"))

    results = plan_many(
        [
            (first, SchemaChoices(target_name="merged")),
            (second, SchemaChoices(target_name="merged")),
            (third, SchemaChoices()),
        ],
        target,
    )

    expected = (
        "target collection merged in database default is chosen more than once in this "
        "request (for default.first, default.second)"
    )
    assert results[0].findings == [Finding(Problem.DUPLICATE_IN_REQUEST, expected)]
    assert results[1].findings == [Finding(Problem.DUPLICATE_IN_REQUEST, expected)]
    assert results[2].findings == []


def test_it_reports_a_clash_with_a_collection_kept_under_its_own_name(pair):
    source, target = pair
    create_simple(source, "keep_a", rows=1)
    create_simple(source, "keep_b", rows=1)
    a, b = describe_collection(source, "keep_a"), describe_collection(source, "keep_b")

    results = plan_many([(a, SchemaChoices()), (b, SchemaChoices(target_name="keep_a"))], target)

    assert all("chosen more than once" in r.problems[0] for r in results)


def test_it_checks_partition_key_rules(pair):
    source, target = pair
    source.create_collection("key_rules", schema=schema_with_every_scalar())

    cases = {
        "f32": "partition key f32 must be an INT64 or VARCHAR field, not FLOAT",
        "maybe": "partition key maybe must be an INT64 or VARCHAR field, not INT32",
        "id": "partition key id cannot be the primary key",
        "nowhere": "partition key nowhere is not a field of the collection",
    }
    for key, message in cases.items():
        assert plan_for(source, target, "key_rules", partition_key=key).problems == [message]
    assert plan_for(source, target, "key_rules", partition_key="text").problems == []


def test_it_refuses_a_nullable_partition_key(pair):
    source, target = pair
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("group", DataType.INT64, nullable=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
    source.create_collection("nullable_key", schema=schema)

    result = plan_for(source, target, "nullable_key", partition_key="group")

    assert result.problems == ["partition key group must not be nullable"]


def test_it_warns_that_a_partition_key_replaces_explicit_partitions(pair):
    source, target = pair
    create_simple(source, "explicit", rows=4, partitions=("east", "west"))

    result = plan_for(source, target, "explicit", partition_key="category")

    assert result.problems == []
    assert (
        "partition key category replaces explicit partitions: partitions east, west will "
        "not be kept (their rows are copied)"
    ) in result.warnings
    assert result.spec.copy_partitions is None
    assert result.spec.partition_key == "category"


def test_it_can_drop_the_source_partition_key(pair):
    source, target = pair
    create_simple(source, "unkeyed", rows=4, partition_key=True)

    result = plan_for(source, target, "unkeyed", partition_key="")

    assert result.spec.partition_key is None
    assert any("partition key category is dropped" in w for w in result.warnings)


def test_it_counts_the_dynamic_keys_that_would_be_dropped(pair):
    source, target = pair
    create_simple(source, "dyn_keys", rows=6, dynamic=True)
    source.insert(
        "dyn_keys", [{"pk": 100, "vec": [0.0] * 8, "title": "t", "category": 0, "third": 1}]
    )

    result = plan_for(source, target, "dyn_keys", enable_dynamic_field=False)

    assert result.warnings == [
        "dynamic field off: 3 dynamic keys will be dropped (color, meta, third; found in a "
        "sample of 7 rows)"
    ]
    assert result.spec.copy_dynamic is False


@pytest.mark.standalone
def test_it_applies_the_description_and_shards_chosen(pair, standalone):
    # Milvus Lite keeps neither a description nor a shard count: the target is a Milvus server.
    source, _ = pair
    create_simple(source, "chosen", rows=1, description="old words")
    milvus = connect(standalone.uri, token=standalone.token)
    try:
        if milvus.has_collection("chosen_h3"):
            milvus.drop_collection("chosen_h3")
        result = plan_for(
            source, milvus, "chosen", target_name="chosen_h3", description="new words", num_shards=2
        )
        create_target(milvus, require_ok(result))
        created = milvus.describe_collection("chosen_h3")
        milvus.drop_collection("chosen_h3")
    finally:
        milvus.close()

    assert (created["description"], created["num_shards"]) == ("new words", 2)


def test_it_warns_that_a_milvus_lite_target_drops_the_description(pair):
    source, target = pair
    create_simple(source, "described", rows=1)

    typed = plan_for(source, target, "described", target_name="described_t", description="words")
    untouched = plan_for(source, target, "described", target_name="described_u")
    create_target(target, require_ok(typed))
    kept = target.describe_collection("described_t")["description"]
    target.drop_collection("described_t")

    warning = 'does not keep descriptions: the collection\'s description "words" will not be on'
    assert [w for w in typed.warnings if warning in w], typed.warnings
    assert typed.warnings[-1].startswith("Milvus Lite ")
    assert not [w for w in untouched.warnings if "descriptions" in w], untouched.warnings
    assert kept == ""  # what the warning says: Lite took the description and dropped it


@pytest.mark.parametrize("shards", [0, 17, -1])
def test_it_reports_an_invalid_shard_count(pair, shards):
    source, target = pair
    if not source.has_collection("sharded"):
        create_simple(source, "sharded", rows=1)

    result = plan_for(source, target, "sharded", num_shards=shards)

    assert result.problems == [f"shard count {shards} is invalid: use a whole number from 1 to 16"]


def test_it_creates_the_target_database_collection_and_empty_partitions(pair, servers):
    source, target = pair
    create_simple(source, "layout", partitions=("a", "b"))

    result = plan_for(source, target, "layout", target_db="fresh", target_name="layout2")
    created_db = create_target(target, require_ok(result))

    assert created_db is True
    fresh = connect(servers[1].uri, db_name="fresh")
    try:
        assert sorted(fresh.list_partitions("layout2")) == ["_default", "a", "b"]
        assert fresh.query("layout2", filter="", output_fields=["count(*)"])[0]["count(*)"] == 0
    finally:
        fresh.close()


def test_it_drops_everything_it_created_when_a_step_fails(pair):
    source, target = pair
    create_simple(source, "half_made", partitions=("good",))
    spec = require_ok(plan_for(source, target, "half_made", target_db="doomed"))
    too_long = "p" * 300  # every server refuses a partition name this long
    spec.partitions.append(too_long)

    with pytest.raises(CreateError) as caught:
        create_target(target, spec)

    assert caught.value.message.startswith(
        f"cannot create partition {too_long} of half_made in database doomed"
    )
    assert "doomed" not in target.list_databases()


def test_it_never_touches_an_existing_collection(pair):
    source, target = pair
    create_simple(source, "existing", rows=2)
    spec = require_ok(plan_for(source, target, "existing"))
    create_simple(target, "existing", rows=3)

    with pytest.raises(CreateError) as caught:
        create_target(target, spec)

    assert caught.value.message == (
        "collection existing already exists in database default of the target"
    )
    assert target.query("existing", filter="", output_fields=["count(*)"])[0]["count(*)"] == 3


def test_it_plans_a_bm25_collection_without_copying_the_function_output(pair):
    source, target = pair
    create_bm25(source, "bm25_plan", ["one text"])

    result = plan_for(source, target, "bm25_plan")

    assert result.problems == []
    assert result.spec.read_fields == ["id", "body"]
    assert [f.name for f in result.spec.functions] == ["body_bm25"]


@pytest.mark.standalone
def test_it_reports_types_and_features_an_older_milvus_target_lacks(pair, standalone):
    source, _ = pair
    older = connect(standalone.uri, token=standalone.token)
    try:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=4)
        schema.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("note", DataType.VARCHAR, max_length=10, nullable=True)
        source.create_collection("too_new", schema=schema)
        create_bm25(source, "bm25_too_new", ["a text"])

        sparse = plan_for(source, older, "too_new")
        bm25 = plan_for(source, older, "bm25_too_new")
        assert not older.has_collection("too_new")
    finally:
        older.close()

    assert sparse.problems == [
        "field sp is SPARSE_FLOAT_VECTOR, which Milvus 2.3.5 does not support (from Milvus 2.4.0)",
        "field note is nullable, which Milvus 2.3.5 does not support (from Milvus 2.5.0)",
        "Milvus 2.3.5 does not support more than one vector field (fields dense, sp) "
        "(from Milvus 2.4.0)",
    ]
    assert (
        "Milvus 2.3.5 does not support BM25 functions (function body_bm25) (from Milvus 2.5.0)"
        in (bm25.problems)
    )
    assert (
        "field body has a text analyzer, which Milvus 2.3.5 does not support (from Milvus 2.5.0)"
        in (bm25.problems)
    )


@pytest.mark.standalone
def test_it_plans_an_index_the_target_lacks_as_autoindex(pair, standalone):
    source, _ = pair
    older = connect(standalone.uri, token=standalone.token)
    try:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
        index = source.prepare_index_params()
        index.add_index("vec", index_type="IVF_RABITQ", metric_type="COSINE", params={"nlist": 4})
        source.create_collection("rabitq", schema=schema, index_params=index)

        result = plan_for(source, older, "rabitq", target_name="rabitq_h3")
    finally:
        older.close()

    assert result.problems == []
    assert (
        "index IVF_RABITQ on field vec is not available on Milvus 2.3.5: AUTOINDEX with "
        "metric COSINE will be built"
    ) in result.warnings
    assert [(i.index_type, i.metric_type) for i in result.spec.indexes] == [("AUTOINDEX", "COSINE")]


@pytest.mark.standalone
def test_it_reports_vector_types_milvus_lite_lacks(pair, standalone):
    _, target = pair
    milvus = connect(standalone.uri, token=standalone.token)
    try:
        for name, dtype in (
            ("bin_for_lite", DataType.BINARY_VECTOR),
            ("half_for_lite", DataType.FLOAT16_VECTOR),
        ):
            if milvus.has_collection(name):
                milvus.drop_collection(name)
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("v", dtype, dim=16)
            milvus.create_collection(name, schema=schema)
        binary = plan_for(milvus, target, "bin_for_lite")
        half = plan_for(milvus, target, "half_for_lite")
    finally:
        milvus.close()

    assert binary.problems == ["field v is BINARY_VECTOR, which Milvus Lite 3.2.2 does not support"]
    assert half.problems == ["field v is FLOAT16_VECTOR, which Milvus Lite 3.2.2 does not support"]


def test_it_keeps_databases_apart_when_checking_names(pair, servers):
    source, target = pair
    create_simple(source, "per_db", rows=1)
    target.create_database("elsewhere")
    other = client_for_database(target, "elsewhere")
    create_simple(other, "per_db", rows=1)
    other.close()

    assert plan_for(source, target, "per_db").problems == []
    assert plan_for(source, target, "per_db", target_db="elsewhere").problems == [
        "collection per_db already exists in database elsewhere of the target"
    ]
