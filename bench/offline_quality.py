"""Does k-farthest filtering make the offline engine's benchmark more novel and diverse?

The method's claim (InfoSynth, arXiv 2601.00575, §3): keeping the candidates least similar to
a colony's pool gives a more novel and more diverse benchmark. This bench runs the default
offline config twice on the bundled seeds, k-farthest **on** and **off**, same random state,
in one store, and compares the two benchmarks **at equal N** (the smaller one's size; the
larger is subsampled, several draws):

- novelty D(set‖seeds), k-NN KL divergence, nats (Wang, Kulkarni, Verdú 2009);
- diversity, Kozachenko–Leonenko entropy at N, nats;

both in one joint UMAP fit of seeds, "on" and "off" together (10-D, MiniLM sentence
embeddings), ``FITS`` fits × ``DRAWS`` subsamples. The rows are shuffled before each fit, so
no set sits in a fixed place of the stacked input (the joint fit reads the set stacked second
as more diverse: see the metrics issue). Intervals: 2.5–97.5 percentiles over fits × draws.

Also per run and operator: verified problems, median statement length (characters), the
share of kept candidates rejected as degenerate, and the mean mutation score of the tests.

    python bench/offline_quality.py      # writes bench/results/offline_quality.json
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import runner  # noqa: E402
from infosynth_core.config import load_run_config  # noqa: E402
from infosynth_core.embed import DEFAULT_MODEL, Embedder  # noqa: E402
from infosynth_core.metrics import differential_entropy, kl_divergence  # noqa: E402
from infosynth_core.projection import joint_umap  # noqa: E402
from infosynth_core.store import Store  # noqa: E402

FITS, DRAWS, K, DIM = 5, 4, 4, 10
RANDOM_STATE = 0


def _run(store: Store, k_farthest: bool) -> tuple[str, float]:
    config = load_run_config(
        overrides={
            "k_farthest": k_farthest,
            "random_state": RANDOM_STATE,
            "metrics": {"enabled": False},  # measured below, at equal N, in one joint fit
            "name": f"k-farthest {'on' if k_farthest else 'off'}",
        }
    )
    run = runner.create_run(store, config)
    start = time.perf_counter()
    runner.execute(store, run.id)
    return run.id, time.perf_counter() - start


def _per_operator(store: Store, run_id: str) -> dict[str, dict]:
    problems = [sp.problem for sp in store.problems(run_id=run_id)]
    bench = {sp.problem.id for sp in runner.benchmark_problems(store, run_id)}
    out = {}
    for op in sorted({p.origin.operator for p in problems}):
        mine = [p for p in problems if p.origin.operator == op]
        verified = [p for p in mine if p.id in bench]
        passed = [p for p in mine if p.status == "passed"]
        degenerate = [p for p in passed if p.metadata.get("degenerate")]
        scores = [
            p.metadata["mutation_score"]["score"]
            for p in verified
            if (p.metadata.get("mutation_score") or {}).get("score") is not None
        ]
        out[op] = {
            "kept": len(mine),
            "verified": len(verified),
            "median_chars": statistics.median(len(p.problem) for p in verified)
            if verified
            else None,
            "degenerate_share": len(degenerate) / len(passed) if passed else None,
            "mean_mutation_score": statistics.fmean(scores) if scores else None,
        }
    return out


def _interval(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {
        "mean": float(a.mean()),
        "low": float(np.percentile(a, 2.5)),
        "high": float(np.percentile(a, 97.5)),
        "n": len(a),
    }


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        on_id, on_s = _run(store, True)
        off_id, off_s = _run(store, False)
        seeds = store.seed_set_problems("bundled")
        on = [sp.problem for sp in runner.benchmark_problems(store, on_id)]
        off = [sp.problem for sp in runner.benchmark_problems(store, off_id)]
        embedder = Embedder(DEFAULT_MODEL, store=store)
        vec = {
            name: embedder.encode([p.problem for p in probs])
            for name, probs in (("seeds", seeds), ("on", on), ("off", off))
        }
        n = min(len(on), len(off))
        rng = np.random.default_rng(RANDOM_STATE)
        rows: dict[str, list[float]] = {
            "novelty_on": [],
            "novelty_off": [],
            "entropy_on": [],
            "entropy_off": [],
            "entropy_seeds": [],
        }
        for fit in range(FITS):
            for _ in range(DRAWS):
                parts = {
                    "seeds": vec["seeds"],
                    "on": vec["on"][rng.choice(len(on), n, replace=False)],
                    "off": vec["off"][rng.choice(len(off), n, replace=False)],
                }
                labels = np.concatenate([[name] * len(v) for name, v in parts.items()])
                stacked = np.vstack(list(parts.values()))
                order = rng.permutation(len(stacked))  # no set in a fixed place
                proj = joint_umap(
                    {"all": stacked[order]}, n_components=DIM, random_state=RANDOM_STATE + fit
                )["all"]
                placed = np.empty_like(proj)
                placed[order] = proj
                got = {name: placed[labels == name] for name in parts}
                seeds_n = got["seeds"][rng.choice(len(seeds), n, replace=False)]
                rows["novelty_on"].append(kl_divergence(got["on"], got["seeds"], K))
                rows["novelty_off"].append(kl_divergence(got["off"], got["seeds"], K))
                rows["entropy_on"].append(differential_entropy(got["on"], K))
                rows["entropy_off"].append(differential_entropy(got["off"], K))
                rows["entropy_seeds"].append(differential_entropy(seeds_n, K))
        result = {
            "config": "RunConfig defaults (3 generations, 3 colonies, 4 steps), bundled seeds",
            "random_state": RANDOM_STATE,
            "seconds": {"on": round(on_s, 1), "off": round(off_s, 1)},
            "verified": {"on": len(on), "off": len(off)},
            "matched_n": n,
            "fits": FITS,
            "draws": DRAWS,
            "dim": DIM,
            "k": K,
            "measures": {name: _interval(v) for name, v in rows.items()},
            "operators": {"on": _per_operator(store, on_id), "off": _per_operator(store, off_id)},
            "seed_median_chars": statistics.median(len(p.problem) for p in seeds),
        }
        store.close()
    out = ROOT / "bench" / "results" / "offline_quality.json"
    out.write_text(json.dumps(result, indent=2))
    _print(result)
    return result


def _fmt(e: dict) -> str:
    return f"{e['mean']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"


def _print(r: dict) -> None:
    m = r["measures"]
    print(
        f"k-farthest on: {r['verified']['on']} verified in {r['seconds']['on']} s; off: "
        f"{r['verified']['off']} in {r['seconds']['off']} s; compared at N = {r['matched_n']}, "
        f"{r['fits']} UMAP fits × {r['draws']} draws\n"
    )
    print("| k-farthest | novelty vs seeds (nats) | diversity at N (nats) |")
    print("|---|---|---|")
    print(f"| on | {_fmt(m['novelty_on'])} | {_fmt(m['entropy_on'])} |")
    print(f"| off | {_fmt(m['novelty_off'])} | {_fmt(m['entropy_off'])} |")
    print(f"| seeds (subsampled to N) | — | {_fmt(m['entropy_seeds'])} |\n")
    print("| run | operator | verified | median chars | degenerate share | mean mutation score |")
    print("|---|---|---|---|---|---|")
    for run in ("on", "off"):
        for op, row in r["operators"][run].items():
            med = "—" if row["median_chars"] is None else f"{row['median_chars']:.0f}"
            deg = "—" if row["degenerate_share"] is None else f"{row['degenerate_share']:.0%}"
            ms = "—" if row["mean_mutation_score"] is None else f"{row['mean_mutation_score']:.2f}"
            print(f"| {run} | {op} | {row['verified']} | {med} | {deg} | {ms} |")


if __name__ == "__main__":
    main()
