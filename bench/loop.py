"""Genetic-loop throughput against a local OpenAI-compatible server with a fixed latency.

The whole loop runs (LLM engine through the real ``openai`` client, k-farthest with sentence
embeddings, MinHash dedup, verification in the sandbox, every step written to SQLite) against
``tests/openai_server.py`` (in its own process, as a real endpoint would be) answering with the
scripted model after ``L`` seconds per request.
Same run, same machine, three configurations:

- **sequential**: concurrency 1 (one request at a time, the shape of a simple script);
- **concurrent**: concurrency ``c``;
- **ideal**: ``c / L`` requests per second, the most any client can get from this server.

Problems per minute = verified problems / wall time. The window is from the first request
to the last answer (process start-up, model loading and sandbox start are excluded, as they
do not grow with the run). Efficiency = achieved requests per second / (c / L).

    python bench/loop.py          # writes bench/results/loop.json, prints a table
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from openai_server import FakeOpenAIServer  # noqa: E402
from scripted_llm import ScriptedLLM  # noqa: E402

from infosynth_core import runner  # noqa: E402
from infosynth_core.config import load_run_config  # noqa: E402
from infosynth_core.store import Store  # noqa: E402

LATENCY_S = 0.5  # the L
CONCURRENCY = (8, 16, 32)
BOUND_CONCURRENCY = 32  # the CPU bound: this many requests in flight, answered at once


def _serve(conn, latency_s: float) -> None:
    """The scripted server in its own process (as a real endpoint would be): sends its URL,
    serves until told to stop, then sends what it saw."""
    with FakeOpenAIServer(ScriptedLLM(), latency_s=latency_s) as server:
        conn.send(server.base_url)
        conn.recv()
        conn.send(
            {
                "requests": len(server.requests),
                "times": sorted(server.request_times),
                "max_in_flight": server.max_in_flight,
            }
        )


def one(
    concurrency: int,
    *,
    colonies: int,
    generations: int,
    steps: int,
    latency_s: float = LATENCY_S,
) -> dict:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(child, latency_s), daemon=True)
    proc.start()
    base_url = parent.recv()
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.db")
        cfg = load_run_config(
            overrides={
                "engine": "llm",
                "llm": {
                    "base_url": base_url,
                    "model": "scripted",
                    "api_key_env": "BENCH_NO_KEY",
                    "concurrency": concurrency,
                },
                "generations": generations,
                "colonies": colonies,
                "seeds_per_colony": 10,
                "steps_per_generation": steps,
                "feedback_rounds": 2,
                "metrics": {"enabled": False},
            }
        )
        run = runner.create_run(store, cfg)
        t0 = time.monotonic()
        c0 = time.process_time()
        status = runner.execute(store, run.id)
        total_wall = time.monotonic() - t0
        runner_cpu = time.process_time() - c0
        loop_stalls = (store.get_run(run.id).state or {}).get("loop", {})
        parent.send("stop")
        seen = parent.recv()
        proc.join(10)
        times = seen["times"]
        window = times[-1] - times[0] + latency_s
        verified = len(runner.benchmark_problems(store, run.id))
        n = seen["requests"]
        return {
            "status": status,
            "concurrency": concurrency,
            "requests": n,
            "verified": verified,
            "window_s": window,
            "total_wall_s": total_wall,
            "requests_per_s": n / window,
            "problems_per_min": 60.0 * verified / window,
            "requests_per_problem": n / verified if verified else None,
            "max_in_flight": seen["max_in_flight"],
            "runner_cpu_s": runner_cpu,
            "loop": loop_stalls,
        }


def main() -> None:
    seq = one(1, colonies=2, generations=1, steps=2)
    # The CPU bound: the same loop against a server that answers at once, with more requests
    # in flight than the loop can use. What it reaches is what the two cores allow for
    # embedding, verification and the rest of the loop (and the scripted server, which shares
    # them here; a real endpoint would not).
    bound = one(
        BOUND_CONCURRENCY, colonies=4 * BOUND_CONCURRENCY, generations=2, steps=4, latency_s=0.0
    )
    cpu_rps = bound["requests_per_s"]
    rows = []
    for c in CONCURRENCY:
        con = one(c, colonies=4 * c, generations=2, steps=4)
        ideal_rps = c / LATENCY_S
        reachable = min(ideal_rps, cpu_rps)
        rows.append(
            {
                **con,
                "ideal_requests_per_s": ideal_rps,
                "reachable_requests_per_s": reachable,
                "ideal_problems_per_min": 60.0 * ideal_rps / con["requests_per_problem"],
                "efficiency": con["requests_per_s"] / ideal_rps,
                "efficiency_vs_reachable": con["requests_per_s"] / reachable,
                "speedup_vs_sequential": con["problems_per_min"] / seq["problems_per_min"],
            }
        )
    result = {
        "latency_s": LATENCY_S,
        "sequential": seq,
        "cpu_bound": bound,
        "concurrent": rows,
    }
    out = ROOT / "bench" / "results" / "loop.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"latency {LATENCY_S * 1000:.0f} ms per request; CPU bound {cpu_rps:.1f} requests/s "
        f"({bound['problems_per_min']:.0f} problems/min, server answering at once)\n"
    )
    print(
        "| loop | requests/s | c/L | min(c/L, CPU) | % of c/L | % of min | problems/min | "
        "x sequential | longest loop stall (wall / CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    def stall(r):
        lp = r.get("loop") or {}
        return f"{1000 * lp.get('max_wall_s', 0):.0f} / {1000 * lp.get('max_cpu_s', 0):.0f} ms"

    print(
        f"| sequential (c = 1) | {seq['requests_per_s']:.2f} | {1 / LATENCY_S:.0f} | "
        f"{min(1 / LATENCY_S, cpu_rps):.0f} | "
        f"{100 * seq['requests_per_s'] * LATENCY_S:.0f}% | "
        f"{100 * seq['requests_per_s'] / min(1 / LATENCY_S, cpu_rps):.0f}% | "
        f"{seq['problems_per_min']:.0f} | 1.0 | {stall(seq)} |"
    )
    for r in rows:
        print(
            f"| InfoSynth (c = {r['concurrency']}) | {r['requests_per_s']:.1f} | "
            f"{r['ideal_requests_per_s']:.0f} | {r['reachable_requests_per_s']:.1f} | "
            f"{100 * r['efficiency']:.0f}% | {100 * r['efficiency_vs_reachable']:.0f}% | "
            f"{r['problems_per_min']:.0f} | {r['speedup_vs_sequential']:.1f} | {stall(r)} |"
        )


if __name__ == "__main__":
    main()
