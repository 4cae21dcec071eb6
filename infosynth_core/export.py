"""Export problems to JSONL, Parquet, or a Hugging Face dataset folder, with a manifest.

Every export writes a manifest (JSON) beside the data: what was exported (seed set or run),
its seed source, configuration, models, the InfoSynth code version, the time, the record
count, the exported problems' test strength (``test_strength``: mutation scores, see
:func:`infosynth_core.strength.strength_summary`), the data file's SHA-256, and the marker ``"infosynth_export": 1`` that identifies an
InfoSynth export. JSONL and Parquet put it next to the file (``x.jsonl`` →
``x.manifest.json``); ``hf`` writes a folder with ``data/test-00000-of-00001.parquet``, a
``README.md`` dataset card whose YAML header declares the split, and ``manifest.json``;
``datasets.load_dataset(folder)`` reads it.

Safety rules: an export never removes what it did not write.

- **Refused always** (whatever ``overwrite`` says): the store's database file, its ``-wal``,
  ``-shm`` and ``-journal`` files, any folder that holds the store (at any depth; the store
  paths come in through ``protect=``, and :func:`export_from_store` passes its store), the
  file-system root, the home folder or a folder above it, and symbolic links.
- **An existing target** is refused unless ``overwrite=True`` (``--overwrite``), and even then
  it is replaced only when it is a previous InfoSynth export: for ``hf`` a folder whose
  ``manifest.json`` carries the marker (format ``hf``) and which holds nothing but
  ``manifest.json``, ``README.md`` and ``data/test-00000-of-00001.parquet``; for JSONL and
  Parquet a plain file whose ``<stem>.manifest.json`` carries the marker and names it (a
  manifest that names another data file, e.g. ``x.jsonl``'s when writing ``x.parquet``, is
  refused too). Anything else — an unrelated file, a folder with other content, a
  pre-marker export — is refused with an :class:`ExportError` that says why and what to do.
- **Atomic swap**: the new export is written completely into a hidden temporary folder next to
  the target (same file system); only then is it moved in. On Linux (glibc ≥ 2.28) an
  existing target is swapped with ``renameat2(RENAME_EXCHANGE)`` — one atomic step in which
  the target path never disappears — and a new one is moved with ``RENAME_NOREPLACE``.
  Elsewhere, or on file systems without it, the old target is renamed aside, the new one
  renamed in, and the old one renamed back if that fails. JSONL/Parquet move two files (data,
  then manifest); a failure on the second undoes the first. Only after a successful swap is
  the previous export, now inside the temporary folder, deleted — and only when that folder
  holds nothing but the files an export writes (otherwise it is left for you to inspect).
  A failure while writing or moving leaves the previous export byte-identical and removes
  the temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _export_safety as safety
from ._version import __version__
from .errors import ExportError, NotFoundError
from .problem import Problem
from .store import Store, utc_now
from .strength import check_min_score, score_of, strength_summary

__all__ = [
    "EXPORT_FORMATS",
    "ExportInfo",
    "ExportResult",
    "export_problems",
    "export_from_store",
    "find_exports",
    "code_version",
]

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
_HF_DATA = Path(safety.HF_DATA)


@dataclass(frozen=True)
class ExportResult:
    data_path: Path  # the JSONL/Parquet file, or the HF folder
    manifest_path: Path
    manifest: dict[str, Any]
    replaced: bool = False  # a previous export was there and was replaced


@dataclass(frozen=True)
class ExportInfo:
    """A previous InfoSynth export found by :func:`find_exports`."""

    path: Path  # the data file (jsonl, parquet) or the folder (hf)
    format: str
    n_problems: int | None
    created_at: str
    source: dict[str, Any]


def code_version() -> str:
    """InfoSynth's version plus the git commit of the code, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{__version__}+g{rev}" if rev else __version__


def _arrow_table(problems: Sequence[Problem]):
    import pyarrow as pa

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("problem", pa.string()),
            ("solution", pa.string()),
            ("tests", pa.string()),
            ("entry_point", pa.string()),
            ("topics", pa.list_(pa.string())),
            ("difficulty", pa.string()),
            (
                "origin",
                pa.struct(
                    [
                        ("operator", pa.string()),
                        ("parents", pa.list_(pa.string())),
                        ("generation", pa.int64()),
                        ("colony", pa.int64()),
                    ]
                ),
            ),
            ("status", pa.string()),
            ("review", pa.string()),
            ("metadata", pa.string()),  # JSON text: free-form dicts do not fit one Arrow type
        ]
    )
    rows = []
    for p in problems:
        rec = p.to_record()
        rec["metadata"] = json.dumps(rec["metadata"], ensure_ascii=False, sort_keys=True)
        rows.append(rec)
    return pa.Table.from_pylist(rows, schema=schema)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dataset_card(problems: Sequence[Problem], manifest: dict[str, Any]) -> str:
    topics = Counter(t for p in problems for t in p.topics).most_common(15)
    difficulty = Counter(p.difficulty or "unknown" for p in problems)
    ops = Counter(p.origin.operator for p in problems)
    lines = [
        "---",
        "license: other",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- code",
        "- benchmark",
        "- infosynth",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: test",
        "    path: data/test-*.parquet",
        "---",
        "",
        f"# {manifest['source'].get('name', 'InfoSynth export')}",
        "",
        f"{len(problems)} Python coding problems exported by InfoSynth {manifest['code_version']} "
        f"on {manifest['created_at']}. Each record has a statement (`problem`), a reference "
        "`solution`, pytest `tests` (the solution is importable as module `solution`), "
        "`topics`, `difficulty` and its lineage (`origin`).",
        "",
        "```python",
        "from datasets import load_dataset",
        "ds = load_dataset('path/to/this/folder', split='test')",
        "```",
        "",
        "| field | meaning |",
        "|---|---|",
        "| id | unique id |",
        "| problem | statement |",
        "| solution | reference solution (Python source) |",
        "| tests | pytest source; `from solution import …` |",
        "| entry_point | function under test |",
        "| topics | up to a few LeetCode topic names |",
        "| difficulty | easy, medium or hard |",
        "| origin | operator, parents, generation, colony |",
        "| status | verification status |",
        "| review | pending, accepted or rejected |",
        "| metadata | JSON text with source-specific fields |",
        "",
        "Difficulty: " + ", ".join(f"{k} {v}" for k, v in sorted(difficulty.items())),
        "",
        "Operators: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())),
        "",
        "Top topics: " + (", ".join(f"{k} ({v})" for k, v in topics) or "none"),
        "",
        "See `manifest.json` for the configuration, seed source, models and code version.",
        "",
    ]
    return "\n".join(lines)


def _write_jsonl(problems: Sequence[Problem], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for p in problems:
            f.write(json.dumps(p.to_record(), ensure_ascii=False) + "\n")


def _write_parquet(problems: Sequence[Problem], path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_arrow_table(problems), path)


def export_problems(
    problems: Sequence[Problem],
    *,
    format: str,
    out: str | Path,
    source: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    seed_source: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    overwrite: bool = False,
    protect: Sequence[str | Path] = (),
) -> ExportResult:
    """Write ``problems`` to ``out`` in ``format`` (jsonl | parquet | hf) with a manifest.

    For jsonl and parquet, ``out`` is the data file and the manifest goes to
    ``<out without suffix>.manifest.json``; for hf, ``out`` is a folder.
    ``protect`` lists store database paths that must never be replaced (see the module
    docstring for every rule). Raises ExportError when ``out`` exists and ``overwrite`` is
    False, when ``out`` is protected or is not a previous InfoSynth export, or when writing
    fails; the previous export is then left as it was.

    >>> export_problems(problems, format="hf", out="data/exports/bench")  # doctest: +SKIP
    """
    if format not in EXPORT_FORMATS:
        raise ExportError(
            f"Unknown export format '{format}'; use one of {', '.join(EXPORT_FORMATS)}."
        )
    out = Path(out)
    target = safety.check_target(out, format, overwrite=overwrite, protect=protect)
    manifest: dict[str, Any] = {
        safety.MARKER: 1,
        "format": format,
        "n_problems": len(problems),
        "test_strength": strength_summary(problems),
        "created_at": utc_now(),
        "code_version": code_version(),
        "source": source or {},
        "seed_source": seed_source or {},
        "config": config or {},
        "models": models or {},
    }
    try:
        target.path.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(
            tempfile.mkdtemp(
                prefix=f".{target.path.name[:64]}.infosynth-tmp-", dir=target.path.parent
            )
        )
    except OSError as exc:
        raise ExportError(f"Could not write the export to {target.shown()}: {exc}") from exc
    if format == "hf":
        allowed = {f"{top}/{f}" for top in ("new", "old") for f in safety.HF_FILES}
        moves = [(tmp_dir / "new", target.path, tmp_dir / "old")]
    else:
        allowed = {"new.data", "new.manifest", "old.data", "old.manifest"}
        moves = [
            (tmp_dir / "new.data", target.path, tmp_dir / "old.data"),
            (tmp_dir / "new.manifest", target.manifest, tmp_dir / "old.manifest"),
        ]
    keep_tmp = False
    try:
        if format == "hf":
            folder = tmp_dir / "new"
            (folder / _HF_DATA.parent).mkdir(parents=True)
            _write_parquet(problems, folder / _HF_DATA)
            manifest["data_file"] = _HF_DATA.as_posix()
            manifest["sha256"] = _sha256(folder / _HF_DATA)
            (folder / "README.md").write_text(_dataset_card(problems, manifest), encoding="utf-8")
            manifest_text = json.dumps(manifest, indent=2)
            (folder / "manifest.json").write_text(manifest_text, encoding="utf-8")
        else:
            data = tmp_dir / "new.data"
            (_write_jsonl if format == "jsonl" else _write_parquet)(problems, data)
            manifest["data_file"] = target.path.name
            manifest["sha256"] = _sha256(data)
            (tmp_dir / "new.manifest").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        # Check again just before the swap: the target may have changed while we wrote.
        target = safety.check_target(out, format, overwrite=overwrite, protect=protect)
        safety.swap_in(moves)
    except safety.SwapBackError:
        keep_tmp = True
        raise
    except OSError as exc:
        raise ExportError(f"Could not write the export to {target.shown()}: {exc}") from exc
    finally:
        if not keep_tmp:
            safety.remove_tmp(tmp_dir, allowed)
    manifest_path = out / "manifest.json" if format == "hf" else out.parent / target.manifest.name
    return ExportResult(
        data_path=out, manifest_path=manifest_path, manifest=manifest, replaced=target.replaces
    )


def _at_least(score: float | None, minimum: float) -> bool:
    return score is not None and score >= minimum


def find_exports(folder: str | Path) -> list[ExportInfo]:
    """The previous InfoSynth exports directly inside ``folder`` (those ``overwrite=True``
    may replace), sorted by path; an unreadable or missing folder has none."""
    folder = Path(folder)
    found = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            if safety.hf_export_problem(entry) is not None:
                continue
            path, manifest = entry, safety.read_manifest(entry / "manifest.json")
        elif entry.name.endswith(".manifest.json"):
            manifest = safety.read_manifest(entry)
            name = manifest.get("data_file") if manifest else None
            if not isinstance(name, str) or "/" in name or name in (".", ".."):
                continue
            path = folder / name
            if (
                manifest.get("format") not in ("jsonl", "parquet")
                or not path.is_file()
                or safety.file_export_problem(path, path.with_suffix(".manifest.json"))
            ):
                continue
        else:
            continue
        n = manifest.get("n_problems")
        found.append(
            ExportInfo(
                path=path,
                format=manifest["format"],
                n_problems=n if isinstance(n, int) else None,
                created_at=str(manifest.get("created_at", "")),
                source=manifest.get("source") if isinstance(manifest.get("source"), dict) else {},
            )
        )
    return found


def _embedding_entry(config: dict[str, Any], problems: Sequence[Problem]) -> dict[str, Any]:
    """How the run's metrics embed these statements: model, window, pooling, and how many
    statements are longer than the window (embedded whole, as several windows; see
    :mod:`infosynth_core.embed`). Counting tokenises only; a model that cannot be loaded is
    recorded as such instead of failing the export."""
    from .embed import Embedder, EmbeddingError, embedding_info, resolve_model

    model = resolve_model((config.get("metrics") or {}).get("embedding_model"))
    try:
        return embedding_info(Embedder(model), [p.problem for p in problems], backend=False)
    except EmbeddingError as exc:
        return {"model": model, "error": str(exc)}


def export_from_store(
    store: Store,
    target: str,
    *,
    format: str,
    out: str | Path,
    review: str | None = None,
    min_mutation_score: float | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export a run (by id) or a seed set (by name) from the store.

    ``review`` keeps only problems in that review state (e.g. ``"accepted"``).
    ``min_mutation_score`` (a fraction in [0, 1]; 0.8 = the tests reject at least 80% of the
    mutants of the reference) keeps only problems with a stored mutation score at least
    that; unscored problems are dropped. Each filter given is recorded in the manifest's
    ``source``. The store's database (and any folder holding it) is protected: see
    :func:`export_problems`.
    """
    min_score = check_min_score(min_mutation_score, "export_from_store")
    runs = {r.id: r for r in store.list_runs()}
    if target in runs:
        run = runs[target]
        problems = [sp.problem for sp in store.problems(run_id=target)]
        seed = next((s for s in store.list_seed_sets() if s.id == run.seed_set_id), None)
        source = {"kind": "run", "name": run.name or run.id, "id": run.id}
        from .runner import config_changes

        changes = config_changes(store, run.id)
        if changes:
            source["config_changes"] = changes
        seed_source = {"name": seed.name, **seed.manifest} if seed else {}
        config = run.config
        models = {k: v for k, v in run.config.items() if "model" in k}
    elif store.has_seed_set(target):
        info = store.get_seed_set(target)
        problems = store.seed_set_problems(target)
        source = {"kind": "seed_set", "name": info.name}
        seed_source = {"name": info.name, **info.manifest}
        config, models = {}, {}
    else:
        raise NotFoundError(
            f"Nothing to export named '{target}': no run with that id and no seed set with that "
            f"name (runs: {', '.join(runs) or 'none'}; seed sets: "
            f"{', '.join(s.name for s in store.list_seed_sets()) or 'none'})."
        )
    if review is not None:
        problems = [p for p in problems if p.review == review]
        source["review"] = review
    if min_score is not None:
        problems = [p for p in problems if _at_least(score_of(p), min_score)]
        source["min_mutation_score"] = min_score
    if source["kind"] == "run":
        models["embedding"] = _embedding_entry(config, problems)
    return export_problems(
        problems,
        format=format,
        out=out,
        source=source,
        config=config,
        seed_source=seed_source,
        models=models,
        overwrite=overwrite,
        protect=[store.path],
    )
