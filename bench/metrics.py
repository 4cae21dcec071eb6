"""Metric speed: KL + entropy at N = M = 50,000 in d = 10, embedding throughput, UMAP times.

Estimators (same run, same data, rounds interleaved, best of each): the textbook scipy
baseline (one ``cKDTree.query(k=k+1)`` per neighbour search, one core, all k columns)
against ``novelty_and_diversity`` (one index per set, three shared searches, all cores;
blocked engine at this size) and, for reference, the separate ``kl_divergence`` +
``differential_entropy`` pair and the shared function held to its cKDTree engine. All give
KL(Y‖X) and H(X) equal to 1e-9 (checked). Wall and CPU seconds are both recorded, with the
load average; ratios are given from the median and from the best round (the machine may be
shared, so wall ratios move with the load).

``umap_compile``: a small UMAP fit + transform (as ``projection.warm_up``), a 10-D joint fit
(as ``projection.joint_umap``) and the metrics kernel's first call, each in a fresh process,
first with an empty ``NUMBA_CACHE_DIR`` and then again with the cache the first one wrote.

    python bench/metrics.py [--quick] [--parts estimators,umap_compile,embedding,umap]

Writes (merges the measured parts into) bench/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import metrics  # noqa: E402
from infosynth_core.metrics import (  # noqa: E402
    differential_entropy,
    kl_divergence,
    novelty_and_diversity,
)

PARTS = ("estimators", "umap_compile", "embedding", "umap")


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


def shared_ckdtree(Y, X):
    """novelty_and_diversity held to its cKDTree engine (ordered queries, all cores)."""
    saved = metrics._BLOCKED_MIN_POINTS
    metrics._BLOCKED_MIN_POINTS = 10**18
    try:
        return novelty_and_diversity(Y, X)
    finally:
        metrics._BLOCKED_MIN_POINTS = saved


def estimators(rounds: int) -> dict:
    rng = np.random.default_rng(0)
    Y, X = rng.standard_normal((50_000, 10)), rng.standard_normal((50_000, 10)) + 0.1
    t = time.perf_counter()
    metrics._compiled_kernel()
    novelty_and_diversity(Y[:11_000], X[:11_000])  # compile or load the kernel, untimed below
    first_call = time.perf_counter() - t
    cands = {
        "baseline": lambda: baseline_kl_entropy(Y, X),
        "shared": lambda: novelty_and_diversity(Y, X),
        "separate_pair": lambda: (kl_divergence(Y, X), differential_entropy(X)),
        "shared_ckdtree": lambda: shared_ckdtree(Y, X),
    }
    wall = {name: [] for name in cands}
    cpu = {name: [] for name in cands}
    values = {}
    load_before = os.getloadavg()[0]
    for r in range(rounds):
        for name, fn in cands.items():
            t, c = time.perf_counter(), time.process_time()
            out = fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            values[name] = (out[0], out[-1])  # KL(Y||X), H(X)
            print(f"  round {r}: {name} {wall[name][-1]:.2f} s", flush=True)
    kl_b, h_b = values["baseline"]
    for name, (kl, h) in values.items():
        assert abs(kl - kl_b) < 1e-9 and abs(h - h_b) < 1e-9, (name, kl, kl_b, h, h_b)
    best = {name: min(v) for name, v in wall.items()}
    med = {name: float(np.median(v)) for name, v in wall.items()}
    best_cpu = {name: min(v) for name, v in cpu.items()}
    kl_s, h_y, h_x = novelty_and_diversity(Y, X)

    def ratios(table):
        return {
            name: round(table["baseline"] / table[name], 2) for name in cands if name != "baseline"
        }

    res = {
        "n": 50_000,
        "m": 50_000,
        "d": 10,
        "k": 4,
        "cores": len(os.sched_getaffinity(0)),
        "load_avg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "rounds": rounds,
        "wall_s_all": {k: [round(x, 2) for x in v] for k, v in wall.items()},
        "cpu_s_best": {k: round(v, 2) for k, v in best_cpu.items()},
        "speedup_vs_baseline_median": ratios(med),
        "speedup_vs_baseline_best": ratios(best),
        "cpu_ratio_vs_baseline": ratios(best_cpu),
        "kernel_first_call_s": round(first_call, 2),
        "kl": kl_s,
        "entropy_y": h_y,
        "entropy_x": h_x,
        "agree_1e-9": True,
    }
    print(
        f"KL + H(Y) + H(X), N=M=50,000, d=10, k=4, {rounds} rounds, load "
        f"{res['load_avg_1min']}: median wall s { ({k: round(v, 2) for k, v in med.items()}) }; "
        f"speedup vs baseline median {res['speedup_vs_baseline_median']}, best "
        f"{res['speedup_vs_baseline_best']}, CPU {res['cpu_ratio_vs_baseline']}"
    )
    return res


_COMPILE_PROBE = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import numpy as np
import infosynth_core
from infosynth_core import metrics
from infosynth_core.projection import _umap, joint_umap
import umap
out = {"import_s": time.perf_counter() - t0}
rng = np.random.default_rng(0)
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = _umap(60, n_components=2, n_neighbors=10, min_dist=0.1, metric="cosine", random_state=0)
    model.fit(rng.standard_normal((60, 8)))
    model.transform(rng.standard_normal((5, 8)))
out["small_fit_transform_s"] = time.perf_counter() - t
t = time.perf_counter()
joint_umap({"a": rng.standard_normal((150, 32)), "b": rng.standard_normal((150, 32))})
out["joint_fit_10d_s"] = time.perf_counter() - t
t = time.perf_counter()
metrics._BLOCKED_MIN_POINTS = 0
metrics.novelty_and_diversity(rng.standard_normal((300, 10)), rng.standard_normal((300, 10)))
out["metrics_kernel_s"] = time.perf_counter() - t
out["total_s"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def umap_compile() -> dict:
    with tempfile.TemporaryDirectory(prefix="infosynth-numba-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = {}
        for label in ("cold", "warm"):
            proc = subprocess.run(
                [sys.executable, "-c", _COMPILE_PROBE],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[label] = {k: round(v, 2) for k, v in json.loads(proc.stdout).items()}
            print(f"  {label} cache: {runs[label]}", flush=True)
        files = sum(len(f) for _, _, f in os.walk(cache))
    cold, warm = runs["cold"], runs["warm"]
    res = {
        "cold": cold,
        "warm": warm,
        "cache_files": files,
        "saved_s": round(cold["total_s"] - warm["total_s"], 2),
        "ratio_total": round(cold["total_s"] / warm["total_s"], 2),
        "ratio_umap_work": round(
            (cold["small_fit_transform_s"] + cold["joint_fit_10d_s"])
            / (warm["small_fit_transform_s"] + warm["joint_fit_10d_s"]),
            2,
        ),
        "load_avg_1min": round(os.getloadavg()[0], 1),
    }
    print(
        f"UMAP + metrics first use in a fresh process: empty numba cache {cold['total_s']:.1f} s, "
        f"warm cache {warm['total_s']:.1f} s ({res['ratio_total']}x, {res['saved_s']:.1f} s saved)"
    )
    return res


def embedding() -> dict:
    from infosynth_core import load_bundled_seeds
    from infosynth_core.embed import Embedder

    texts = [p.problem for p in load_bundled_seeds().problems] * 3
    texts = [f"{t} (copy {i})" for i, t in enumerate(texts)]  # distinct: nothing cached
    emb = Embedder()
    emb.encode(texts[:8])  # load the model
    t_emb, _ = timed(lambda: emb.encode(texts), repeat=1)
    print(
        f"embedding: {len(texts)} statements in {t_emb:.1f} s ({len(texts) / t_emb:.0f}/s, MiniLM, CPU)"
    )
    return {
        "texts": len(texts),
        "seconds": round(t_emb, 2),
        "texts_per_s": round(len(texts) / t_emb),
    }


def umap_sizes(quick: bool) -> tuple[float, list]:
    from infosynth_core.projection import joint_umap, warm_up

    t_jit, _ = timed(lambda: warm_up(large=True, background=False), repeat=1)
    print(f"UMAP first-use compile, small and large-data paths (once per process): {t_jit:.1f} s")
    import umap

    rng = np.random.default_rng(0)
    rows = []
    for n in (1_000, 5_000) if quick else (1_000, 5_000, 20_000):
        centers = rng.standard_normal((20, 384))
        data = (centers[rng.integers(0, 20, n)] + 0.8 * rng.standard_normal((n, 384))).astype(
            np.float32
        )
        t_fit, _ = timed(
            lambda data=data: joint_umap({"x": data}, n_components=10, random_state=0), repeat=1
        )
        model = umap.UMAP(n_components=2, n_neighbors=30, metric="cosine", random_state=0).fit(data)
        t_tr, _ = timed(lambda model=model, data=data: model.transform(data[:200]), repeat=1)
        rows.append({"n": n, "fit_10d_s": round(t_fit, 1), "transform_200_s": round(t_tr, 2)})
        print(f"UMAP n={n}: 10-D fit {t_fit:.1f} s; 2-D transform of 200 new points {t_tr:.2f} s")
    return round(t_jit, 1), rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller UMAP sizes, 3 estimator rounds")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    path = ROOT / "bench" / "results" / "metrics.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    if "estimators" in parts:
        res["estimators_50k_d10"] = estimators(rounds=3 if args.quick else 5)
    if "umap_compile" in parts:
        res["umap_compile"] = umap_compile()
    if "embedding" in parts:
        res["embedding"] = embedding()
    if "umap" in parts:
        res["umap_jit_s"], res["umap"] = umap_sizes(args.quick)
    path.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
