"""The ``infosynth run``, ``infosynth control`` and ``infosynth evaluate`` subcommands.

run [--config FILE] [flags]    a synthesis run in this process, progress and ETA on stderr;
                               --detach starts it in the background and prints its id
run --resume RUN_ID            continue a stopped, interrupted (kill -9) or paused run
control RUN_ID pause|resume|stop
control RUN_ID set KEY=VALUE…  raise a stopped run's budget, add generations, raise N
evaluate RUN_ID --model M [--base-url U] [--samples n]
                               ask a model to solve the run's verified problems; %pass,
                               %fail, %error and pass@k

Exit status: 0 finished, 4 stopped (on request or because the budget is spent), 1 failed
(an error, or a model endpoint that failed so that nothing was produced).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .config import Settings, load_run_config, nest_dotted
from .errors import ConfigError
from .store import Store

__all__ = ["add_commands", "COMMANDS"]

#: flag dest -> RunConfig key (nested keys with a dot)
_RUN_FLAGS = {
    "name": "name",
    "seed_set": "seed_set",
    "engine": "engine",
    "random_state": "random_state",
    "n_problems": "n_problems",
    "generations": "generations",
    "colonies": "colonies",
    "seeds_per_colony": "seeds_per_colony",
    "steps_per_generation": "steps_per_generation",
    "mutation_ratio": "mutation_ratio",
    "crossover_batch": "crossover_batch",
    "crossover_count": "crossover_count",
    "k_farthest": "k_farthest",
    "keep": "keep",
    "similarity": "similarity",
    "feedback_rounds": "feedback_rounds",
    "base_url": "llm.base_url",
    "model": "llm.model",
    "api_key_env": "llm.api_key_env",
    "concurrency": "llm.concurrency",
    "budget_usd": "llm.budget_usd",
    "budget_tokens": "llm.budget_tokens",
    "timeout": "sandbox.timeout_s",
    "metrics": "metrics.enabled",
}


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser("run", parents=[common], help="run (or resume) a synthesis run")
    run.add_argument("--config", help="run config file (.toml, .yaml, .json)")
    run.add_argument("--resume", metavar="RUN_ID", help="continue this run from its checkpoint")
    run.add_argument("--run-id", help="id of the new run (default: run-<time>-<hex>)")
    run.add_argument("--detach", action="store_true", help="start in the background, print id")
    run.add_argument("--json", action="store_true", help="print the final summary as JSON")
    run.add_argument("--name")
    run.add_argument("--seed-set", help="seed set name (default bundled)")
    run.add_argument("--engine", choices=["offline", "llm"])
    run.add_argument("--random-state", type=int)
    run.add_argument("--n-problems", type=int, help="N: stop after this many verified problems")
    run.add_argument("--generations", type=int)
    run.add_argument("--colonies", type=int, help="N_c")
    run.add_argument("--seeds-per-colony", type=int, help="B_s")
    run.add_argument("--steps-per-generation", type=int)
    run.add_argument("--mutation-ratio", type=float, help="r, probability of mutation")
    run.add_argument("--crossover-batch", type=int, help="B_c")
    run.add_argument("--crossover-count", type=int, help="C")
    run.add_argument("--k-farthest", action=argparse.BooleanOptionalAction, default=None)
    run.add_argument("--keep", type=int, help="candidates kept per step by k-farthest")
    run.add_argument("--similarity", choices=["nearest", "mean"])
    run.add_argument("--feedback-rounds", type=int, help="N_it")
    run.add_argument("--base-url", help="OpenAI-compatible endpoint (implies --engine llm)")
    run.add_argument("--model", help="model name at the endpoint (implies --engine llm)")
    run.add_argument("--api-key-env", help="environment variable holding the API key")
    run.add_argument("--concurrency", type=int, help="concurrent LLM requests")
    run.add_argument("--budget-usd", type=float)
    run.add_argument("--budget-tokens", type=int)
    run.add_argument("--timeout", type=float, help="sandbox seconds per verification run")
    run.add_argument("--metrics", action=argparse.BooleanOptionalAction, default=None)

    ctl = sub.add_parser(
        "control",
        parents=[common],
        help="pause, resume or stop a run, or change what it may still do (set)",
    )
    ctl.add_argument("run_id")
    ctl.add_argument("action", choices=["pause", "resume", "stop", "set"])
    ctl.add_argument(
        "settings",
        nargs="*",
        metavar="KEY=VALUE",
        help="with set: llm.budget_tokens, llm.budget_usd, generations, n_problems "
        "(then continue with `infosynth run --resume RUN_ID`)",
    )

    ev = sub.add_parser("evaluate", parents=[common], help="test-taker evaluation of a run")
    ev.add_argument("run_id")
    ev.add_argument("--model", required=True, help="model that answers")
    ev.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint")
    ev.add_argument("--api-key-env", default="OPENAI_API_KEY")
    ev.add_argument("--samples", type=int, default=1, help="answers per problem (n)")
    ev.add_argument("--k", default=None, help="comma-separated k of pass@k (default 1 and n)")
    ev.add_argument("--concurrency", type=int, default=8)
    ev.add_argument("--temperature", type=float, default=None)
    ev.add_argument("--limit", type=int, default=None, help="only the first N problems")
    ev.add_argument("--json", action="store_true")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = nest_dotted({key: getattr(args, dest, None) for dest, key in _RUN_FLAGS.items()})
    if ("base_url" in out.get("llm", {}) or "model" in out.get("llm", {})) and not args.engine:
        out["engine"] = "llm"
    return out


def _fmt_eta(seconds: float | None) -> str:
    from .monitor import format_eta

    return f"ETA {format_eta(seconds)}"


def _printer():
    last = {"t": 0.0}

    def progress(info: dict[str, Any]) -> None:
        now = time.monotonic()
        done, total = info["steps_done"], info["steps_total"]
        if now - last["t"] < 0.5 and done < total:
            return
        last["t"] = now
        usage = info.get("usage", {})
        tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        pct = 100.0 * done / total if total else 100.0
        print(
            f"[gen {info['generation']}/{info['generations']}] steps {done}/{total} "
            f"({pct:.0f}%) · verified {info['verified']}/{info['n_problems']} · "
            f"tokens {tokens:,} · ${usage.get('cost_usd', 0.0):.4f} · {_fmt_eta(info['eta_s'])}",
            file=sys.stderr,
            flush=True,
        )
        if info.get("forecast") and now - last.get("f", 0.0) >= 10.0:  # every 10 s at most
            last["f"] = now
            print(f"  forecast: {info['forecast']}", file=sys.stderr, flush=True)

    return progress


def endpoint_line(status: dict[str, Any]) -> str:
    """One line on what a run's endpoint billed and how it behaved (empty for runs that
    made no API call): tokens, US dollars, failed tries, retries, answers paid twice."""
    usage, ep = status.get("usage") or {}, status.get("endpoint") or {}
    calls = int(usage.get("calls", 0))
    if not calls and not ep.get("faults"):
        return ""
    tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    kinds = ", ".join(f"{k} {n}" for k, n in sorted((ep.get("by_kind") or {}).items()))
    return (
        f"{calls} billed calls · {tokens:,} tokens · ${float(usage.get('cost_usd', 0.0)):.4f} · "
        f"API faults {ep.get('faults', 0)}{f' ({kinds})' if kinds else ''} · "
        f"retries {ep.get('retries', 0)} · paid twice {ep.get('paid_twice', 0)}"
    )


def _summary(store: Store, run_id: str, status: str) -> dict[str, Any]:
    from .monitor import generation_rows
    from .runner import benchmark_problems, run_status

    rows = [
        {
            "generation": r["generation"],
            "passed": r["passed"],
            "kept": r["kept"],
            "verified_total": r["benchmark"],
            "novelty": r["novelty (nats)"],
            "diversity": r["diversity (nats)"],
            "seconds": r["seconds"],
        }
        for r in generation_rows(store, run_id)
    ]
    st = run_status(store, run_id)
    return {
        "run_id": run_id,
        "status": status,
        "error": st["error"],
        "verified": len(benchmark_problems(store, run_id)),
        "usage": st["usage"],
        "endpoint": st["endpoint"],
        "generations": rows,
    }


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from . import runner
    from .apikeys import hold_environment_keys

    store = Store(settings.db_path)
    hold_environment_keys()  # keys leave the environment before any test code runs
    if args.resume:
        run_id = args.resume
        store.get_run(run_id)
        flat = {key: getattr(args, dest, None) for dest, key in _RUN_FLAGS.items()}
        flat = {k: v for k, v in flat.items() if v is not None}
        if args.config or set(flat) - set(runner.EXTENDABLE):
            raise ConfigError(
                "--resume continues a run with the config it was created with; of the run "
                f"flags it takes only {', '.join(_flag(k) for k in runner.EXTENDABLE)} (to "
                "continue a run further); drop --config and the others, or start a new run."
            )
        if flat:
            diff = runner.extend(store, run_id, flat, who="cli")
            for key, (old, new) in diff.items():
                print(f"Run {run_id}: {key} {old!r} → {new!r}.", file=sys.stderr)
    else:
        config = load_run_config(args.config, _overrides(args))
        run_id = runner.create_run(store, config, run_id=args.run_id).id
        print(f"Created run {run_id} in {settings.db_path}.", file=sys.stderr)
    config_llm = runner.run_config_of(store.get_run(run_id)).llm
    if config_llm is not None:  # a key variable whose name does not look secret
        hold_environment_keys([config_llm.api_key_env])
    if args.detach:
        pid = runner.spawn(settings.db_path, run_id)
        print(json.dumps({"run_id": run_id, "pid": pid}) if args.json else run_id)
        return 0
    status = runner.execute(store, run_id, progress=_printer())
    summary = _summary(store, run_id, status)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"Run {run_id}: {status}; {summary['verified']} verified problems.")
        if summary["error"]:
            print(f"  {summary['error']}")
        line = endpoint_line(summary)
        if line:
            print(f"  {line}")
        for r in summary["generations"]:
            nov = "--" if r["novelty"] is None else f"{r['novelty']:.3f}"
            div = "--" if r["diversity"] is None else f"{r['diversity']:.3f}"
            print(
                f"  generation {r['generation']}: {r['passed']} passed of {r['kept']} kept, "
                f"benchmark {r['verified_total']}, novelty {nov} nats, diversity {div} nats"
            )
    return {"finished": 0, "stopped": 4}.get(status, 1)


def _flag(key: str) -> str:
    dest = next(d for d, k in _RUN_FLAGS.items() if k == key)
    return "--" + dest.replace("_", "-")


def _parse_settings(items: list[str]) -> dict[str, Any]:
    """``["llm.budget_tokens=20000", "generations=5"]`` -> typed values (JSON numbers,
    ``null`` for no cap)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"Settings are KEY=VALUE, e.g. llm.budget_tokens=20000; got {item!r}.")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(
                f"The value of {key.strip()} must be a number (or null); got {raw!r}."
            ) from None
    return out


def cmd_control(args: argparse.Namespace, settings: Settings) -> int:
    from .runner import extend, request

    if args.action == "set":
        if not args.settings:
            raise ConfigError(
                "control RUN_ID set needs KEY=VALUE settings, e.g. llm.budget_tokens=20000."
            )
        store = Store(settings.db_path)
        diff = extend(store, args.run_id, _parse_settings(args.settings), who="cli")
        if not diff:
            print(f"Run {args.run_id}: nothing changed.")
        for key, (old, new) in diff.items():
            print(f"Run {args.run_id}: {key} {old!r} → {new!r}.")
        if diff:
            print(f"Continue it with: infosynth run --resume {args.run_id}")
        return 0
    if args.settings:
        raise ConfigError(f"control {args.action} takes no KEY=VALUE settings.")
    run = request(Store(settings.db_path), args.run_id, args.action)
    print(f"Run {run.id}: control set to {run.control or 'none'} (status {run.status}).")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from .apikeys import hold_environment_keys
    from .config import LLMConfig, validated
    from .engines.llm import LLMEngine
    from .evaluate import evaluate
    from .llm.client import LLMClient
    from .runner import benchmark_problems
    from .sandbox import Sandbox

    hold_environment_keys([args.api_key_env])  # out of the environment before test code runs
    store = Store(settings.db_path)
    problems = [sp.problem for sp in benchmark_problems(store, args.run_id)]
    if args.limit:
        problems = problems[: args.limit]
    if not problems:
        raise ConfigError(
            f"Run '{args.run_id}' has no verified problems to evaluate; run it first."
        )
    llm = {"model": args.model, "api_key_env": args.api_key_env, "concurrency": args.concurrency}
    if args.base_url:
        llm["base_url"] = args.base_url
    if args.temperature is not None:
        llm["temperature"] = args.temperature
    config = validated(LLMConfig, llm, what="evaluation endpoint")
    ks = tuple(int(k) for k in args.k.split(",")) if args.k else tuple(sorted({1, args.samples}))

    started = time.monotonic()

    def progress(done: int, total: int, _result=None) -> None:
        elapsed = time.monotonic() - started
        eta = elapsed / done * (total - done) if done else None
        print(f"answered {done}/{total} · {_fmt_eta(eta)}", file=sys.stderr, flush=True)

    async def go():
        client = LLMClient(config, store=store, run_id=args.run_id, ledger_scope="evaluation")
        engine = LLMEngine(client)
        try:
            with Sandbox() as sandbox:
                for warning in (sandbox.warning, sandbox.caps_warning):
                    if warning:
                        print(f"warning: {warning}", file=sys.stderr)
                return await evaluate(
                    problems, engine, sandbox, samples=args.samples, ks=ks, progress=progress
                )
        finally:
            await engine.aclose()

    report = asyncio.run(go())
    data = report.to_dict()
    store.add_event(args.run_id, "info", "evaluation", f"evaluated {args.model}", data)
    print(json.dumps(data) if args.json else report.table())
    return 0


COMMANDS = {"run": cmd_run, "control": cmd_control, "evaluate": cmd_evaluate}
