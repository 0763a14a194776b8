"""FAISS indexes over L2-normalised vectors (cosine = inner product).

* exact ``IndexFlatIP`` below :data:`IVF_THRESHOLD` vectors;
* ``IndexIVFFlat`` (inner product, ``nlist ≈ 4·sqrt(n)``, k-means on 40·nlist samples × 10
  iterations, ``nprobe`` 32) at and above it —
  recall against exact search is measured by ``bench/bench_search.py``;
* the ids are the DuckDB ids (``IndexIDMap2`` for flat, native ids for IVF);
* on a machine where faiss sees a GPU, search runs on it (``index_cpu_to_all_gpus``), otherwise
  on the CPU; :func:`device_report` says which;
* files are written atomically (temporary file + rename), so a crash never leaves half an index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .errors import WorkspaceError

IVF_THRESHOLD = 200_000
DEFAULT_NPROBE = 32


def n_gpus() -> int:
    """GPUs faiss can use (0 on CPU-only machines, where faiss-gpu runs on the CPU)."""
    try:
        return int(faiss.get_num_gpus())
    except AttributeError:
        return 0


def device_report() -> str:
    """A one-line description of where searches run."""
    g = n_gpus()
    return f"faiss {faiss.__version__} on {g} GPU(s)" if g else f"faiss {faiss.__version__} on CPU"


def normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation, float32, C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def build_index(vectors: np.ndarray, ids: np.ndarray, kind: str = "auto", seed: int = 0) -> faiss.Index:
    """Build a CPU index of ``vectors`` (normalised here) with int64 ``ids``.

    ``kind``: "flat", "ivf" or "auto" (ivf from :data:`IVF_THRESHOLD` vectors).
    """
    x = normalise(vectors)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if x.shape[0] != ids.shape[0]:
        raise ValueError(f"{x.shape[0]} vectors but {ids.shape[0]} ids")
    dim = x.shape[1]
    if kind == "auto":
        kind = "ivf" if x.shape[0] >= IVF_THRESHOLD else "flat"
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if len(x):
            index.add_with_ids(x, ids)
        return index
    if kind != "ivf":
        raise ValueError(f"unknown index kind {kind!r}")
    nlist = int(max(16, min(65536, 4 * np.sqrt(max(len(x), 1)))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # fewer k-means iterations than the default 25: build time; recall: bench_search
    index.cp.seed = seed
    rng = np.random.default_rng(seed)
    train = x[rng.choice(len(x), size=min(len(x), 40 * nlist), replace=False)]
    index.train(train)
    index.add_with_ids(x, ids)
    index.nprobe = DEFAULT_NPROBE
    return index


def to_search_device(index: faiss.Index) -> faiss.Index:
    """Move an index to the GPU(s) when faiss sees any; otherwise return it unchanged."""
    if n_gpus() == 0:
        return index
    return faiss.index_cpu_to_all_gpus(index)


def save_index(index: faiss.Index, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


def load_index(path: Path, hint: str = "") -> faiss.Index:
    """Read a FAISS file; a missing, empty or damaged one is a :class:`WorkspaceError` (``hint``: what to do)."""
    path = Path(path)
    hint = hint or f"rebuild it with `sleeplm check -w {path.parent} --repair`"
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise WorkspaceError(f"{path}: the FAISS index cannot be read ({exc.strerror}); {hint}") from exc
    if size == 0:
        raise WorkspaceError(f"{path}: the FAISS index is empty (0 bytes, an interrupted copy?); {hint}")
    try:
        return faiss.read_index(str(path))
    except (RuntimeError, MemoryError, OSError) as exc:  # faiss raises RuntimeError on a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkspaceError(f"{path}: the FAISS index is damaged ({first[:200]}); {hint}") from exc


def index_vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids [N], stored vectors [N, D]) of a flat (IDMap) or IVF-flat index, sorted by id."""
    if hasattr(index, "id_map"):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        inner = faiss.downcast_index(index.index)
        mat = inner.reconstruct_n(0, inner.ntotal) if inner.ntotal else np.zeros((0, index.d), np.float32)
    else:
        ivf = faiss.extract_index_ivf(index)
        inv = ivf.invlists
        id_parts, vec_parts = [], []
        for list_no in range(ivf.nlist):
            n = inv.list_size(list_no)
            if n:
                id_parts.append(faiss.rev_swig_ptr(inv.get_ids(list_no), n).copy())
                codes = faiss.rev_swig_ptr(inv.get_codes(list_no), n * inv.code_size).copy()
                vec_parts.append(codes.view(np.float32).reshape(n, index.d))
        ids = np.concatenate(id_parts).astype(np.int64) if id_parts else np.zeros(0, np.int64)
        mat = np.concatenate(vec_parts) if vec_parts else np.zeros((0, index.d), np.float32)
    order = np.argsort(ids, kind="stable")
    return ids[order], np.ascontiguousarray(mat[order], np.float32)


def index_ids(index: faiss.Index) -> np.ndarray:
    """All ids stored in a flat (IDMap) or IVF index, sorted."""
    if isinstance(index, faiss.IndexIDMap2) or hasattr(index, "id_map"):
        return np.sort(faiss.vector_to_array(index.id_map).astype(np.int64))
    ivf = faiss.extract_index_ivf(index)
    invlists = ivf.invlists
    out = []
    for list_no in range(ivf.nlist):
        n = invlists.list_size(list_no)
        if n:
            out.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), n).copy())
    return np.sort(np.concatenate(out).astype(np.int64)) if out else np.zeros(0, np.int64)


@dataclass
class Hits:
    """Search results for one query: ids and cosine scores, best first."""

    ids: np.ndarray
    scores: np.ndarray


def search(index: faiss.Index, queries: np.ndarray, k: int) -> list[Hits]:
    """Top-k inner-product search; drops the -1 padding faiss uses when fewer than k exist."""
    q = normalise(np.atleast_2d(queries))
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    scores, ids = index.search(q, k)
    out = []
    for s, i in zip(scores, ids):
        keep = i >= 0
        out.append(Hits(i[keep].astype(np.int64), s[keep].astype(np.float32)))
    return out
