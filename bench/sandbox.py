"""Sandbox throughput on MBPP: the isolated warm pool vs a fresh interpreter per problem.

Same run, same machine, same problems, both cores busy in every configuration:

- baseline: for each problem a new `python -I` process imports the solution and calls the
  test functions (the usual harness shape, human-eval style; no isolation at all), two at a
  time;
- InfoSynth pool, process-level isolation (same pool, no kernel sandbox);
- InfoSynth pool, bubblewrap (kernel isolation) — with and without line coverage.

The isolation overhead is bubblewrap vs process level. MBPP task 123 alone takes ~3 s, so a
second figure leaves it out (it bounds the wall time of the whole run on one core).

    python bench/sandbox.py        # writes bench/results/sandbox.json, prints a table
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import load_problems  # noqa: E402
from infosynth_core.sandbox import Limits, Sandbox, detect_isolation  # noqa: E402
from infosynth_core.sandbox.pool import collect_tests  # noqa: E402

MBPP = ROOT.parent / "shared" / "datasets" / "mbpp.jsonl"
SLOW = {"mbpp-123"}
RUNNER = (
    "import importlib, sys\n"
    "sys.path.insert(0, '.')\n"
    "importlib.import_module('solution')\n"
    "t = importlib.import_module('test_solution')\n"
    "bad = 0\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        getattr(t, name)()\n"
    "    except BaseException:\n"
    "        bad += 1\n"
    "sys.exit(1 if bad else 0)\n"
)


def baseline_one(problem) -> bool:
    names, _, _ = collect_tests(problem.tests)
    with tempfile.TemporaryDirectory() as d:
        Path(d, "solution.py").write_text(problem.solution)
        Path(d, "test_solution.py").write_text(problem.tests)
        r = subprocess.run(
            [sys.executable, "-I", "-c", RUNNER, *names], cwd=d, capture_output=True, timeout=60
        )
        return r.returncode == 0


def time_baseline(problems) -> tuple[float, int]:
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        ok = sum(pool.map(baseline_one, problems))
    return time.perf_counter() - t, ok


def time_pool(problems, isolation: str, coverage: bool) -> tuple[float, int]:
    with Sandbox(limits=Limits(timeout_s=60), isolation=isolation, coverage=coverage) as sb:
        sb.run_problems(problems[:10])  # warm
        t = time.perf_counter()
        res = sb.run_problems(problems)
        return time.perf_counter() - t, sum(r.status == "passed" for r in res)


def main() -> None:
    if not MBPP.exists():
        sys.exit(f"needs {MBPP} (the reference datasets)")
    problems = load_problems(MBPP).problems
    fast = [p for p in problems if p.id not in SLOW]
    configs = [("fresh interpreter per problem (baseline)", lambda ps: time_baseline(ps))]
    configs.append(("pool, process-level isolation", lambda ps: time_pool(ps, "process", False)))
    if detect_isolation() == "bubblewrap":
        configs.append(("pool, bubblewrap", lambda ps: time_pool(ps, "bubblewrap", False)))
        configs.append(
            ("pool, bubblewrap + coverage", lambda ps: time_pool(ps, "bubblewrap", True))
        )
    rows = []
    for label, fn in configs:
        t_all, ok_all = fn(problems)
        t_fast, ok_fast = fn(fast)
        rows.append(
            {
                "config": label,
                "all_s": round(t_all, 2),
                "all_per_s": round(len(problems) / t_all),
                "passed": ok_all,
                "fast_per_s": round(len(fast) / t_fast),
                "fast_passed": ok_fast,
            }
        )
    base = rows[0]
    for r in rows:
        r["speedup_vs_baseline"] = round(base["all_s"] / r["all_s"], 2)
        r["fast_speedup_vs_baseline"] = round(r["fast_per_s"] / base["fast_per_s"], 2)
    out = ROOT / "bench" / "results" / "sandbox.json"
    out.write_text(
        json.dumps({"cores": os.cpu_count(), "problems": len(problems), "rows": rows}, indent=2)
        + "\n"
    )
    print(f"MBPP, {len(problems)} problems, {os.cpu_count()} cores")
    print(
        "| configuration | all 974: s | problems/s | passed | without mbpp-123: problems/s | vs baseline |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['all_s']} | {r['all_per_s']} | {r['passed']} | {r['fast_per_s']} | "
            f"{r['speedup_vs_baseline']}× |"
        )


if __name__ == "__main__":
    main()
