"""What each kind of target server accepts: the one table `plan` and `finalize` consult.

Figures for Milvus Lite 3.2.2 and Milvus 2.3.5 were probed on the real servers (create a
collection, insert, build the index, load, query back); later Milvus releases follow the
Milvus release notes. Milvus 2.3.5 accepts some schemas it cannot serve (a nullable field is
silently made non-nullable, a SPARSE field fails only at insert), so the plan decides from this
table and never by trying.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymilvus import MilvusClient

from .capabilities import capabilities

Version = tuple[int, int, int]
NEVER: Version = (99, 0, 0)

# Milvus release (major, minor, patch) from which each field type is available.
# Probed on 2.3.5: FLOAT16_VECTOR round-trips there; BFLOAT16/SPARSE/INT8 are refused.
MILVUS_FIELD_TYPES: dict[str, Version] = {
    "BOOL": (2, 0, 0),
    "INT8": (2, 0, 0),
    "INT16": (2, 0, 0),
    "INT32": (2, 0, 0),
    "INT64": (2, 0, 0),
    "FLOAT": (2, 0, 0),
    "DOUBLE": (2, 0, 0),
    "VARCHAR": (2, 1, 0),
    "JSON": (2, 2, 8),
    "ARRAY": (2, 3, 0),
    "FLOAT_VECTOR": (2, 0, 0),
    "BINARY_VECTOR": (2, 0, 0),
    "FLOAT16_VECTOR": (2, 3, 5),
    "BFLOAT16_VECTOR": (2, 4, 0),
    "SPARSE_FLOAT_VECTOR": (2, 4, 0),
    "INT8_VECTOR": (2, 6, 0),
    "GEOMETRY": (2, 6, 0),
    "TIMESTAMPTZ": (2, 6, 0),
}

# Milvus Lite 3.2.2 refuses other types with "uses Milvus type X which MilvusLite does not
# support ... supports: BOOL, INT8/16/32/64, FLOAT, DOUBLE, VARCHAR, JSON, ARRAY, GEOMETRY,
# TIMESTAMPTZ, FLOAT_VECTOR, SPARSE_FLOAT_VECTOR".
LITE_FIELD_TYPES = frozenset(
    {
        "BOOL",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FLOAT",
        "DOUBLE",
        "VARCHAR",
        "JSON",
        "ARRAY",
        "GEOMETRY",
        "TIMESTAMPTZ",
        "FLOAT_VECTOR",
        "SPARSE_FLOAT_VECTOR",
    }
)

# Schema features: Milvus release that introduced them; Milvus Lite 3.2.2 has all of them.
# default_value round-trips on 2.3.5 (probed); nullable is silently dropped there. Databases
# are asked of the server itself (capabilities.py); every server the engine connects to is
# 2.2.9 or later (it has Connect), which has partition keys, dynamic fields and JSON.
MILVUS_FEATURES: dict[str, Version] = {
    "nullable": (2, 5, 0),
    "default_value": (2, 3, 5),
    "multiple_vectors": (2, 4, 0),
    "bm25_function": (2, 5, 0),
    "analyzer": (2, 5, 0),
    "partition_key": (2, 2, 9),
    "dynamic_field": (2, 2, 9),
}

# Vector index types per field type. Milvus 2.3.5 figures probed; 2.4+ per release notes.
MILVUS_VECTOR_INDEXES: dict[str, dict[str, Version]] = {
    "FLOAT_VECTOR": {
        "FLAT": (2, 0, 0),
        "IVF_FLAT": (2, 0, 0),
        "IVF_SQ8": (2, 0, 0),
        "IVF_PQ": (2, 0, 0),
        "HNSW": (2, 0, 0),
        "DISKANN": (2, 2, 0),
        "SCANN": (2, 3, 0),
        "AUTOINDEX": (2, 2, 0),
        "GPU_IVF_FLAT": (2, 3, 0),
        "GPU_IVF_PQ": (2, 3, 0),
        "GPU_CAGRA": (2, 4, 0),
        "GPU_BRUTE_FORCE": (2, 4, 0),
        "HNSW_SQ": (2, 6, 0),
        "HNSW_PQ": (2, 6, 0),
        "HNSW_PRQ": (2, 6, 0),
        "IVF_RABITQ": (2, 6, 0),
    },
    "FLOAT16_VECTOR": {
        "FLAT": (2, 3, 5),
        "IVF_FLAT": (2, 3, 5),
        "HNSW": (2, 3, 5),
        "AUTOINDEX": (2, 3, 5),
        "IVF_SQ8": (2, 4, 0),
        "IVF_PQ": (2, 4, 0),
        "DISKANN": (2, 4, 0),
        "SCANN": (2, 4, 0),
    },
    "BFLOAT16_VECTOR": {
        "FLAT": (2, 4, 0),
        "IVF_FLAT": (2, 4, 0),
        "HNSW": (2, 4, 0),
        "AUTOINDEX": (2, 4, 0),
        "IVF_SQ8": (2, 4, 0),
        "IVF_PQ": (2, 4, 0),
        "DISKANN": (2, 4, 0),
        "SCANN": (2, 4, 0),
    },
    "BINARY_VECTOR": {
        "BIN_FLAT": (2, 0, 0),
        "BIN_IVF_FLAT": (2, 0, 0),
        "AUTOINDEX": (2, 2, 0),
        "HNSW": (2, 3, 0),
        "MINHASH_LSH": (2, 6, 0),
    },
    "SPARSE_FLOAT_VECTOR": {
        "SPARSE_INVERTED_INDEX": (2, 4, 0),
        "SPARSE_WAND": (2, 4, 0),
        "AUTOINDEX": (2, 5, 0),
    },
    "INT8_VECTOR": {"HNSW": (2, 6, 0), "AUTOINDEX": (2, 6, 0)},
}

# Milvus Lite 3.2.2: every float-vector index name is accepted (served by its own engine);
# sparse fields take only SPARSE_INVERTED_INDEX (metric IP, or BM25 for a BM25 output).
LITE_VECTOR_INDEXES: dict[str, frozenset[str] | None] = {
    "FLOAT_VECTOR": None,  # None: any index type
    "SPARSE_FLOAT_VECTOR": frozenset({"SPARSE_INVERTED_INDEX"}),
}

# Scalar indexes. Milvus 2.3.5 takes only STL_SORT on numbers and Trie on VARCHAR; Lite only
# INVERTED on scalar (non-JSON, non-ARRAY) fields.
MILVUS_SCALAR_INDEXES: dict[str, Version] = {
    "STL_SORT": (2, 1, 0),
    "Trie": (2, 1, 0),
    "TRIE": (2, 1, 0),
    "INVERTED": (2, 4, 0),
    "BITMAP": (2, 5, 0),
    "AUTOINDEX": (2, 4, 0),
    "NGRAM": (2, 6, 0),
}
LITE_SCALAR_INDEXES = frozenset({"INVERTED"})
LITE_SCALAR_INDEXABLE = frozenset(
    {"BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR"}
)

# When a vector index type is not available on the target, finalize builds this instead,
# keeping the metric. (AUTOINDEX does not exist for sparse fields before 2.5 nor on Lite.)
FALLBACK_VECTOR_INDEX = {"SPARSE_FLOAT_VECTOR": "SPARSE_INVERTED_INDEX"}

VECTOR_TYPES = frozenset(MILVUS_VECTOR_INDEXES)


def version_text(version: Version) -> str:
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class Support:
    """Answers "can this server take X?" for one target server; messages name the server.

    `version` is the release the table is read at: the probed one (capabilities.py), not the
    version string; `databases` whether the server has databases (probed)."""

    kind: str  # "milvus_lite" or "milvus", as capabilities.parse_version says
    version: Version
    databases: bool = True

    @classmethod
    def of(cls, client: MilvusClient) -> Support:
        """What the server behind `client` supports, from its probed capabilities."""
        probed = capabilities(client)
        return cls(probed.kind, probed.release, probed.databases)

    @property
    def is_lite(self) -> bool:
        return self.kind == "milvus_lite"

    @property
    def keeps_descriptions(self) -> bool:
        """Milvus Lite accepts collection and field descriptions and drops them (DESIGN §9,
        probed on 3.2.2: describe_collection answers "" for both)."""
        return not self.is_lite

    @property
    def label(self) -> str:
        if self.is_lite:
            return f"Milvus Lite {version_text(self.version)}"
        return f"Milvus {version_text(self.version)}"

    def since(self, version: Version) -> str:
        """ "(from Milvus 2.4.0)" or "" when no Milvus release has it."""
        return "" if version >= NEVER else f" (from Milvus {version_text(version)})"

    def field_type(self, dtype: str) -> bool:
        if self.is_lite:
            return dtype in LITE_FIELD_TYPES
        return self.version >= MILVUS_FIELD_TYPES.get(dtype, NEVER)

    def feature(self, name: str) -> bool:
        if self.is_lite:
            return True
        if name == "databases":
            return self.databases
        return self.version >= MILVUS_FEATURES[name]

    def vector_index(self, dtype: str, index_type: str) -> bool:
        if self.is_lite:
            if dtype not in LITE_VECTOR_INDEXES:
                return False
            allowed = LITE_VECTOR_INDEXES[dtype]
            return allowed is None or index_type.upper() in allowed
        since = MILVUS_VECTOR_INDEXES.get(dtype, {}).get(index_type.upper(), NEVER)
        return self.version >= since

    def fallback_vector_index(self, dtype: str) -> str:
        return FALLBACK_VECTOR_INDEX.get(dtype, "AUTOINDEX")

    def scalar_index(self, dtype: str, index_type: str) -> bool:
        if self.is_lite:
            return index_type.upper() in LITE_SCALAR_INDEXES and dtype in LITE_SCALAR_INDEXABLE
        if index_type in ("STL_SORT",):
            return dtype in {"INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE"}
        if index_type.upper() == "TRIE":
            return dtype == "VARCHAR"
        return self.version >= MILVUS_SCALAR_INDEXES.get(index_type, NEVER)
