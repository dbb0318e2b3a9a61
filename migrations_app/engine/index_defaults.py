"""Build parameters for a vector index whose source reports none.

Milvus Lite answers describe_index with the index type and metric only, whatever parameters the
index was created with; a Milvus server refuses HNSW or IVF indexes without them
(`efConstruction out of range`, `nlist out of range`). The plan then builds the same index type
with the defaults the Milvus documentation gives for it (milvus.io/docs hnsw.md, ivf-flat.md,
ivf-sq8.md, ivf-pq.md, scann.md, bin-ivf-flat.md) and says so, instead of falling back to
AUTOINDEX.
"""

from __future__ import annotations

from typing import Any

# Documented defaults of the build parameters, per index type.
HNSW_DEFAULTS = {"M": 30, "efConstruction": 360}
NLIST_DEFAULT = 128
IVF_PQ_NBITS_DEFAULT = 8
_DEFAULTS: dict[str, dict[str, Any]] = {
    "HNSW": HNSW_DEFAULTS,
    "IVF_FLAT": {"nlist": NLIST_DEFAULT},
    "IVF_SQ8": {"nlist": NLIST_DEFAULT},
    "SCANN": {"nlist": NLIST_DEFAULT},
    "BIN_IVF_FLAT": {"nlist": NLIST_DEFAULT},
}


def default_params(index_type: str, dim: int | None) -> dict[str, Any] | None:
    """The documented default build parameters of `index_type` for vectors of `dim`
    dimensions; None when the type takes none (FLAT, AUTOINDEX, DISKANN...) or has no
    documented default."""
    kind = index_type.upper()
    if kind == "IVF_PQ":
        # m has no default: the documentation recommends D/2 and requires a divisor of D.
        if not dim:
            return None
        return {"nlist": NLIST_DEFAULT, "m": _pq_m(dim), "nbits": IVF_PQ_NBITS_DEFAULT}
    defaults = _DEFAULTS.get(kind)
    return dict(defaults) if defaults else None


def describe(params: dict[str, Any]) -> str:
    """ "M=30, efConstruction=360" """
    return ", ".join(f"{key}={value}" for key, value in params.items())


def _pq_m(dim: int) -> int:
    """The largest divisor of `dim` not above dim/2 (dim/2 for an even dimension)."""
    for m in range(dim // 2, 0, -1):
        if dim % m == 0:
            return m
    return 1
