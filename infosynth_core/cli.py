"""The ``infosynth`` command (also ``python -m infosynth_core``).

Subcommands
-----------
import FILE --name NAME     store a problem file as a named seed set (all or nothing)
export TARGET --format F --out PATH
                            export a run (by id) or seed set (by name): jsonl | parquet | hf
list                        seed sets and runs in the store

Every subcommand takes ``--db PATH`` (default ``$INFOSYNTH_DB`` or ``data/infosynth.db``).
Errors print one clear message to stderr and exit with status 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ._version import __version__
from .config import Settings
from .errors import InfoSynthError
from .export import EXPORT_FORMATS, export_from_store
from .formats import FORMATS
from .problem import REVIEWS
from .seeds import import_seed_file
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
    imp.add_argument("--max-mb", type=float, help="import size limit in MiB (default 50)")
    imp.add_argument("--json", action="store_true", help="print the result as JSON")

    exp = sub.add_parser("export", parents=[common], help="export a run or seed set")
    exp.add_argument("target", help="run id or seed-set name")
    exp.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    exp.add_argument("--out", required=True, help="output file (jsonl, parquet) or folder (hf)")
    exp.add_argument("--review", choices=REVIEWS, help="only problems in this review state")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing output")

    lst = sub.add_parser("list", parents=[common], help="list seed sets and runs")
    lst.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.db_path)
    info = import_seed_file(
        store,
        args.file,
        name=args.name,
        format=args.format,
        mapping=_mapping(args.map),
        settings=settings,
        replace=args.replace,
    )
    if args.json:
        print(json.dumps({"name": info.name, "n_problems": info.n_problems, "format": info.format}))
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
        overwrite=args.overwrite,
    )
    print(
        f"Exported {result.manifest['n_problems']} problems to {result.data_path} "
        f"(manifest: {result.manifest_path})."
    )
    return 0


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.db_path)
    seeds, runs = store.list_seed_sets(), store.list_runs()
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
                        {"id": r.id, "name": r.name, "status": r.status, "created_at": r.created_at}
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
        print(f"  {r.id:<24} {r.status:<10} {r.name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = {"db_path": args.db, "max_import_mb": getattr(args, "max_mb", None)}
        settings = Settings.from_env(**overrides)
        return {"import": _cmd_import, "export": _cmd_export, "list": _cmd_list}[args.command](
            args, settings
        )
    except InfoSynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
