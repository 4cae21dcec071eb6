"""The ``infosynth`` command (also ``python -m infosynth_core``).

Subcommands
-----------
import FILE --name NAME     store a problem file as a named seed set (all or nothing)
export TARGET --format F --out PATH
                            export a run (by id) or seed set (by name): jsonl | parquet | hf
verify FILE                 run every problem's solution against its tests in the sandbox
metrics --reference A --candidate B
                            novelty and diversity (nats) with intervals, topics, duplicates
list                        seed sets and runs in the store
run, control, evaluate      synthesis runs and test-taker evaluation (see ``cli_run``)

Every subcommand takes ``--db PATH`` (default ``$INFOSYNTH_DB`` or ``data/infosynth.db``).
Errors print one clear message to stderr and exit with status 1; usage errors exit with 2.
``verify`` exits with 3 when some problem did not pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import cli_run
from ._version import __version__
from .config import Settings, validated
from .errors import InfoSynthError
from .export import EXPORT_FORMATS, export_from_store
from .formats import FORMATS
from .problem import REVIEWS
from .seeds import load_problems
from .store import Store

__all__ = ["main", "build_parser"]


def _mapping(items: Sequence[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    out = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InfoSynthError(
                f"--map expects FIELD=COLUMN (e.g. problem=question); got {item!r}."
            )
        out[field.strip()] = column.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="SQLite store (default: $INFOSYNTH_DB or data/infosynth.db)")

    parser = argparse.ArgumentParser(
        prog="infosynth",
        description="Synthesize novel, diverse, verified Python coding benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"infosynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = sub.add_parser("import", parents=[common], help="import a problem file as a seed set")
    imp.add_argument("file", help="JSONL, JSON, CSV or Parquet file")
    imp.add_argument("--name", required=True, help="name of the new seed set")
    imp.add_argument(
        "--format",
        default="auto",
        choices=["auto", *FORMATS],
        help="input format (default: detect from the columns)",
    )
    imp.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN",
        help="map a column to a canonical field (repeatable); overrides --format",
    )
    imp.add_argument("--replace", action="store_true", help="replace a seed set of that name")
    imp.add_argument(
        "--max-mb", type=float, help="import size limit in MiB, on disk and decoded (default 50)"
    )
    imp.add_argument("--max-records", type=int, help="most records to import (default 200,000)")
    imp.add_argument(
        "--max-statement-chars",
        type=int,
        help="longest statement in characters (default 50,000)",
    )
    imp.add_argument(
        "--drop-unused",
        action="store_true",
        help="import even if solution/test columns or unknown canonical fields would be "
        "dropped (a warning lists them)",
    )
    imp.add_argument("--json", action="store_true", help="print the result as JSON")

    exp = sub.add_parser("export", parents=[common], help="export a run or seed set")
    exp.add_argument("target", help="run id or seed-set name")
    exp.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    exp.add_argument("--out", required=True, help="output file (jsonl, parquet) or folder (hf)")
    exp.add_argument("--review", choices=REVIEWS, help="only problems in this review state")
    exp.add_argument(
        "--min-mutation-score",
        type=float,
        metavar="X",
        help="only problems whose tests reject at least this fraction of mutants "
        "(0.8 = 80%%); unscored problems are left out",
    )
    exp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a previous InfoSynth export at PATH (never anything else, never the store)",
    )

    ver = sub.add_parser("verify", help="run each problem's solution against its tests, sandboxed")
    ver.add_argument("file", help="JSONL, JSON, CSV or Parquet file (any import format)")
    ver.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    ver.add_argument("--map", action="append", metavar="FIELD=COLUMN", help="column mapping")
    ver.add_argument("--json", action="store_true", help="one JSON object per problem")
    ver.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="CPU-time limit per problem in seconds (default 10; code that sleeps or blocks "
        "ends at a wall-clock backstop of 3 x this + 5 s)",
    )
    ver.add_argument(
        "--memory-mb",
        type=int,
        default=512,
        metavar="M",
        help="memory limit per problem in MiB (default 512)",
    )
    ver.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="parallel sandbox workers (default: CPU cores)",
    )
    ver.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "process"])
    ver.add_argument(
        "--no-coverage", action="store_true", help="skip line coverage of the solutions (faster)"
    )
    ver.add_argument("--max-mb", type=float, help="input size limit in MiB (default 50)")

    met = sub.add_parser(
        "metrics",
        parents=[common],
        help="novelty and diversity of a candidate set against a reference",
    )
    met.add_argument(
        "--reference", required=True, help="reference problems (file, or seed set name)"
    )
    met.add_argument(
        "--candidate", required=True, help="candidate problems (file, or seed set name)"
    )
    met.add_argument("--dim", type=int, default=10, help="UMAP dimensions (default 10)")
    met.add_argument(
        "--k", type=int, default=4, help="neighbour order of the estimators (default 4)"
    )
    met.add_argument(
        "--umap-runs", type=int, default=10, help="UMAP fits with different seeds (default 10)"
    )
    met.add_argument(
        "--draws",
        type=int,
        default=100,
        help="subsamples per run for entropy at equal N (default 100)",
    )
    met.add_argument(
        "--model", default=None, help="sentence-transformers model (default: bundled MiniLM)"
    )
    met.add_argument("--seed", type=int, default=0, help="random state (default 0)")
    met.add_argument("--json", action="store_true", help="print one JSON object")

    cli_run.add_commands(sub, common)

    lst = sub.add_parser("list", parents=[common], help="list seed sets and runs")
    lst.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    limits = {
        "max_import_records": args.max_records,
        "max_statement_chars": args.max_statement_chars,
    }
    if any(v is not None for v in limits.values()):
        data = settings.model_dump()
        data.update({k: v for k, v in limits.items() if v is not None})
        settings = validated(Settings, data, what="settings")
    loaded = load_problems(  # everything is read and checked before the store is opened
        args.file,
        format=args.format,
        mapping=_mapping(args.map),
        settings=settings,
        allow_dropped_columns=args.drop_unused,
    )
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    info = loaded.save(Store(settings.db_path), args.name, replace=args.replace)
    if args.json:
        print(
            json.dumps(
                {
                    "name": info.name,
                    "n_problems": info.n_problems,
                    "format": info.format,
                    "kept_columns": list(loaded.kept_columns),
                    "dropped_columns": dict(loaded.dropped),
                }
            )
        )
    else:
        print(
            f"Imported {info.n_problems} problems ({info.format}) as seed set '{info.name}' "
            f"into {settings.db_path}."
        )
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.db_path)
    result = export_from_store(
        store,
        args.target,
        format=args.format,
        out=args.out,
        review=args.review,
        min_mutation_score=args.min_mutation_score,
        overwrite=args.overwrite,
    )
    replaced = ", replacing the previous export" if result.replaced else ""
    print(
        f"Exported {result.manifest['n_problems']} problems to {result.data_path}{replaced} "
        f"(manifest: {result.manifest_path})."
    )
    ts = result.manifest["test_strength"]
    if ts["scored"]:
        print(
            f"Test strength: {ts['scored']} scored, mean mutation score {ts['mean']:.2f}, "
            f"{ts['share_at_least_0_8']:.0%} reject at least 80% of their mutants."
        )
    return 0


def _cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    import threading
    import time

    from tqdm import tqdm

    from .config import validated
    from .sandbox import Limits, Sandbox

    problems = load_problems(
        args.file, format=args.format, mapping=_mapping(args.map), settings=settings
    ).problems
    limits = validated(
        Limits, {"timeout_s": args.timeout, "memory_mb": args.memory_mb}, what="sandbox limits"
    )
    if args.workers is not None and args.workers < 1:
        raise InfoSynthError(f"--workers must be at least 1; got {args.workers}.")
    sandbox = Sandbox(
        workers=args.workers,
        limits=limits,
        isolation=args.isolation,
        coverage=not args.no_coverage,
    )
    for warning in (sandbox.warning, sandbox.caps_warning):
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    lock = threading.Lock()
    bar = tqdm(
        total=len(problems),
        unit="problem",
        file=sys.stderr,
        disable=None,
        desc=f"verify ({sandbox.isolation}, {sandbox.caps})",
    )

    def progress(done: int, total: int, r) -> None:
        with lock:
            if args.json:
                print(
                    json.dumps(
                        {
                            "id": r.id,
                            "status": r.status,
                            "tests": r.tests,
                            "duration_s": round(r.duration_s, 4),
                            "n_asserts": r.n_asserts,
                            "coverage": None if r.coverage is None else round(r.coverage, 4),
                            "isolation": r.isolation,
                            "caps": r.caps,
                            "notes": r.notes,
                        }
                    ),
                    flush=True,
                )
            else:
                n_ok = sum(o == "passed" for o in r.tests.values())
                note = f"  {r.notes[-1]}" if r.notes and r.status != "passed" else ""
                bar.write(
                    f"{r.id:<28} {r.status:<10} {n_ok}/{len(r.tests)} tests "
                    f"{r.duration_s:7.3f}s{note}"
                )
            bar.update(1)

    t0 = time.perf_counter()
    with sandbox:
        results = sandbox.run_problems(problems, progress=progress)
    bar.close()
    elapsed = time.perf_counter() - t0
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    rate = len(results) / elapsed if elapsed > 0 else 0.0
    print(
        f"{len(results)} problems in {elapsed:.1f} s ({rate:.0f}/s): {summary} "
        f"[isolation: {sandbox.isolation}; caps: {sandbox.caps}]",
        file=sys.stderr,
    )
    return 0 if counts.get("passed", 0) == len(results) else 3


def _problems_of(source: str, store: Store, settings: Settings) -> tuple[str, list]:
    from pathlib import Path

    if Path(source).is_file():
        return Path(source).name, load_problems(source, settings=settings).problems
    if store.has_seed_set(source):
        return source, store.seed_set_problems(source)
    raise InfoSynthError(
        f"'{source}' is neither a file nor a seed set in {settings.db_path}; give a path to a "
        "problem file or the name of an imported seed set."
    )


def _cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from .dedup import cross_duplicates, embedding_near_duplicates, near_duplicates
    from .embed import DEFAULT_MODEL, Embedder
    from .projection import measure, warm_up
    from .topics import TopicTagger, coverage

    t0 = time.perf_counter()
    store = Store(settings.db_path)
    ref_name, ref = _problems_of(args.reference, store, settings)
    cand_name, cand = _problems_of(args.candidate, store, settings)
    # UMAP's JIT compiles in the background while the statements are embedded.
    warm_up(large=len(ref) + len(cand) > 4096)
    from tqdm import tqdm

    embedder = Embedder(args.model or DEFAULT_MODEL, store=store)
    # Progress with ETA on stderr (a terminal only), also with --json: stdout stays pure JSON.
    with tqdm(
        total=len(ref) + len(cand),
        unit="text",
        file=sys.stderr,
        disable=None,
        desc=f"embedding ({embedder.model})",
    ) as bar:
        e_ref = embedder.encode(
            [p.problem for p in ref], progress=lambda d, t: bar.update(d - bar.n)
        )
        offset = bar.n
        e_cand = embedder.encode(
            [p.problem for p in cand], progress=lambda d, t: bar.update(offset + d - bar.n)
        )
    with tqdm(
        total=args.umap_runs,
        unit="fit",
        file=sys.stderr,
        disable=None,
        desc=f"joint UMAP d={args.dim}",
    ) as bar:
        m = measure(
            e_ref,
            e_cand,
            dim=args.dim,
            k=args.k,
            runs=args.umap_runs,
            draws=args.draws,
            random_state=args.seed,
            progress=lambda r, n: bar.update(r - bar.n),
        )
    tagger = TopicTagger(embedder)

    def topics_of(problems, vectors) -> list:
        """Given topics, else the offline tagger's (from the vectors already computed)."""
        untagged = [i for i, p in enumerate(problems) if not p.topics]
        tags = (
            dict(zip(untagged, tagger.tag_vectors(vectors[untagged]), strict=True))
            if untagged
            else {}
        )
        return [p.topics or tags[i] for i, p in enumerate(problems)]

    ref_topics, cand_topics = topics_of(ref, e_ref), topics_of(cand, e_cand)
    cov_ref, cov_cand = coverage(ref_topics), coverage(cand_topics)
    within = near_duplicates([p.id for p in cand], [p.problem for p in cand])
    cross = cross_duplicates(
        [p.id for p in cand],
        [p.problem for p in cand],
        [p.id for p in ref],
        [p.problem for p in ref],
    )
    emb_dups = embedding_near_duplicates([p.id for p in cand], e_cand)
    result = {
        "reference": {"name": ref_name, "n": len(ref)},
        "candidate": {"name": cand_name, "n": len(cand)},
        **m.to_dict(),
        "units": "nats",
        "embedding_model": embedder.model,
        "topic_coverage": {
            "reference": {k: round(v, 4) for k, v in cov_ref.items() if v},
            "candidate": {k: round(v, 4) for k, v in cov_cand.items() if v},
        },
        "dedup": {
            "candidate_minhash_groups": len(within),
            "candidate_minhash_duplicates": sum(len(g.ids) - 1 for g in within),
            "candidate_embedding_duplicates": sum(len(g.ids) - 1 for g in emb_dups),
            "candidate_in_reference": len(cross),
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.json:
        print(json.dumps(result))
        return 0

    def fmt(e) -> str:
        return f"{e.mean:.3f}  [{e.low:.3f}, {e.high:.3f}]"

    print(f"reference: {ref_name} ({len(ref)} problems)   candidate: {cand_name} ({len(cand)})")
    print(f"novelty   D(candidate||reference)  {fmt(m.novelty)} nats")
    print(f"diversity reference @N={m.matched_n}      {fmt(m.diversity_reference)} nats")
    print(f"diversity candidate @N={m.matched_n}      {fmt(m.diversity_candidate)} nats")
    print(f"({m.runs} joint UMAP fits, d={m.dim}, k={m.k}; 95% intervals over fits)")
    top = sorted(cov_cand.items(), key=lambda kv: -kv[1])[:8]
    print("candidate topics: " + ", ".join(f"{k} {v:.0%}" for k, v in top if v))
    d = result["dedup"]
    print(
        f"duplicates in candidate: {d['candidate_minhash_duplicates']} (MinHash), "
        f"{d['candidate_embedding_duplicates']} (embedding); candidate problems also in the "
        f"reference: {d['candidate_in_reference']}"
    )
    return 0


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from .runner import run_status

    store = Store(settings.db_path)
    seeds, runs = store.list_seed_sets(), store.list_runs()
    shown = {r.id: run_status(store, r.id) for r in runs}  # "interrupted" as the dashboard says
    if args.json:
        print(
            json.dumps(
                {
                    "seed_sets": [
                        {
                            "name": s.name,
                            "n_problems": s.n_problems,
                            "format": s.format,
                            "source": s.source,
                            "created_at": s.created_at,
                        }
                        for s in seeds
                    ],
                    "runs": [
                        {
                            "id": r.id,
                            "name": r.name,
                            "status": shown[r.id]["status"],
                            "created_at": r.created_at,
                            "verified": shown[r.id]["verified"],
                            "usage": shown[r.id]["usage"],
                            "endpoint": shown[r.id]["endpoint"],
                        }
                        for r in runs
                    ],
                }
            )
        )
        return 0
    print(f"Store: {settings.db_path}")
    print(f"Seed sets ({len(seeds)}):")
    for s in seeds:
        print(f"  {s.name:<24} {s.n_problems:>7} problems  {s.format:<16} from {s.source}")
    print(f"Runs ({len(runs)}):")
    for r in runs:
        st = shown[r.id]
        print(f"  {r.id:<24} {st['status']:<11} {st['verified']:>5} verified  {r.name}")
        line = cli_run.endpoint_line(st)
        if line:
            print(f"  {'':<24} {line}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = {
            "db_path": getattr(args, "db", None),
            "max_import_mb": getattr(args, "max_mb", None),
        }
        settings = Settings.from_env(**overrides)
        commands = {
            "import": _cmd_import,
            "export": _cmd_export,
            "verify": _cmd_verify,
            "metrics": _cmd_metrics,
            "list": _cmd_list,
            **cli_run.COMMANDS,
        }
        return commands[args.command](args, settings)
    except InfoSynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (RecursionError, MemoryError) as exc:  # a limit no check foresaw: no traceback
        print(
            f"error: {args.command} stopped: {type(exc).__name__} ({exc}). Nothing partial was "
            "stored; please report the input that caused this.",
            file=sys.stderr,
        )
        return 1
