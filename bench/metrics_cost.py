"""What one generation's metrics cost as a run grows (issue: bounded cost by design).

``evolve_records.measure_vectors`` with the default metrics settings (10 UMAP fits x 10 draws,
d = 10, k = 4, at most 500 generated and 1,000 seed problems per fit) on the 164 bundled
seeds and 500 / 5,000 / 50,000 generated problems. The generated vectors are the seeds'
embeddings plus noise, renormalised (so the benchmark does not spend hours embedding); the
cost depends on the sizes only. The first call compiles UMAP and is timed separately.

    python bench/metrics_cost.py        # writes bench/results/metrics_cost.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import Store, load_bundled_seeds  # noqa: E402
from infosynth_core.config import MetricsConfig  # noqa: E402
from infosynth_core.embed import Embedder  # noqa: E402
from infosynth_core.evolve_records import measure_vectors  # noqa: E402


def main() -> None:
    seeds = load_bundled_seeds().problems
    emb = Embedder(store=Store(Path(tempfile.gettempdir()) / "infosynth-bench-embeddings.db"))
    ref = emb.encode([p.problem for p in seeds])
    rng = np.random.default_rng(0)
    cfg = MetricsConfig()
    t = time.perf_counter()
    measure_vectors(ref, ref[:50] + 0.01, {"all": list(range(50))}, MetricsConfig(runs=1), 0)
    compile_s = time.perf_counter() - t
    rows = []
    for n in (500, 5_000, 50_000):
        base = ref[rng.integers(0, len(ref), n)]
        cand = base + rng.normal(0, 0.03, base.shape).astype(np.float32)
        cand /= np.linalg.norm(cand, axis=1, keepdims=True)
        groups = {"all": list(range(n)), "generation": list(range(n // 2, n))}
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        m = measure_vectors(ref, cand, groups, cfg, 0)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        rows.append(
            {
                "generated": n,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "load_1min": round(load, 2),
                "calibrated_n": m["calibrated"]["all"]["n"],
            }
        )
        print(rows[-1], flush=True)
    out = {
        "seeds": len(ref),
        "fits": cfg.runs,
        "draws": cfg.draws,
        "max_n": cfg.max_n,
        "cores": os.cpu_count(),
        "compile_s": round(compile_s, 1),
        "rows": rows,
    }
    (ROOT / "bench" / "results" / "metrics_cost.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
