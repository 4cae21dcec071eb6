"""The dashboard's run map at 20,000 generated problems: stable layout vs refitting UMAP.

A fresh store holds the bundled seed set (164 problems) and one run with 20,000 synthetic
generated problems (operators mutation-* / crossover, generations 1..10, colonies 0..9, all
passed). Each statement combines sentences of the bundled seeds (a base seed's sentences with
one sentence of another seed inserted), drawn with a fixed random_state, so every text differs.

Embeddings: the seeds are embedded for real with the default model (MiniLM, before timing).
Embedding 20,000 long statements on CPU would take about 15 minutes (~25 statements/s), so
the store's embedding cache is pre-filled with deterministic synthetic vectors for the
generated statements: the base seed's real embedding + 0.3 x the other seed's + Gaussian
noise (sigma 0.02 per dimension), normalised to unit length (float32, 384-d), so they land
near the seeds. ``run_map`` therefore embeds nothing, as for a finished run, whose vectors
the runner has cached in the store.

Same run, same machine, measured with ``explore.run_map`` (all points shown unless noted):

- (a) first call: read the run, fit the 2-D layout on the seeds, place the 20,000 points;
- (b) refresh with nothing new (cached layout and coordinates);
- (c) refresh with ``max_points=5000`` (server-side stratified downsampling);
- (d) refresh after adding 500 new problems (only they are placed);
- baseline: a plain 2-D UMAP refit on all 20,164 vectors (what a notebook would do on every
  refresh), same parameters as the map (cosine, n_neighbors=30, min_dist=0.1, seed 0). It
  gets its vectors in memory: reading the store is not counted against it, only against ours.

UMAP's one-time numba compile is excluded: ``projection.warm_up(large=True)`` runs first (the
large-data path compiles the NN-descent the baseline uses above 4,096 points) and its time is
reported separately. Ratio = baseline seconds / ours.

    python bench/map_scale.py     # writes bench/results/map_scale.json, prints a table
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import projection  # noqa: E402
from infosynth_core.config import load_run_config  # noqa: E402
from infosynth_core.embed import DEFAULT_MODEL, Embedder, cache_key, text_hash  # noqa: E402
from infosynth_core.explore import run_map  # noqa: E402
from infosynth_core.problem import Origin, Problem  # noqa: E402
from infosynth_core.seeds import ensure_bundled_seed_set  # noqa: E402
from infosynth_core.store import Store  # noqa: E402

N_GENERATED = 20_000
N_NEW = 500
ALL = 1_000_000  # max_points large enough to show every point
RANDOM_STATE = 0
RUN_ID = "bench-map-scale"
OPERATORS = ("mutation-easy", "mutation-medium", "mutation-hard", "crossover")


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", " ".join(text.split()))


def synthetic(seeds, vectors, start: int, n: int, generation, rng, seen: set[str]):
    """``n`` problems (ids from ``start``) and their unit vectors, by text hash."""
    sents = [_sentences(sp.problem.problem) for sp in seeds]
    problems, cache = [], {}
    for i in range(start, start + n):
        while True:
            base, other = (int(j) for j in rng.integers(len(seeds), size=2))
            parts = list(sents[base])
            parts.insert(int(rng.integers(len(parts) + 1)), str(rng.choice(sents[other])))
            text = " ".join(parts)
            if text not in seen:
                break
        seen.add(text)
        seed = seeds[base].problem
        origin = Origin(
            operator=OPERATORS[i % len(OPERATORS)],
            parents=(seed.id,),
            generation=generation(i),
            colony=i % 10,
        )
        problems.append(
            Problem(
                id=f"gen-{i:05d}", problem=text, topics=seed.topics, origin=origin, status="passed"
            )
        )
        v = vectors[base] + 0.3 * vectors[other] + rng.normal(0.0, 0.02, vectors.shape[1])
        cache[text_hash(text)] = (v / np.linalg.norm(v)).astype(np.float32)
    return problems, cache


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    rng = np.random.default_rng(RANDOM_STATE)
    warm_s, _ = timed(lambda: projection.warm_up(large=True, background=False))
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.db")
        ensure_bundled_seed_set(store)
        seeds = store.problems(seed_set="bundled")
        embed_s, seed_vecs = timed(
            lambda: Embedder(DEFAULT_MODEL, store=store).encode(
                [sp.problem.problem for sp in seeds]
            )
        )
        cfg = load_run_config().to_dict()
        store.create_run(run_id=RUN_ID, seed_set="bundled", config=cfg, name="map at scale")
        seen = {sp.problem.problem for sp in seeds}
        per_gen = N_GENERATED // 10
        probs, cache = synthetic(
            seeds, seed_vecs, 0, N_GENERATED, lambda i: 1 + i // per_gen, rng, seen
        )
        store.embedding_cache_put(cache_key(DEFAULT_MODEL), cache)
        store.add_problems(RUN_ID, probs)
        all_vecs = np.vstack([seed_vecs, np.stack([cache[text_hash(p.problem)] for p in probs])])

        cases = []

        def case(label: str, max_points: int) -> None:
            s, df = timed(lambda: run_map(store, RUN_ID, max_points=max_points))
            cases.append(
                {
                    "case": label,
                    "max_points": max_points,
                    "points": len(df),
                    "total": df.attrs["total"],
                    "refitted": df.attrs["refitted"],
                    "seconds": round(s, 3),
                }
            )

        case("(a) first call: fit on seeds, place 20,000", ALL)
        case("(b) refresh, nothing new", ALL)
        case("(c) refresh, max_points = 5,000", 5_000)
        new, new_cache = synthetic(seeds, seed_vecs, N_GENERATED, N_NEW, lambda i: 11, rng, seen)
        store.embedding_cache_put(cache_key(DEFAULT_MODEL), new_cache)
        store.add_problems(RUN_ID, new)
        case("(d) refresh after 500 new problems (placed)", ALL)

        base_s, _ = timed(lambda: projection.MapLayout(random_state=RANDOM_STATE).fit(all_vecs))
    for c in cases:
        c["baseline_over_ours"] = round(base_s / c["seconds"], 1)
    result = {
        "cores": os.cpu_count(),
        "seeds": len(seeds),
        "generated": N_GENERATED,
        "added": N_NEW,
        "umap_warm_up_s": round(warm_s, 1),
        "seed_embedding_s": round(embed_s, 1),
        "baseline": {
            "case": f"UMAP 2-D refit on all {len(all_vecs):,} points",
            "seconds": round(base_s, 2),
        },
        "cases": cases,
    }
    out = ROOT / "bench" / "results" / "map_scale.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{len(seeds)} seeds + {N_GENERATED:,} generated problems, {os.cpu_count()} cores, "
        f"embeddings cached; UMAP compile (once per process, excluded) {warm_s:.1f} s\n"
    )
    print("| map call | points shown | s | baseline / ours |")
    print("|---|---|---|---|")
    print(f"| {result['baseline']['case']} (baseline) | {len(all_vecs):,} | {base_s:.2f} | 1.0× |")
    for c in cases:
        print(
            f"| {c['case']} | {c['points']:,} | {c['seconds']:.2f} | {c['baseline_over_ours']}× |"
        )


if __name__ == "__main__":
    main()
