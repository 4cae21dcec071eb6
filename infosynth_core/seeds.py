"""Seed sets: load problem files in any supported format, import them into the store, and
the bundled seed set that ships in ``data/seeds/``.

>>> from infosynth_core import Store, import_seed_file
>>> store = Store("data/infosynth.db")                      # doctest: +SKIP
>>> import_seed_file(store, "mbpp.jsonl", name="mbpp")      # doctest: +SKIP
SeedSetInfo(name='mbpp', n_problems=974, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._version import __version__
from .config import Settings
from .errors import SeedSetExistsError
from .formats import convert_records
from .problem import Problem, validate_records
from .readers import RawTable, read_table
from .store import SeedSetInfo, Store, utc_now

__all__ = [
    "LoadedSeeds",
    "file_columns",
    "load_problems",
    "import_seed_file",
    "BUNDLED_SEED_SET",
    "bundled_seeds_path",
    "load_bundled_seeds",
    "ensure_bundled_seed_set",
]

BUNDLED_SEED_SET = "bundled"
_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class LoadedSeeds:
    """Problems parsed and validated from one file, not yet stored."""

    source: str
    format: str
    problems: list[Problem]
    sha256: str

    def save(self, store: Store, name: str, *, replace: bool = False) -> SeedSetInfo:
        """Store these problems as seed set ``name`` (one transaction; see Store.create_seed_set)."""
        return store.create_seed_set(
            name,
            self.problems,
            source=self.source,
            format=self.format,
            manifest=self.manifest(),
            replace=replace,
        )

    def manifest(self) -> dict[str, object]:
        return {
            "source": self.source,
            "format": self.format,
            "sha256": self.sha256,
            "n_problems": len(self.problems),
            "imported_at": utc_now(),
            "infosynth_version": __version__,
        }


def _read(source: str | Path | bytes, filename: str | None, settings: Settings | None) -> RawTable:
    settings = settings or Settings()
    return read_table(
        source,
        filename=filename,
        max_bytes=settings.max_import_bytes,
        max_records=settings.max_import_records,
    )


def load_problems(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> LoadedSeeds:
    """Read, convert and validate a problem file; nothing is stored.

    Parameters
    ----------
    source
        A path, or the file's bytes (then ``filename`` names it, for its type and messages).
    format
        ``"auto"`` (detect from the columns), or canonical | mbpp | humaneval |
        leetcodedataset | statements.
    mapping
        Explicit ``{canonical field: column}``; overrides ``format``.
    settings
        Import limits (``max_import_mb``, ``max_import_records``); defaults if None.

    Raises
    ------
    FileTooLargeError, UnsupportedFileError, FormatDetectionError, RecordValidationError
        Each message names the file, the rows/fields at fault, the values and the fix.
    """
    table = _read(source, filename, settings)
    fmt, records = convert_records(
        table.records, format=format, mapping=mapping, columns=table.columns, source=table.source
    )
    problems = validate_records(records, source=f"{table.source} (read as {fmt})")
    return LoadedSeeds(source=table.source, format=fmt, problems=problems, sha256=table.sha256)


def file_columns(
    source: str | Path | bytes, *, filename: str | None = None, settings: Settings | None = None
) -> list[str]:
    """The columns (keys) of a problem file, for building a column mapping."""
    return _read(source, filename, settings).columns


def import_seed_file(
    store: Store,
    source: str | Path | bytes,
    *,
    name: str,
    filename: str | None = None,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    replace: bool = False,
) -> SeedSetInfo:
    """Load a file and store it as seed set ``name`` — all or nothing.

    Everything is parsed and validated before the store is touched; the write itself is one
    transaction. On any error the store is unchanged.
    """
    loaded = load_problems(
        source, filename=filename, format=format, mapping=mapping, settings=settings
    )
    return loaded.save(store, name, replace=replace)


def bundled_seeds_path() -> Path:
    """Path of the bundled seed file (``data/seeds/bundled.jsonl``)."""
    return _DATA_DIR / "seeds" / "bundled.jsonl"


def load_bundled_seeds() -> LoadedSeeds:
    """The bundled seed problems, validated (original problems written for InfoSynth)."""
    return load_problems(bundled_seeds_path(), format="canonical")


def ensure_bundled_seed_set(store: Store) -> SeedSetInfo:
    """Import the bundled seeds as seed set ``"bundled"`` unless it is already there."""
    if not store.has_seed_set(BUNDLED_SEED_SET):
        loaded = load_bundled_seeds()
        try:
            loaded.save(store, BUNDLED_SEED_SET)
        except SeedSetExistsError:
            pass  # another process imported it first
    return store.get_seed_set(BUNDLED_SEED_SET)
