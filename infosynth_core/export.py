"""Export problems to JSONL, Parquet, or a Hugging Face dataset folder, with a manifest.

Every export writes a manifest (JSON) beside the data: what was exported (seed set or run),
its seed source, configuration, models, the InfoSynth code version, the time, the record
count and the data file's SHA-256. Files are written to a temporary name and renamed into
place, so a crash never leaves a half-written export behind.

Hugging Face: the folder holds ``data/test-00000-of-00001.parquet``, a ``README.md`` dataset
card whose YAML header declares the split, and ``manifest.json``;
``datasets.load_dataset(folder)`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ExportError, NotFoundError
from .problem import Problem
from .store import Store, utc_now

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_problems", "export_from_store", "code_version"]

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
_HF_DATA = Path("data") / "test-00000-of-00001.parquet"


@dataclass(frozen=True)
class ExportResult:
    data_path: Path  # the JSONL/Parquet file, or the HF folder
    manifest_path: Path
    manifest: dict[str, Any]


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
) -> ExportResult:
    """Write ``problems`` to ``out`` in ``format`` (jsonl | parquet | hf) with a manifest.

    For jsonl and parquet, ``out`` is the data file and the manifest goes to
    ``<out without suffix>.manifest.json``; for hf, ``out`` is a folder.
    Raises ExportError when ``out`` exists and ``overwrite`` is False.
    """
    if format not in EXPORT_FORMATS:
        raise ExportError(
            f"Unknown export format '{format}'; use one of {', '.join(EXPORT_FORMATS)}."
        )
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(
            f"'{out}' already exists; choose another path or pass overwrite=True (--overwrite)."
        )
    manifest: dict[str, Any] = {
        "format": format,
        "n_problems": len(problems),
        "created_at": utc_now(),
        "code_version": code_version(),
        "source": source or {},
        "seed_source": seed_source or {},
        "config": config or {},
        "models": models or {},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".infosynth-export-", dir=out.parent))
    try:
        if format == "hf":
            target = tmp_dir / "folder"
            (target / _HF_DATA.parent).mkdir(parents=True)
            import pyarrow.parquet as pq

            pq.write_table(_arrow_table(problems), target / _HF_DATA)
            manifest["data_file"] = str(_HF_DATA)
            manifest["sha256"] = _sha256(target / _HF_DATA)
            (target / "README.md").write_text(_dataset_card(problems, manifest), encoding="utf-8")
            (target / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            if out.exists():
                shutil.rmtree(out) if out.is_dir() else out.unlink()
            os.replace(target, out)
            manifest_path = out / "manifest.json"
        else:
            tmp = tmp_dir / "data"
            if format == "jsonl":
                with tmp.open("w", encoding="utf-8") as f:
                    for p in problems:
                        f.write(json.dumps(p.to_record(), ensure_ascii=False) + "\n")
            else:
                import pyarrow.parquet as pq

                pq.write_table(_arrow_table(problems), tmp)
            manifest["data_file"] = out.name
            manifest["sha256"] = _sha256(tmp)
            manifest_path = out.with_suffix(".manifest.json")
            tmp_manifest = tmp_dir / "manifest"
            tmp_manifest.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            os.replace(tmp, out)
            os.replace(tmp_manifest, manifest_path)
    except OSError as exc:
        raise ExportError(f"Could not write the export to '{out}': {exc}") from exc
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return ExportResult(data_path=out, manifest_path=manifest_path, manifest=manifest)


def export_from_store(
    store: Store,
    target: str,
    *,
    format: str,
    out: str | Path,
    review: str | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export a run (by id) or a seed set (by name) from the store.

    ``review`` keeps only problems in that review state (e.g. ``"accepted"``).
    """
    runs = {r.id: r for r in store.list_runs()}
    if target in runs:
        run = runs[target]
        problems = [sp.problem for sp in store.problems(run_id=target)]
        seed = next((s for s in store.list_seed_sets() if s.id == run.seed_set_id), None)
        source = {"kind": "run", "name": run.name or run.id, "id": run.id}
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
    return export_problems(
        problems,
        format=format,
        out=out,
        source=source,
        config=config,
        seed_source=seed_source,
        models=models,
        overwrite=overwrite,
    )
