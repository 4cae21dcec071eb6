"""What the mutation score costs: verification alone vs verification + mutation score.

Same run, same machine, same sandbox (default workers, limits and coverage), the first 40
bundled seeds:

- baseline: verification, one sandbox run per problem (``Sandbox.run_problems``);
- InfoSynth: the same verification, then ``mutation_scores`` of the verified problems with
  the default cap (``DEFAULT_MAX_MUTANTS`` mutants per problem, batched, given the
  verification results as ``references``, as a loop that scores what it verified would);
- ``mutation_score`` called once per problem from a thread pool (as a loop that scores each
  problem when it passes would): one harness job per problem, so the fixed cost of a sandbox
  run is paid twice per problem;
- for reference, the plain way: one sandbox run per mutant (``batched=False``).

Ratio = (verification + mutation score) / verification, in wall time and in CPU time (this
process and every process under it: the sandbox workers and their children). The machine
these numbers come from is shared, so both are noisy; the default cap and the per-mutant
time limits are tuned so that the ratios stay <= 2.0. The two are timed ``REPEATS`` times,
interleaved; the table shows medians of the paired ratios.

    python bench/mutation_cost.py       # writes bench/results/mutation_cost.json, prints a table
    python bench/mutation_cost.py 8     # another cap, batched only (for tuning; writes nothing)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import load_bundled_seeds  # noqa: E402
from infosynth_core.mutants import (  # noqa: E402
    DEFAULT_MAX_MUTANTS,
    mutation_score,
    mutation_scores,
)
from infosynth_core.sandbox import Sandbox  # noqa: E402

N_PROBLEMS = 40
REPEATS = 5


def cpu_seconds() -> float:
    """CPU seconds used so far by this process (all threads) and every process under it
    (the sandbox workers and their children, living or reaped), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, used = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            parent[int(d)] = int(fields[1])
            used[int(d)] = sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime

    def below_me(pid: int) -> bool:
        for _ in range(64):
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
            if pid <= 1:
                return False
        return False

    return time.process_time() + sum(t for pid, t in used.items() if below_me(pid))


def timed(fn):
    """(wall seconds, CPU seconds, result) of fn()."""
    c, t = cpu_seconds(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t, cpu_seconds() - c, out


def score_each(problems, results, sb: Sandbox, max_mutants: int) -> list:
    """One ``mutation_score`` call per verified problem, a few at a time (as a loop that
    scores each problem when it passes would)."""

    def one(pair):
        p, r = pair
        return mutation_score(p.solution, p.tests, sb, max_mutants=max_mutants, reference=r)

    with ThreadPoolExecutor(max_workers=2 * sb.n_workers) as pool:
        return list(pool.map(one, zip(problems, results, strict=True)))


def main(max_mutants: int = DEFAULT_MAX_MUTANTS, *, write: bool = True) -> dict:
    problems = load_bundled_seeds().problems[:N_PROBLEMS]
    verify_s, mutation_s, verify_cpu, mutation_cpu = [], [], [], []
    with Sandbox() as sb:
        sb.run_problems(problems[:10])  # warm
        for _ in range(REPEATS):
            t, c, results = timed(lambda: sb.run_problems(problems))
            verify_s.append(t)
            verify_cpu.append(c)
            t, c, scores = timed(
                lambda r=results: mutation_scores(
                    problems, sb, max_mutants=max_mutants, references=r
                )
            )
            mutation_s.append(t)
            mutation_cpu.append(c)
        each_s, _, _ = timed(lambda: score_each(problems, results, sb, max_mutants))
        plain_s, _, plain = (
            timed(lambda: mutation_scores(problems, sb, max_mutants=max_mutants, batched=False))
            if write
            else (float("nan"), 0.0, scores)
        )
        workers, isolation = sb.n_workers, sb.isolation
    valued = [s for s in scores if s.score is not None]
    outcomes = [o for s in scores for o in s.outcomes.values()]
    agree = sum(
        (a.outcomes[k] == "passed") == (b.outcomes.get(k) == "passed")
        for a, b in zip(scores, plain, strict=True)
        for k in a.outcomes
    )
    ratios = [(v + m) / v for v, m in zip(verify_s, mutation_s, strict=True)]
    cpu_ratios = [(v + m) / v for v, m in zip(verify_cpu, mutation_cpu, strict=True)]
    v = statistics.median(verify_s)
    result = {
        "problems": len(problems),
        "passed_verification": sum(r.status == "passed" for r in results),
        "workers": workers,
        "isolation": isolation,
        "max_mutants": max_mutants,
        "verify_s": verify_s,
        "mutation_s": mutation_s,
        "per_problem_mutation_s": each_s,
        "per_problem_ratio": (v + each_s) / v,
        "plain_mutation_s": plain_s,
        "verify_cpu_s": verify_cpu,
        "mutation_cpu_s": mutation_cpu,
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "cpu_ratios": cpu_ratios,
        "cpu_ratio": statistics.median(cpu_ratios),
        "plain_ratio": (v + plain_s) / v,
        "mean_score": statistics.mean(s.score for s in valued),
        "scored_problems": len(valued),
        "mutants": len(outcomes),
        "mean_mutants": len(outcomes) / len(problems),
        "timeouts": outcomes.count("timeout"),
        "rerun_one_per_run": sum(
            int(n.split()[0]) for s in scores for n in s.notes if "one per sandbox run" in n
        ),
        "batched_vs_plain_agreement": agree / max(len(outcomes), 1),
    }
    if write:
        out = ROOT / "bench" / "results" / "mutation_cost.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
    m = statistics.median(mutation_s)
    print(
        f"{len(problems)} bundled seeds, {workers} workers, {isolation}, "
        f"{result['mutants']} mutants (cap {max_mutants}), median of {REPEATS}\n"
    )
    vc = statistics.median(verify_cpu)
    mc = statistics.median(mutation_cpu)
    print("| configuration | wall s | x verification | CPU s | x verification (CPU) |")
    print("|---|---|---|---|---|")
    print(f"| verification only (baseline) | {v:.2f} | 1.00 | {vc:.2f} | 1.00 |")
    print(
        f"| + mutation score, batched (InfoSynth) | {v + m:.2f} | {result['ratio']:.2f} | "
        f"{vc + mc:.2f} | {result['cpu_ratio']:.2f} |"
    )
    print(
        f"| + mutation score, one call per problem (one job each) | {v + each_s:.2f} | "
        f"{result['per_problem_ratio']:.2f} | | |"
    )
    print(
        f"| + mutation score, one sandbox run per mutant | {v + plain_s:.2f} | "
        f"{result['plain_ratio']:.2f} | | |"
    )
    print(
        f"\nmean mutation score {result['mean_score']:.3f} over {len(valued)} problems; "
        f"batched and one-run-per-mutant kill the same mutants on "
        f"{100 * result['batched_vs_plain_agreement']:.1f}% of them."
    )
    print(
        f"\n{result['timeouts']} mutants ended as timeouts; "
        f"{result['rerun_one_per_run']} were re-run one per sandbox run."
    )
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(int(sys.argv[1]), write=False)
    else:
        main()
