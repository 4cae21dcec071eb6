"""Metric speed: KL + entropy at N = M = 50,000 in d = 10, embedding throughput, UMAP times.

Baseline for the estimators (same run, same data): the textbook scipy implementation, one
``cKDTree.query(k=k+1)`` per neighbour search on one core, returning all k columns. Ours
(``infosynth_core.metrics``) asks cKDTree only for the k-th column on all cores. Both are
exact; the script checks they agree to 1e-9.

    python bench/metrics.py [--quick]    # writes bench/results/metrics.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core.metrics import differential_entropy, kl_divergence  # noqa: E402


def baseline_kl_entropy(Y, X, k=4):
    n, d = Y.shape
    m = X.shape[0]
    rho = cKDTree(Y).query(Y, k=k + 1)[0][:, k]
    nu = cKDTree(X).query(Y, k=k)[0][:, k - 1]
    kl = d * np.mean(np.log(nu / rho)) + math.log(m / (n - 1))
    eps = cKDTree(X).query(X, k=k + 1)[0][:, k]
    logv = 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1)
    h = digamma(len(X)) - digamma(k) + logv + d * np.mean(np.log(eps))
    return kl, h


def timed(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller UMAP sizes")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    res = {}
    Y, X = rng.standard_normal((50_000, 10)), rng.standard_normal((50_000, 10)) + 0.1
    t_base, (kl_b, h_b) = timed(lambda: baseline_kl_entropy(Y, X))
    t_ours, (kl_o, h_o) = timed(lambda: (kl_divergence(Y, X), differential_entropy(X)))
    assert abs(kl_b - kl_o) < 1e-9 and abs(h_b - h_o) < 1e-9, (kl_b, kl_o, h_b, h_o)
    res["estimators_50k_d10"] = {
        "baseline_s": round(t_base, 2),
        "infosynth_s": round(t_ours, 2),
        "speedup": round(t_base / t_ours, 2),
        "kl": kl_o,
        "entropy": h_o,
    }
    print(
        f"KL + entropy, N=M=50,000, d=10, k=4: baseline {t_base:.2f} s, InfoSynth {t_ours:.2f} s "
        f"({t_base / t_ours:.2f}x), identical values"
    )

    from infosynth_core import load_bundled_seeds
    from infosynth_core.embed import Embedder

    texts = [p.problem for p in load_bundled_seeds().problems] * 3
    texts = [f"{t} (copy {i})" for i, t in enumerate(texts)]  # distinct: nothing cached
    emb = Embedder()
    emb.encode(texts[:8])  # load the model
    t_emb, _ = timed(lambda: emb.encode(texts), repeat=1)
    res["embedding"] = {
        "texts": len(texts),
        "seconds": round(t_emb, 2),
        "texts_per_s": round(len(texts) / t_emb),
    }
    print(
        f"embedding: {len(texts)} statements in {t_emb:.1f} s ({len(texts) / t_emb:.0f}/s, MiniLM, CPU)"
    )

    from infosynth_core.projection import joint_umap, warm_up

    t_jit, _ = timed(lambda: warm_up(large=True, background=False), repeat=1)
    res["umap_jit_s"] = round(t_jit, 1)
    print(f"UMAP first-use compile, small and large-data paths (once per process): {t_jit:.1f} s")
    import umap

    res["umap"] = []
    sizes = (1_000, 5_000) if args.quick else (1_000, 5_000, 20_000)
    for n in sizes:
        centers = rng.standard_normal((20, 384))
        data = (centers[rng.integers(0, 20, n)] + 0.8 * rng.standard_normal((n, 384))).astype(
            np.float32
        )
        t_fit, _ = timed(
            lambda data=data: joint_umap({"x": data}, n_components=10, random_state=0), repeat=1
        )
        model = umap.UMAP(n_components=2, n_neighbors=30, metric="cosine", random_state=0).fit(data)
        t_tr, _ = timed(lambda model=model, data=data: model.transform(data[:200]), repeat=1)
        res["umap"].append(
            {"n": n, "fit_10d_s": round(t_fit, 1), "transform_200_s": round(t_tr, 2)}
        )
        print(f"UMAP n={n}: 10-D fit {t_fit:.1f} s; 2-D transform of 200 new points {t_tr:.2f} s")
    (ROOT / "bench" / "results" / "metrics.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
