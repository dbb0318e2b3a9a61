"""The migration engine: plain Python over pymilvus.MilvusClient, no Django.

endpoints → connect → catalog → plan → target → copy → finalize → verify, with
`migrate_collection` (migrate.py) running them in order. Each part is its own module; the data
they exchange is in `model`, the errors (each with a clear `message`) in `errors`, the rules for
target names in `names`, a caller's settings and callbacks (`Options`, `Observer`) in
`options`. Under the copy and verify: `filters` (escaped key filters), `rpc` (the retrying,
cancelable transport), `reader` (checked pages in key order) and `checkpoint` (what a copy has
written). Around every call of a caller that may be superseded: `fence` (no write once the
caller's lease ended; a deadline on every call) and `ownership` (the mark of the job that
created a target collection).
"""

from .errors import EngineError
from .model import (
    CollectionInfo,
    FieldInfo,
    FunctionInfo,
    IndexInfo,
    PlanResult,
    SchemaChoices,
    TargetSpec,
    VerifyReport,
)

__all__ = [
    "CollectionInfo",
    "EngineError",
    "FieldInfo",
    "FunctionInfo",
    "IndexInfo",
    "PlanResult",
    "SchemaChoices",
    "TargetSpec",
    "VerifyReport",
]
