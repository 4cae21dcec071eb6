"""Import throughput: InfoSynth's validated, single-transaction import vs a naive baseline.

Baseline (same run, same machine): parse the JSONL with json.loads and INSERT each record in
its own autocommit transaction into an equivalent WAL table, no validation. That is how a
quick script usually writes a dataset to SQLite; ours validates every record and writes the
whole import in one transaction (all or nothing).

    python bench/import_store.py [--n 20000] [--repeat 3]

Writes bench/results/import_store.json and prints a Markdown table row per dataset.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import Store, import_seed_file  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"


def synthetic(path: Path, n: int) -> Path:
    with path.open("w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {
                        "id": f"s{i}",
                        "problem": f"Return the {i}-th triangular number. " * 4,
                        "solution": f"def tri_{i}(n: int) -> int:\n    return n * (n + 1) // 2\n",
                        "tests": f"from solution import tri_{i}\n\n\ndef test_a():\n    assert tri_{i}(3) == 6\n",
                        "entry_point": f"tri_{i}",
                        "topics": ["Math"],
                        "difficulty": "easy",
                    }
                )
                + "\n"
            )
    return path


def baseline(path: Path, db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE p (id TEXT, problem TEXT, solution TEXT, tests TEXT, rec TEXT)")
    for line in path.read_text().splitlines():
        r = json.loads(line)
        conn.execute(
            "INSERT INTO p VALUES (?, ?, ?, ?, ?)",
            (
                str(r.get("id", r.get("task_id"))),
                r.get("problem", r.get("text")),
                r.get("solution", r.get("code")),
                r.get("tests"),
                line,
            ),
        )
    conn.close()


def ours(path: Path, db: Path) -> None:
    store = Store(db)
    import_seed_file(store, path, name="bench")
    store.close()


def timeit(fn, path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            fn(path, Path(d) / "x.db")
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        cases = [("synthetic canonical", synthetic(Path(d) / "syn.jsonl", args.n))]
        if (DATASETS / "mbpp.jsonl").exists():
            cases.append(("MBPP (974)", DATASETS / "mbpp.jsonl"))
        for name, path in cases:
            n = sum(1 for _ in path.open())
            t_base = timeit(baseline, path, args.repeat)
            t_ours = timeit(ours, path, args.repeat)
            rows.append(
                {
                    "dataset": name,
                    "records": n,
                    "baseline_s": round(t_base, 3),
                    "infosynth_s": round(t_ours, 3),
                    "speedup": round(t_base / t_ours, 2),
                    "infosynth_records_per_s": round(n / t_ours),
                }
            )
    out = ROOT / "bench" / "results" / "import_store.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "| dataset | records | row-by-row baseline (s) | InfoSynth import (s) | speed-up | records/s |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['records']:,} | {r['baseline_s']} | {r['infosynth_s']} | "
            f"{r['speedup']}× | {r['infosynth_records_per_s']:,} |"
        )


if __name__ == "__main__":
    main()
