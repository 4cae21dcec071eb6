"""Validation of the novelty metric (InfoSynth paper, §3.2).

Reference: all 2,588 LeetCode problems (../shared/datasets/leetcode.jsonl). Candidates: the
Hash Table, Graph and String subsets of that same set (drawn from the reference, so they
should come out *less* novel), and HumanEval and MBPP (other sources, so *more* novel). Each
candidate is measured against the whole set in its own joint UMAP (d = 10, k = 4), over
several seeds; diversity is at the matched size.

    python bench/novelty_validation.py [--runs 3]   # writes bench/results/novelty_validation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import Store, load_problems  # noqa: E402
from infosynth_core.embed import Embedder  # noqa: E402
from infosynth_core.projection import measure, warm_up  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--draws", type=int, default=20)
    args = ap.parse_args()
    if not (DATA / "leetcode.jsonl").exists():
        sys.exit(f"needs {DATA} (the reference datasets)")
    warm_up()
    leet = load_problems(DATA / "leetcode.jsonl").problems
    candidates = {
        f"LeetCode {t} subset": [p for p in leet if t in p.topics]
        for t in ("Hash Table", "Graph", "String")
    }
    candidates["HumanEval"] = load_problems(DATA / "humaneval.jsonl").problems
    candidates["MBPP"] = load_problems(DATA / "mbpp.jsonl").problems
    emb = Embedder(store=Store(Path(tempfile.gettempdir()) / "infosynth-bench-embeddings.db"))
    e_leet = emb.encode([p.problem for p in leet])
    rows = []
    for name, probs in candidates.items():
        m = measure(
            e_leet, emb.encode([p.problem for p in probs]), runs=args.runs, draws=args.draws
        )
        rows.append({"candidate": name, "n": len(probs), **m.to_dict()})
        print(
            f"{name}: n={len(probs)} novelty {m.novelty.mean:.3f} [{m.novelty.low:.3f}, {m.novelty.high:.3f}]",
            flush=True,
        )
    (ROOT / "bench" / "results" / "novelty_validation.json").write_text(
        json.dumps(rows, indent=2) + "\n"
    )
    print(
        "\n| candidate (vs all 2,588 LeetCode problems) | n | novelty D (nats) | 95% interval | diversity candidate @N | diversity LeetCode @N |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        nv, dc, dr = r["novelty"], r["diversity"]["candidate"], r["diversity"]["reference"]
        print(
            f"| {r['candidate']} | {r['n']} | {nv['mean']:.2f} | [{nv['low']:.2f}, {nv['high']:.2f}] | "
            f"{dc['mean']:.2f} | {dr['mean']:.2f} |"
        )


if __name__ == "__main__":
    main()
