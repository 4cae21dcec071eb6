"""Genetic-loop throughput against a local OpenAI-compatible server with a fixed latency.

The whole loop runs (LLM engine through the real ``openai`` client, k-farthest with sentence
embeddings, MinHash dedup, verification in the sandbox, every step written to SQLite) against
``tests/openai_server.py`` answering with the scripted model after ``L`` seconds per request.
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

LATENCY_S = 0.2
CONCURRENCY = 16


def one(concurrency: int, *, colonies: int, generations: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as d, FakeOpenAIServer(
        ScriptedLLM(), latency_s=LATENCY_S
    ) as server:
        store = Store(Path(d) / "bench.db")
        cfg = load_run_config(
            overrides={
                "engine": "llm",
                "llm": {
                    "base_url": server.base_url,
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
        status = runner.execute(store, run.id)
        total_wall = time.monotonic() - t0
        times = sorted(server.request_times)
        window = times[-1] - times[0] + LATENCY_S
        verified = len(runner.benchmark_problems(store, run.id))
        n = len(server.requests)
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
            "max_in_flight": server.max_in_flight,
        }


def main() -> None:
    c = CONCURRENCY
    seq = one(1, colonies=2, generations=1, steps=2)
    con = one(c, colonies=2 * c, generations=2, steps=3)
    ideal_rps = c / LATENCY_S
    ideal_ppm = 60.0 * ideal_rps / con["requests_per_problem"]
    result = {
        "latency_s": LATENCY_S,
        "concurrency": c,
        "sequential": seq,
        "concurrent": con,
        "ideal_requests_per_s": ideal_rps,
        "ideal_problems_per_min": ideal_ppm,
        "efficiency": con["requests_per_s"] / ideal_rps,
        "speedup_vs_sequential": con["problems_per_min"] / seq["problems_per_min"],
    }
    out = ROOT / "bench" / "results" / "loop.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"latency {LATENCY_S * 1000:.0f} ms per request, concurrency c = {c}\n")
    print("| loop | requests/s | problems/min | verified | requests | window (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in (("sequential (c = 1)", seq), (f"InfoSynth (c = {c})", con)):
        print(
            f"| {name} | {r['requests_per_s']:.1f} | {r['problems_per_min']:.0f} | "
            f"{r['verified']} | {r['requests']} | {r['window_s']:.1f} |"
        )
    print(f"| ideal c/L | {ideal_rps:.1f} | {ideal_ppm:.0f} | | | |")
    print(
        f"\nefficiency {100 * result['efficiency']:.0f}% of ideal; "
        f"{result['speedup_vs_sequential']:.1f}x the sequential loop"
    )


if __name__ == "__main__":
    main()
