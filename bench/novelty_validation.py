"""Validation of the novelty and diversity measures (InfoSynth paper, §3.2), with a
random-subset control.

Reference: LeetCode (../shared/datasets/leetcode.jsonl, 2,588 problems with topic tags).

- Topic rows: the problems of one topic (Hash Table, Graph, String) against the *other*
  LeetCode problems, with :func:`infosynth_core.sanity.topic_check`: in the same joint UMAP
  fits, random subsets of the other problems of the same N are the control. A topic subset
  should be more novel and less diverse than the control (excess > 0 and < 0).
- Other sources (HumanEval, MBPP) against all of LeetCode, with
  :func:`infosynth_core.calibrated.calibrated_measure`: the control is held-out random
  LeetCode subsets of the same N. Other sources should be far more novel.

At most 500 candidates and 1,000 reference problems enter each fit (random subsets), so
every row is at N <= 500.

    python bench/novelty_validation.py [--fits 5] [--draws 10] [--readme]
    # writes bench/results/novelty_validation.json; --readme rewrites the README table
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import Store, load_problems  # noqa: E402
from infosynth_core.calibrated import calibrated_measure  # noqa: E402
from infosynth_core.embed import Embedder  # noqa: E402
from infosynth_core.sanity import topic_check  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
START, END = "<!-- novelty_validation:start -->", "<!-- novelty_validation:end -->"


def _iv(est: dict) -> str:
    if est.get("low") is None:
        return f"{est['mean']:+.2f}"
    return f"{est['mean']:+.2f} [{est['low']:+.2f}, {est['high']:+.2f}]"


def table(rows: list[dict]) -> str:
    out = [
        "| candidate | against | N | novelty | novelty of random LeetCode subsets (control) "
        "| novelty excess [95%] | diversity excess [95%] | as expected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['candidate']} | {r['against']} | {r['n']} | {r['novelty']['mean']:+.2f} "
            f"| {r['novelty_control']['mean']:+.2f} | {_iv(r['novelty_excess'])} "
            f"| {_iv(r['diversity_excess'])} | {'yes' if r['as_expected'] else 'no'} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=5)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--readme", action="store_true", help="rewrite the README table")
    args = ap.parse_args()
    if not (DATA / "leetcode.jsonl").exists():
        sys.exit(f"needs {DATA} (the reference datasets)")
    started = time.time()
    leet = load_problems(DATA / "leetcode.jsonl").problems
    emb = Embedder(store=Store(Path(tempfile.gettempdir()) / "infosynth-bench-embeddings.db"))
    rows = []
    for topic in ("Hash Table", "Graph", "String"):
        r = topic_check(leet, topic, embed=emb.encode, fits=args.fits, draws=args.draws)
        rows.append(
            {
                "candidate": f"LeetCode {topic} ({r.n_topic})",
                "against": f"the other {r.n_rest} LeetCode problems",
                "n": r.n,
                "novelty": r.novelty,
                "novelty_control": r.novelty_control,
                "novelty_excess": r.novelty_excess,
                "diversity_excess": r.diversity_excess,
                "as_expected": r.passed,
            }
        )
        print(r.verdict, flush=True)
    e_leet = emb.encode([p.problem for p in leet])
    for name, file in (("HumanEval", "humaneval.jsonl"), ("MBPP", "mbpp.jsonl")):
        probs = load_problems(DATA / file).problems
        c = calibrated_measure(
            e_leet, emb.encode([p.problem for p in probs]), fits=args.fits, draws=args.draws
        )["all"]
        rows.append(
            {
                "candidate": f"{name} ({len(probs)})",
                "against": f"all {len(leet)} LeetCode problems",
                "n": c.n,
                "novelty": c.novelty,
                "novelty_control": c.novelty_null,
                "novelty_excess": c.novelty_excess,
                "diversity_excess": c.diversity_excess,
                "as_expected": c.novelty_excess["low"] > 0,
            }
        )
        print(name, _iv(c.novelty_excess), flush=True)
    result = {
        "fits": args.fits,
        "draws": args.draws,
        "seconds": round(time.time() - started, 1),
        "rows": rows,
    }
    (ROOT / "bench" / "results" / "novelty_validation.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    text = table(rows)
    print(text)
    if args.readme:
        readme = ROOT / "README.md"
        body = readme.read_text(encoding="utf-8")
        block = f"{START}\n{text}\n{END}"
        new, n = re.subn(re.escape(START) + r".*?" + re.escape(END), block, body, flags=re.S)
        if n != 1:
            sys.exit(f"README.md has no {START} ... {END} block")
        readme.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
