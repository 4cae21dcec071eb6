"""Near-duplicate detection for problem statements, embeddings, and benchmark contamination.

As in InfoSynth (arXiv 2601.00575): word 5-gram shingles, MinHash with 250 permutations and
MinHash-LSH at Jaccard threshold 0.75. LSH candidate pairs are confirmed with the MinHash
Jaccard estimate, then grouped transitively (two members may be linked only through a third).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from numbers import Real
from typing import Any

import numpy as np
from datasketch import MinHash, MinHashLSH

from .errors import ConfigError
from .problem import Problem

__all__ = [
    "shingles",
    "minhashes",
    "DuplicateGroup",
    "near_duplicates",
    "deduplicate",
    "cross_duplicates",
    "embedding_near_duplicates",
    "ContaminationReport",
    "contamination_report",
    "GrowingIndex",
]

# Words (Unicode letters, digits, underscore) and single basic punctuation marks are tokens;
# everything else (whitespace, other symbols) only separates tokens.
_TOKEN = re.compile(r"\w+|[.,;:!?()\[\]{}<>=+\-*/%'\"]")
# LSH banding favours recall: false positives are removed by the Jaccard confirmation.
_FP_WEIGHT, _FN_WEIGHT = 0.1, 0.9
_BLOCK_ELEMENTS = 8_000_000  # cosine similarity block size (float64 entries, ~64 MB)
_COSINE_TOLERANCE = 1e-9


# ----------------------------------------------------------------------------- validation
def _fail(func: str, param: str, requirement: str, got: str) -> ConfigError:
    return ConfigError(f"The '{param}' parameter of {func} must {requirement}; got {got}.")


def _check_params(func: str, threshold: Any | None, num_perm: Any, n: Any, seed: Any) -> dict:
    """Validate the threshold (unless None) and the MinHash parameters; return the latter."""
    t = threshold
    if t is not None and (isinstance(t, bool) or not isinstance(t, Real) or not 0 < t <= 1):
        raise _fail(func, "threshold", "be in (0, 1]", repr(t))
    for param, value, low in (("num_perm", num_perm, 16), ("n", n, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _fail(func, param, f"be an integer >= {low}", repr(value))
    return {"num_perm": num_perm, "n": n, "seed": seed}


def _check_strings(func: str, param: str, values: Sequence[str], *, unique: bool) -> list[str]:
    values, first = list(values), {}
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise _fail(func, param, f"contain only strings (position {i})", repr(v))
        if unique and v in first:
            raise _fail(func, param, f"not repeat an id (positions {first[v]}, {i})", repr(v))
        first[v] = i
    return values


def _check_pairs(func: str, ids: Sequence, texts: Sequence, names: tuple[str, str]) -> tuple:
    ids, texts = _check_strings(func, names[0], ids, unique=True), list(texts)
    if len(texts) != len(ids):
        need = f"have one entry per id ({len(ids)} in '{names[0]}')"
        raise _fail(func, names[1], need, f"{len(texts)} texts")
    return ids, _check_strings(func, names[1], texts, unique=False)


# ----------------------------------------------------------------------------- shingles, MinHash
def shingles(text: str, *, n: int = 5) -> set[str]:
    """Word n-gram shingles of case-folded ``text``; tokens: words, ``.,;:!?()[]{}<>=+-*/%'"``.

    Parameters
    ----------
    text : str
        Any text; characters that are neither word nor listed punctuation separate tokens.
    n : int, default 5
        Shingle length in tokens.

    Returns
    -------
    set of str
        Space-joined n-grams; one shingle of all tokens if fewer than ``n``; empty if none.
    """
    _check_params("shingles", None, 16, n, 0)
    if not isinstance(text, str):
        raise _fail("shingles", "text", "be a string", repr(text))
    tokens = _TOKEN.findall(text.casefold())
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def minhashes(
    texts: Sequence[str], *, num_perm: int = 250, n: int = 5, seed: int = 1
) -> list[MinHash]:
    """MinHash signatures (``datasketch.MinHash.bulk``) of the shingle sets of ``texts``.

    Parameters
    ----------
    texts : sequence of str
        The texts; one without tokens gives an empty signature.
    num_perm, n, seed : int
        Permutations (>= 16), shingle length (>= 1), seed (>= 0); compare like with like.
    """
    _check_params("minhashes", None, num_perm, n, seed)
    texts = _check_strings("minhashes", "texts", texts, unique=False)
    sets = [[s.encode("utf-8") for s in sorted(shingles(t, n=n))] for t in texts]
    return MinHash.bulk(sets, num_perm=num_perm, seed=seed)


@lru_cache(maxsize=64)
def _lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands ``b >= 2`` and rows ``r`` minimising weighted false positive/negative areas.

    (datasketch's own choice can give ``b < 2`` and fail for thresholds near 1.)
    """
    xs = np.linspace(0.0, 1.0, 1001)
    below = xs < threshold
    best = (np.inf, 2, num_perm // 2)
    for b in range(2, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - xs**r) ** b
            err = _FP_WEIGHT * p[below].sum() + _FN_WEIGHT * (1.0 - p[~below]).sum()
            best = min(best, (float(err), b, r))
    return best[1], best[2]


def _matcher(sigs: list[MinHash], threshold: float, num_perm: int) -> Callable:
    """Index the non-empty ``sigs`` in one MinHashLSH; return ``sig -> confirmed positions``."""
    params = _lsh_params(float(threshold), num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=params)
    for i, sig in enumerate(sigs):
        if not sig.is_empty():
            lsh.insert(i, sig)
    return lambda sig: sorted(j for j in lsh.query(sig) if sig.jaccard(sigs[j]) >= threshold)


# ----------------------------------------------------------------------------- grouping
@dataclass(frozen=True)
class DuplicateGroup:
    """Near-duplicate items: ``ids`` in input order; ``kept`` is the first of them."""

    ids: tuple[str, ...]
    kept: str


def _groups(ids: list[str], pairs: list[tuple[int, int]]) -> list[DuplicateGroup]:
    """Transitive groups (union-find) of index pairs, ordered by first member's position."""
    parent = list(range(len(ids)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        ri, rj = find(i), find(j)
        parent[max(ri, rj)] = min(ri, rj)  # the root is always a group's first member
    members: dict[int, list[int]] = {}  # roots appear in order of their first member
    for i in range(len(ids)):
        members.setdefault(find(i), []).append(i)
    return [DuplicateGroup(tuple(ids[i] for i in m), ids[m[0]]) for m in members.values() if m[1:]]


def _near_duplicates(
    func: str, ids: Sequence[str], texts: Sequence[str], threshold: float, **kw: int
) -> list[DuplicateGroup]:
    sig_params = _check_params(func, threshold, **kw)
    ids, texts = _check_pairs(func, ids, texts, ("ids", "texts"))
    sigs = minhashes(texts, **sig_params)
    matches = _matcher(sigs, threshold, sig_params["num_perm"])
    pairs = [(i, j) for i, s in enumerate(sigs) if not s.is_empty() for j in matches(s) if j > i]
    return _groups(ids, pairs)


def near_duplicates(
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    threshold: float = 0.75,
    num_perm: int = 250,
    n: int = 5,
    seed: int = 1,
) -> list[DuplicateGroup]:
    """Groups of texts whose estimated Jaccard similarity reaches ``threshold``.

    LSH candidate pairs are confirmed with ``MinHash.jaccard`` and grouped transitively.
    Texts without tokens are never grouped. Same seed and input give the same result. Raises
    ConfigError on a length mismatch, a repeated id or a parameter out of range.

    Parameters
    ----------
    ids, texts : sequence of str
        Unique identifiers and their texts (e.g. problem statements), same length.
    threshold : float, default 0.75
        Minimum estimated Jaccard similarity of the shingle sets, in (0, 1].
    num_perm, n, seed : int, default 250, 5, 1
        MinHash permutations (>= 16), shingle length and seed (see :func:`minhashes`).

    Returns
    -------
    list of DuplicateGroup
        Groups of two or more members, ordered by their first member's input position.
    """
    kw = {"num_perm": num_perm, "n": n, "seed": seed}
    return _near_duplicates("near_duplicates", ids, texts, threshold, **kw)


def deduplicate(
    problems: Sequence[Problem],
    *,
    threshold: float = 0.75,
    num_perm: int = 250,
    n: int = 5,
    seed: int = 1,
) -> tuple[list[Problem], list[DuplicateGroup]]:
    """Drop near-duplicate problems by statement (``problem.problem``), keeping the first.

    Parameters are those of :func:`near_duplicates`. Returns the remaining problems (input
    order) and the duplicate groups.
    """
    problems, kw = list(problems), {"num_perm": num_perm, "n": n, "seed": seed}
    ids, texts = [p.id for p in problems], [p.problem for p in problems]
    groups = _near_duplicates("deduplicate", ids, texts, threshold, **kw)
    dropped = {i for g in groups for i in g.ids if i != g.kept}
    return [p for p in problems if p.id not in dropped], groups


# ----------------------------------------------------------------------------- cross-set
def _cross(
    func: str,
    cand: tuple[Sequence[str], Sequence[str]],
    refs: list[tuple[str, Sequence[str], Sequence[str]]],
    threshold: float,
    **kw: int,
) -> list[dict[str, list[str]]]:
    """Per reference set ``(label, ids, texts)``: candidate id -> matching reference ids."""
    sig_params = _check_params(func, threshold, **kw)
    cand_ids, cand_texts = _check_pairs(func, *cand, ("candidate_ids", "candidate_texts"))
    refs = [
        _check_pairs(func, ids, texts, (f"{lab}ids", f"{lab}texts")) for lab, ids, texts in refs
    ]
    cand_sigs = minhashes(cand_texts, **sig_params)
    results = []
    for ref_ids, ref_texts in refs:
        sigs = minhashes(ref_texts, **sig_params)
        matches = _matcher(sigs, threshold, sig_params["num_perm"])
        found = {}
        for cid, sig in zip(cand_ids, cand_sigs, strict=True):
            if not sig.is_empty() and (hits := matches(sig)):
                found[cid] = [ref_ids[j] for j in hits]
        results.append(found)
    return results


def cross_duplicates(
    candidate_ids: Sequence[str],
    candidate_texts: Sequence[str],
    reference_ids: Sequence[str],
    reference_texts: Sequence[str],
    *,
    threshold: float = 0.75,
    num_perm: int = 250,
    n: int = 5,
    seed: int = 1,
) -> dict[str, list[str]]:
    """Near-duplicates of each candidate text within a reference set.

    The references are indexed in one MinHash-LSH; each candidate is queried and its hits are
    confirmed with ``MinHash.jaccard``. Parameters are as in :func:`near_duplicates`.

    Returns
    -------
    dict of str to list of str
        Candidate id (in candidate order) to matching reference ids (in reference order);
        candidates without a match are absent.
    """
    kw = {"num_perm": num_perm, "n": n, "seed": seed}
    refs = [("reference_", reference_ids, reference_texts)]
    return _cross("cross_duplicates", (candidate_ids, candidate_texts), refs, threshold, **kw)[0]


@dataclass(frozen=True)
class ContaminationReport:
    """Candidates that near-duplicate problems of named reference sets (e.g. benchmarks).

    ``flagged``: candidate id -> ``"setname:id"`` matches; ``by_reference``: flagged per set.
    """

    n_candidates: int
    n_flagged: int
    flagged: dict[str, list[str]]
    by_reference: dict[str, int]

    @property
    def rate(self) -> float:
        """Share of candidates flagged (0.0 when there are no candidates)."""
        return self.n_flagged / self.n_candidates if self.n_candidates else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report, ``rate`` included."""
        return {**asdict(self), "rate": self.rate}


def contamination_report(
    candidate_ids: Sequence[str],
    candidate_texts: Sequence[str],
    references: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    *,
    threshold: float = 0.75,
    num_perm: int = 250,
    n: int = 5,
    seed: int = 1,
) -> ContaminationReport:
    """Check candidates against named reference sets (see :func:`cross_duplicates`).

    Parameters
    ----------
    references : mapping of str to (ids, texts)
        Reference sets by name; a name must be non-empty and contain no ``':'``.
    candidate_ids, candidate_texts, threshold, num_perm, n, seed
        As in :func:`cross_duplicates`.
    """
    func, candidate_ids = "contamination_report", list(candidate_ids)
    if not isinstance(references, Mapping):
        need = "be a mapping of set name to (ids, texts)"
        raise _fail(func, "references", need, repr(references))
    refs = []
    for name, pair in references.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise _fail(func, "references", "have non-empty set names without ':'", repr(name))
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise _fail(func, "references", f"map {name!r} to an (ids, texts) pair", repr(pair))
        refs.append((f"references[{name!r}] ", *pair))
    kw = {"num_perm": num_perm, "n": n, "seed": seed}
    results = _cross(func, (candidate_ids, candidate_texts), refs, threshold, **kw)
    named = list(zip(references, results, strict=True))
    hits = {c: [f"{k}:{r}" for k, f in named for r in f.get(c, [])] for c in candidate_ids}
    flagged = {c: h for c, h in hits.items() if h}
    by_reference = {name: len(found) for name, found in named}
    return ContaminationReport(len(candidate_ids), len(flagged), flagged, by_reference)


# ----------------------------------------------------------------------------- embeddings
def embedding_near_duplicates(
    ids: Sequence[str], embeddings: np.ndarray, *, threshold: float = 0.95
) -> list[DuplicateGroup]:
    """Groups of items whose embeddings have cosine similarity >= ``threshold``.

    Rows are L2-normalised and compared block by block with the rows after them (never the
    whole n x n matrix at once), in float64 with a 1e-9 tolerance so that parallel vectors
    match at ``threshold=1``. Grouping and ordering are as in :func:`near_duplicates`.

    Parameters
    ----------
    ids : sequence of str
        Unique identifiers, one per row.
    embeddings : numpy.ndarray
        2-D array of finite real values, one non-zero row per id.
    threshold : float, default 0.95
        Minimum cosine similarity, in (0, 1].
    """
    func = "embedding_near_duplicates"
    _check_params(func, threshold, 16, 1, 0)
    ids, e = _check_strings(func, "ids", ids, unique=True), embeddings
    if not isinstance(e, np.ndarray) or e.ndim != 2 or e.dtype.kind not in "iuf":
        shape, dtype = getattr(e, "shape", "-"), getattr(e, "dtype", "-")
        got = f"{type(e).__name__}, shape {shape}, dtype {dtype}"
        raise _fail(func, "embeddings", "be a 2-D numpy array of real numbers", got)
    if e.shape[0] != len(ids):
        raise _fail(func, "embeddings", f"have one row per id ({len(ids)} ids)", f"shape {e.shape}")
    x = e.astype(np.float64)
    finite = np.isfinite(x).all(axis=1)
    norms = np.linalg.norm(np.where(finite[:, None], x, 0.0), axis=1)
    for bad, need in ((~finite, "hold only finite values"), (norms == 0, "have no all-zero rows")):
        if bad.any():
            raise _fail(func, "embeddings", need, f"row {int(np.argmax(bad))}")
    x /= norms[:, None]
    block = max(1, _BLOCK_ELEMENTS // max(len(ids), 1))
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(ids), block):
        sims = x[start : start + block] @ x[start:].T  # columns j >= start only
        rows, cols = np.nonzero(sims >= float(threshold) - _COSINE_TOLERANCE)
        keep = cols > rows  # drop self pairs and pairs already seen the other way round
        pairs.extend(zip((rows[keep] + start).tolist(), (cols[keep] + start).tolist(), strict=True))
    return _groups(ids, pairs)


class GrowingIndex:
    """A MinHash-LSH index that grows as problems are added (one per colony in the loop).

    Signatures are computed once per text (``minhashes``) and kept; ``query`` confirms LSH
    hits with ``MinHash.jaccard``. Parameters as in :func:`near_duplicates`.
    """

    def __init__(self, *, threshold: float = 0.75, num_perm: int = 250, n: int = 5, seed: int = 1):
        _check_params("GrowingIndex", threshold, num_perm, n, seed)
        self.threshold, self.num_perm, self.n, self.seed = float(threshold), num_perm, n, seed
        params = _lsh_params(self.threshold, num_perm)
        self._lsh = MinHashLSH(threshold=self.threshold, num_perm=num_perm, params=params)
        self._sigs: dict[str, MinHash] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._sigs

    def __len__(self) -> int:
        return len(self._sigs)

    def signatures(self, texts: Sequence[str]) -> list[MinHash]:
        return minhashes(texts, num_perm=self.num_perm, n=self.n, seed=self.seed)

    def add(self, keys: Sequence[str], texts: Sequence[str] | None = None, *, sigs=None) -> None:
        """Index ``keys`` by their texts (or by ready ``sigs``); known keys are skipped."""
        sigs = list(sigs) if sigs is not None else self.signatures(list(texts or []))
        for key, sig in zip(keys, sigs, strict=True):
            if key not in self._sigs:
                self._sigs[key] = sig
                if not sig.is_empty():
                    self._lsh.insert(key, sig)

    def query(self, sigs: Sequence[MinHash]) -> list[list[str]]:
        """For each signature, the indexed keys at or above the threshold (sorted)."""
        out = []
        for sig in sigs:
            if sig.is_empty():
                out.append([])
                continue
            hits = self._lsh.query(sig)
            out.append(sorted(k for k in hits if sig.jaccard(self._sigs[k]) >= self.threshold))
        return out
