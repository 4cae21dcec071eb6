"""Seed sets: load problem files in any supported format, import them into the store, and
the bundled seed set that ships in ``data/seeds/``.

An import is all or nothing. Every failure is an :class:`~infosynth_core.errors.InfoSynthError`
that names the file and, where it applies, the line/row, the field and the reason
(:class:`~infosynth_core.errors.RecordValidationError` for record problems,
:class:`~infosynth_core.errors.FileTooLargeError` / ``ImportLimitError`` for limits,
:class:`~infosynth_core.errors.UnsupportedFileError` for encodings and unreadable files,
:class:`~infosynth_core.errors.DroppedDataError` when data would be lost). Limits are in
:mod:`infosynth_core.limits`; what happens to columns a format does not use is in
:mod:`infosynth_core.formats`.

>>> from infosynth_core import Store, import_seed_file
>>> store = Store("data/infosynth.db")                      # doctest: +SKIP
>>> import_seed_file(store, "mbpp.jsonl", name="mbpp")      # doctest: +SKIP
SeedSetInfo(name='mbpp', n_problems=974, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._version import __version__
from .config import Settings
from .errors import ImportLimitError, InfoSynthError, SeedSetExistsError
from .formats import convert_records
from .limits import ImportLimits
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
    #: columns the format does not use, kept in each problem's metadata['extra_columns']
    kept_columns: tuple[str, ...] = ()
    #: ``{column: non-empty cells}`` dropped on request (``allow_dropped_columns=True``)
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """What this import loses or moves, in words (empty when nothing)."""
        out = []
        if self.dropped:
            listed = ", ".join(f"'{c}' ({n:,} non-empty cells)" for c, n in self.dropped.items())
            out.append(f"{self.source}: dropped column(s) {listed} (read as {self.format}).")
        if self.kept_columns:
            listed = ", ".join(f"'{c}'" for c in self.kept_columns)
            out.append(
                f"{self.source}: column(s) {listed} are not used by the {self.format} format; "
                "kept in each problem's metadata['extra_columns']."
            )
        return out

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
            "kept_columns": list(self.kept_columns),
            "dropped_columns": dict(self.dropped),
            "imported_at": utc_now(),
            "infosynth_version": __version__,
        }


def _read(source: str | Path | bytes, filename: str | None, settings: Settings | None) -> RawTable:
    return read_table(
        source, filename=filename, limits=ImportLimits.from_settings(settings or Settings())
    )


def _name_of(source: str | Path | bytes, filename: str | None) -> str:
    if filename:
        return filename
    return Path(source).name if isinstance(source, (str, Path)) else "input"


def load_problems(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    allow_dropped_columns: bool = False,
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
        Import limits (``max_import_mb`` in MiB, on disk and decoded; ``max_import_records``;
        ``max_statement_chars`` in characters); defaults if None. Nesting depth (64) and
        number length (4,300 digits) are fixed: see :mod:`infosynth_core.limits`.
    allow_dropped_columns
        Import even when solution/test columns would go unused or a canonical file has
        unknown fields; they are dropped and listed in ``LoadedSeeds.dropped``/``warnings``.

    Raises
    ------
    FileTooLargeError, ImportLimitError, UnsupportedFileError, FormatDetectionError,
    DroppedDataError, RecordValidationError
        Each message names the file, the rows/fields at fault, the values and the fix.
    """
    settings = settings or Settings()
    try:
        table = _read(source, filename, settings)
        conv = convert_records(
            table.records,
            format=format,
            mapping=mapping,
            columns=table.columns,
            source=table.source,
            allow_dropped_columns=allow_dropped_columns,
        )
        problems = validate_records(
            conv.records,
            source=f"{table.source} (read as {conv.format})",
            max_statement_chars=settings.max_statement_chars,
        )
    except InfoSynthError:
        raise
    except (RecursionError, MemoryError) as exc:  # a limit the checks above did not foresee
        raise ImportLimitError(
            f"'{_name_of(source, filename)}' cannot be imported within this process's limits "
            f"({type(exc).__name__}); nothing was imported. Split or simplify the file."
        ) from None
    return LoadedSeeds(
        source=table.source,
        format=conv.format,
        problems=problems,
        sha256=table.sha256,
        kept_columns=conv.kept_columns,
        dropped=conv.dropped,
    )


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
    allow_dropped_columns: bool = False,
) -> SeedSetInfo:
    """Load a file and store it as seed set ``name`` — all or nothing.

    Everything is parsed and validated before the store is touched; the write itself is one
    transaction. On any error the store is unchanged. Parameters as in :func:`load_problems`;
    use :func:`load_problems` and :meth:`LoadedSeeds.save` to see its ``warnings`` first.
    """
    loaded = load_problems(
        source,
        filename=filename,
        format=format,
        mapping=mapping,
        settings=settings,
        allow_dropped_columns=allow_dropped_columns,
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
