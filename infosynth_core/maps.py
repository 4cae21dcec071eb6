"""2-D maps of a run's problems and of a seed set, stable while a run grows.

:func:`run_map` fits a :class:`~infosynth_core.projection.MapLayout` (UMAP, cosine, 2-D) on
the sentence embeddings of the run's seed set and *places* the run's problems into it with
UMAP's ``transform``: the seeds fix the frame, and every point keeps its coordinates once
placed. Views (the Explore and Review pages) call it again as a run grows and only the new
problems are embedded and placed.

Layouts and coordinates are cached in this process, per (store file, run, random_state,
embedding model), for the :data:`MAX_CACHED` most recently used maps. The layout is
(re)fitted only

- on the first call for a run in this process (a restarted dashboard recomputes the map: the
  fit on the seeds is deterministic, but placements may differ a little from those made
  incrementally before, since UMAP's transform depends on the batch it places),
- when the seed set's statements changed since the fit,
- when the caller asks (``refit=True``).

It never refits because many points were placed (``MapLayout``'s ``refit_ratio`` is set to
infinity): generated problems are always shown relative to the seeds. A point whose statement
changed (e.g. rephrased after verification) is placed again. When the seed set has fewer than
4 problems, the first fit uses every point present then (UMAP needs 4).

Embeddings use the run's ``metrics.embedding_model`` (the runner's vectors are cached in the
store, so a finished run's map embeds nothing). Measured on 2 shared CPU cores, embeddings
cached: 20,000 problems placed into a 164-seed layout in 9 s on the first call (after
:func:`~infosynth_core.projection.warm_up`, which takes 12–38 s once per process), about 1 s
per later call with nothing new (reading the 20,000 rows from SQLite is most of it).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pandas as pd

from .embed import DEFAULT_MODEL, Embedder, resolve_model, text_hash
from .errors import ConfigError
from .projection import MapLayout
from .store import Store, StoredProblem
from .strength import stored_mutation_score

__all__ = ["MAP_COLUMNS", "SEED_MAP_COLUMNS", "MAX_CACHED", "run_map", "seed_map", "clear_cache"]

MAP_COLUMNS = (
    "key",
    "pk",
    "id",
    "x",
    "y",
    "set",
    "generation",
    "operator",
    "topic",
    "status",
    "review",
    "colony",
    "statement",
    "test_strength",
    "mutants_killed",
    "mutants_total",
)
SEED_MAP_COLUMNS = ("x", "y", "id", "topic", "difficulty", "statement")
MAX_CACHED = 8
_MIN_FIT = 4  # UMAP needs at least 4 points
_STATEMENT_CHARS = 200


@dataclass
class _MapState:
    layout: MapLayout
    signature: str  # hash of the fitted seeds' statements
    coords: dict[str, tuple[str, float, float]] = field(default_factory=dict)  # key -> (hash, x, y)
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache: OrderedDict[tuple, _MapState] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached layout (the next call of each map refits)."""
    with _cache_lock:
        _cache.clear()


def _short(text: str, n: int = _STATEMENT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _signature(hashes: list[str]) -> str:
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _rank(random_state: int, key: str) -> int:
    """A stable pseudo-random rank of a point: downsampling keeps the lowest ranks, so a
    point kept once stays kept while its stratum's quota does not shrink."""
    digest = hashlib.blake2b(f"{random_state}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _quotas(sizes: dict[int, int], budget: int) -> dict[int, int]:
    """Split ``budget`` over strata proportionally to their sizes (largest remainder)."""
    total = sum(sizes.values())
    if total <= budget:
        return dict(sizes)
    exact = {g: budget * n / total for g, n in sizes.items()}
    quota = {g: math.floor(v) for g, v in exact.items()}
    left = budget - sum(quota.values())
    for g in sorted(exact, key=lambda g: (quota[g] - exact[g], g))[:left]:
        quota[g] += 1
    return quota


def _keep(keys: list[str], generations: list[int], n_seeds: int, max_points: int, rs: int):
    """Indices kept when there are more than ``max_points`` points (see :func:`run_map`)."""
    n = len(keys)
    if n <= max_points:
        return list(range(n))
    n_gen = n - n_seeds
    n_seed_keep = min(n_seeds, max(max_points - n_gen, max_points // 2 if n_gen else max_points))
    kept = sorted(range(n_seeds), key=lambda i: _rank(rs, keys[i]))[:n_seed_keep]
    strata: dict[int, list[int]] = {}
    for i in range(n_seeds, n):
        strata.setdefault(generations[i], []).append(i)
    quota = _quotas({g: len(v) for g, v in strata.items()}, max_points - n_seed_keep)
    for g, idx in strata.items():
        kept += sorted(idx, key=lambda i: _rank(rs, keys[i]))[: quota[g]]
    return sorted(kept)


def _state(cache_key: tuple, seed_hashes: list[str], refit: bool) -> tuple[_MapState, bool]:
    """The cached map state, or a fresh one (to be fitted) when missing, stale or asked."""
    signature = _signature(seed_hashes)
    with _cache_lock:
        state = _cache.get(cache_key)
        fresh = state is None or refit or state.signature != signature
        if state is None:
            state = _MapState(MapLayout(random_state=cache_key[3], refit_ratio=math.inf), signature)
            _cache[cache_key] = state
        elif fresh:  # the same layout object refits, so its ``generation_`` goes up
            state.signature = signature
        _cache.move_to_end(cache_key)
        while len(_cache) > MAX_CACHED:
            _cache.popitem(last=False)
    return state, fresh


def _coordinates(
    state: _MapState,
    fresh: bool,
    embedder: Embedder,
    seeds: list[tuple[str, str, str]],
    points: list[tuple[str, str, str]],
) -> tuple[dict[str, tuple[float, float]], bool]:
    """Fit (when ``fresh``) and place so that ``state.coords`` holds every (key, hash, text)
    of ``seeds`` (all of them, the frame) and ``points`` (the ones shown); returns their
    coordinates by key (read under the map's lock) and whether the layout was fitted."""
    with state.lock:
        fit_now = fresh or state.layout.model_ is None
        if fit_now:
            fit = list(seeds)
            if len(fit) < _MIN_FIT:  # too few seeds to fit on: use every point present
                fit += [p for p in points if p[0] not in {s[0] for s in seeds}]
            if len(fit) < _MIN_FIT:
                raise ConfigError(
                    f"The map needs at least {_MIN_FIT} problems (seeds and generated "
                    f"together); got {len(fit)}. Import a larger seed set, or wait until the "
                    "run has generated more problems."
                )
            xy = state.layout.fit(embedder.encode([t for _, _, t in fit]))
            state.coords = {k: (h, *map(float, c)) for (k, h, _), c in zip(fit, xy, strict=True)}
        todo = [p for p in points if state.coords.get(p[0], ("",))[0] != p[1]]
        if todo:
            xy, _ = state.layout.place(embedder.encode([t for _, _, t in todo]))
            for (k, h, _), c in zip(todo, xy, strict=True):
                state.coords[k] = (h, float(c[0]), float(c[1]))
        return {k: state.coords[k][1:] for k, _, _ in [*seeds, *points]}, fit_now


def _db_key(store: Store) -> str:
    return str(store.path.resolve())


def run_map(
    store: Store,
    run_id: str,
    *,
    max_points: int = 20_000,
    random_state: int = 0,
    refit: bool = False,
) -> pd.DataFrame:
    """One row per point of a run's 2-D map: its seed set's problems and its own problems.

    Parameters
    ----------
    store, run_id
        The run (``NotFoundError`` when it does not exist).
    max_points
        At most this many rows are returned. Above it the map is downsampled on the server:
        seeds are all kept unless they would take more than half of ``max_points`` (then the
        seeds get ``max(max_points - n_generated, max_points // 2)`` rows), and the rest is
        split over the generations in proportion to their sizes (stratified). Within a
        stratum the points kept are those with the lowest stable hash rank of
        (``random_state``, ``key``), so the same points stay on the map between refreshes.
    random_state
        Seed of the UMAP fit and of the downsampling.
    refit
        Fit the layout again even when a cached one exists (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MAP_COLUMNS`: ``key`` (unique: ``"seed:<id>"`` / ``"run:<pk>"``),
        ``pk`` (store key of a run problem, ``<NA>`` for seeds), ``id``, ``x``, ``y``,
        ``set`` (``"seed"`` | ``"generated"``), ``generation`` (0 for seeds), ``operator``,
        ``topic`` (first topic or ``"none"``), ``status``, ``review``, ``colony`` (``<NA>``
        for seeds), ``statement`` (whitespace collapsed, at most 200 characters). Seeds come
        first, then the run's problems in the order stored. ``attrs``: ``total`` (points
        before downsampling), ``dropped`` (points left out), ``refitted`` (whether this call
        fitted the layout), ``layout_generation`` (goes up with every fit).

    Examples
    --------
    >>> df = run_map(store, "run-20250101-120000-ab12")  # doctest: +SKIP
    >>> df.attrs["dropped"], df[df.set == "generated"].groupby("generation").size()
    """
    if not isinstance(max_points, int) or max_points < 1:
        raise ConfigError(
            f"The 'max_points' parameter of run_map must be an int >= 1; got {max_points!r}."
        )
    run = store.get_run(run_id)
    seed_set = run.config.get("seed_set")
    seeds = store.problems(seed_set=seed_set) if seed_set and store.has_seed_set(seed_set) else []
    problems = store.problems(run_id=run_id)
    model = resolve_model((run.config.get("metrics") or {}).get("embedding_model"))

    rows: list[tuple[str, StoredProblem]] = [(f"seed:{sp.problem.id}", sp) for sp in seeds]
    rows += [(f"run:{sp.pk}", sp) for sp in problems]
    keys = [k for k, _ in rows]
    gens = [0 if i < len(seeds) else sp.problem.origin.generation for i, (_, sp) in enumerate(rows)]
    kept = _keep(keys, gens, len(seeds), max_points, random_state)

    triples = [(k, text_hash(sp.problem.problem), sp.problem.problem) for k, sp in rows]
    state, fresh = _state(
        (_db_key(store), "run", run_id, random_state, model),
        [h for _, h, _ in triples[: len(seeds)]],
        refit,
    )
    coords, fitted = _coordinates(
        state,
        fresh,
        Embedder(model, store=store),
        triples[: len(seeds)],
        [triples[i] for i in kept],
    )

    out = []
    for i in kept:
        key, sp = rows[i]
        p, is_seed = sp.problem, i < len(seeds)
        x, y = coords[key]
        ms = None if is_seed else stored_mutation_score(p)
        scored = ms is not None and ms["score"] is not None
        out.append(
            (
                key,
                None if is_seed else sp.pk,
                p.id,
                x,
                y,
                "seed" if is_seed else "generated",
                gens[i],
                "seed" if is_seed else p.origin.operator,
                p.topics[0] if p.topics else "none",
                p.status,
                p.review,
                None if is_seed else p.origin.colony,
                _short(p.problem),
                ms["score"] if scored else math.nan,
                ms["killed"] if scored else None,
                ms["total"] if scored else None,
            )
        )
    df = pd.DataFrame(out, columns=list(MAP_COLUMNS))
    df["test_strength"] = df["test_strength"].astype("float64")
    for col in ("pk", "colony", "generation", "mutants_killed", "mutants_total"):
        df[col] = df[col].astype("Int64")
    df.attrs.update(
        total=len(rows),
        dropped=len(rows) - len(kept),
        refitted=fitted,
        layout_generation=state.layout.generation_,
    )
    return df


def seed_map(
    store: Store, seed_set: str, *, random_state: int = 0, model: str = DEFAULT_MODEL
) -> pd.DataFrame:
    """A 2-D map of a seed set (UMAP on its sentence embeddings, cached per set content).

    Same layout settings as :func:`run_map`'s frame, so with the same ``random_state`` and
    model the seeds sit where a run on this set shows them. Returns the columns
    :data:`SEED_MAP_COLUMNS` (``topic`` is the first topic or ``"none"``, ``difficulty``
    ``""`` when unknown, ``statement`` at most 200 characters), in the set's order.
    ``NotFoundError`` when the set does not exist; ``ConfigError`` below 4 problems.
    """
    seeds = store.problems(seed_set=seed_set)
    model = resolve_model(model)
    triples = [
        (f"seed:{sp.problem.id}", text_hash(sp.problem.problem), sp.problem.problem) for sp in seeds
    ]
    if len(triples) < _MIN_FIT:
        raise ConfigError(
            f"The map of seed set '{seed_set}' needs at least {_MIN_FIT} problems; it has "
            f"{len(triples)}. Import a larger set to see its map."
        )
    key = (_db_key(store), "seed-set", seed_set, random_state, model)
    state, fresh = _state(key, [h for _, h, _ in triples], False)
    coords, _ = _coordinates(state, fresh, Embedder(model, store=store), triples, [])
    return pd.DataFrame(
        [
            (
                *coords[k],
                sp.problem.id,
                sp.problem.topics[0] if sp.problem.topics else "none",
                sp.problem.difficulty or "",
                _short(sp.problem.problem),
            )
            for (k, _, _), sp in zip(triples, seeds, strict=True)
        ],
        columns=list(SEED_MAP_COLUMNS),
    )
