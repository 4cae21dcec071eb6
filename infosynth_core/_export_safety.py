"""The file-system side of exports: which targets may be written or replaced, and the swap.

The rules are stated in :mod:`infosynth_core.export`'s docstring; this module enforces them.
Nothing here removes a file or folder that was not verified, just before, to be a previous
InfoSynth export or something this export wrote itself.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ExportError

MARKER = "infosynth_export"  # manifest field: 1 in every manifest an export writes
HF_DATA = "data/test-00000-of-00001.parquet"
HF_FILES = frozenset({"manifest.json", "README.md", HF_DATA})
HF_DIRS = frozenset({"data"})
_MANIFEST_MAX_BYTES = 10 << 20
_DB_FILES = {
    "": "database",
    "-wal": "write-ahead log (-wal)",
    "-shm": "shared-memory file (-shm)",
    "-journal": "rollback journal (-journal)",
}

# renameat2(2) flags (linux/fs.h); AT_FDCWD makes the paths relative to the working directory.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
USE_RENAMEAT2 = sys.platform.startswith("linux")  # tests turn it off to exercise the fallback


class SwapBackError(ExportError):
    """A failed swap could not be undone; the previous export sits in the temporary folder,
    which must then be kept."""


@dataclass(frozen=True)
class Target:
    """A checked export target: ``path`` (resolved) and its manifest; ``replaces`` when a
    previous export is there and will be replaced."""

    given: Path
    path: Path
    manifest: Path
    replaces: bool

    def shown(self) -> str:
        """The path as the caller gave it, plus the absolute one when they differ."""
        return f"'{self.given}'" + ("" if str(self.given) == str(self.path) else f" ({self.path})")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path`` when it is an InfoSynth export manifest, else None."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MANIFEST_MAX_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if isinstance(data, dict) and data.get(MARKER) == 1:
        return data
    return None


def hf_export_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a previous HF-folder export (None when it is one)."""
    if folder.is_symlink():
        return "it is a symbolic link"
    if not folder.is_dir():
        return "it is a file, not an export folder"
    manifest = read_manifest(folder / "manifest.json")
    if manifest is None:
        return f'it is not an InfoSynth export (no manifest.json marked "{MARKER}": 1)'
    if manifest.get("format") != "hf":
        return f"its manifest.json is for a {manifest.get('format')!r} export, not an hf folder"
    extra = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        keep = []
        for d in dirs:
            name = (rel / d).as_posix()
            if name in HF_DIRS and not os.path.islink(os.path.join(root, d)):
                keep.append(d)
            else:
                extra.append(name + "/")
        dirs[:] = keep
        extra += [
            (rel / f).as_posix()
            for f in files
            if (rel / f).as_posix() not in HF_FILES or os.path.islink(os.path.join(root, f))
        ]
    if extra:
        shown = ", ".join(sorted(extra)[:5]) + (", …" if len(extra) > 5 else "")
        return f"it holds {len(extra)} item(s) an export does not write ({shown})"
    return None


def file_export_problem(data: Path, manifest: Path) -> str | None:
    """Why ``data`` (and its sibling ``manifest``) is not a previous JSONL/Parquet export."""
    for path in (data, manifest):
        if path.is_symlink():
            return f"'{path.name}' is a symbolic link"
        if path.exists() and not path.is_file():
            return f"'{path.name}' is a folder, not an export file"
    m = read_manifest(manifest)
    if m is None:
        if manifest.exists():
            return f"'{manifest.name}' beside it is not an InfoSynth export manifest"
        return f"it has no InfoSynth manifest beside it ('{manifest.name}')"
    if m.get("data_file") != data.name:
        return (
            f"'{manifest.name}' is the manifest of the export '{m.get('data_file')}', not of "
            f"'{data.name}'"
        )
    return None


def _protected_reason(path: Path, protect: Sequence[Path]) -> str | None:
    if path == Path(path.anchor):
        return "is the file-system root"
    home = Path.home().resolve()
    if home.is_relative_to(path):
        return "is your home folder" if home == path else f"holds your home folder ('{home}')"
    for db in protect:
        for suffix, what in _DB_FILES.items():
            if path == Path(f"{db}{suffix}"):
                return f"is the InfoSynth store's {what} (store: '{db}')"
        if db.is_relative_to(path):
            return f"holds the InfoSynth store ('{db}')"
    return None


def check_target(
    out: str | Path, format: str, *, overwrite: bool, protect: Iterable[str | Path] = ()
) -> Target:
    """Check that an export may write ``out``; raise ExportError saying why not otherwise."""
    given = Path(out)
    if given.is_symlink():
        raise ExportError(
            f"Refusing to export to '{given}': it is a symbolic link, and an export does not "
            "write through links. Give the real path instead."
        )
    path = given.resolve()
    manifest = path / "manifest.json" if format == "hf" else path
    if format != "hf" and path != Path(path.anchor):
        manifest = path.with_suffix(".manifest.json")
    stores = [Path(p).resolve() for p in protect]
    target = Target(given, path, manifest, replaces=False)
    for p in dict.fromkeys((path, manifest)):
        reason = _protected_reason(p, stores)
        if reason:
            where = f"'{p.name}' beside it " if p != path else "it "
            example = (stores[0].parent if stores else Path("exports")) / "exports" / "NAME"
            raise ExportError(
                f"Refusing to export to {target.shown()}: {where}{reason}. An export never "
                f"replaces or removes the store, a folder holding it, or your home folder. "
                f"Choose a new path, e.g. '{example}'."
            )
    present = [p for p in dict.fromkeys((path, manifest)) if os.path.lexists(p)]
    if not present:
        return target
    other = read_manifest(manifest) if format != "hf" and path not in present else None
    if other is not None and other.get("data_file") != path.name:
        raise ExportError(
            f"Refusing to export to {target.shown()}: '{manifest.name}' beside it is the "
            f"manifest of the export '{other.get('data_file')}', which this export would "
            "replace (JSONL and Parquet exports keep their manifest at <stem>.manifest.json). "
            "Choose another name or folder."
        )
    if not overwrite:
        which = target.shown() if path in present else f"'{manifest}'"
        raise ExportError(
            f"{which} already exists; choose another path, or pass overwrite=True "
            "(--overwrite) to replace a previous InfoSynth export."
        )
    reason = hf_export_problem(path) if format == "hf" else file_export_problem(path, manifest)
    if reason:
        raise ExportError(
            f"Refusing to overwrite {target.shown()}: {reason}. overwrite=True (--overwrite) "
            "replaces only a previous InfoSynth export and never removes anything else. "
            "Choose a new path, or move the old one away yourself if you mean to replace it."
        )
    return Target(given, path, manifest, replaces=True)


@functools.cache
def _libc_renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28 (musl, macOS): use the fallback
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """renameat2(2); False when this system or file system cannot do it (use the fallback)."""
    fn = _libc_renameat2() if USE_RENAMEAT2 else None
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _move_in(src: Path, dst: Path, aside: Path) -> Callable[[], None]:
    """Put ``src`` at ``dst``; a ``dst`` already there ends up at ``src`` (atomic exchange) or,
    without renameat2, at ``aside``. Returns the undo."""
    if os.path.lexists(dst):
        if _renameat2(src, dst, _RENAME_EXCHANGE):
            return lambda: _renameat2(src, dst, _RENAME_EXCHANGE) or _fail(dst)
        os.rename(dst, aside)
        try:
            os.rename(src, dst)
        except BaseException as exc:
            try:
                os.rename(aside, dst)
            except OSError as undo_exc:
                raise SwapBackError(_kept(exc, dst, aside, undo_exc)) from exc
            raise

        def undo() -> None:
            os.rename(dst, src)
            os.rename(aside, dst)

        return undo
    if not _renameat2(src, dst, _RENAME_NOREPLACE):
        os.rename(src, dst)
    return lambda: os.rename(dst, src)


def _fail(path: Path) -> None:
    raise OSError(errno.EIO, "could not swap back", str(path))


def swap_in(moves: Sequence[tuple[Path, Path, Path]]) -> None:
    """Move every ``(src, dst, aside)`` in; all or nothing: on a failure the moves done are
    undone and the error re-raised. An undo that fails raises ExportError naming ``src``."""
    undos: list[Callable[[], None]] = []
    try:
        for src, dst, aside in moves:
            undos.append(_move_in(src, dst, aside))
    except BaseException as exc:
        for (src, dst, _), undo in reversed(list(zip(moves, undos, strict=False))):
            try:
                undo()
            except OSError as undo_exc:
                raise SwapBackError(_kept(exc, dst, src.parent, undo_exc)) from exc
        raise


def _kept(exc: BaseException, dst: Path, where: Path, undo_exc: OSError) -> str:
    return (
        f"The export failed ({exc}) and the previous '{dst}' could not be put back "
        f"({undo_exc}); it is kept, untouched, under '{where}'. Move it back by hand."
    )


def remove_tmp(tmp: Path, allowed: Iterable[str]) -> bool:
    """Remove the temporary folder when it holds only ``allowed`` files (relative POSIX paths)
    and folders; otherwise leave it (something else got in) and return False."""
    allowed = set(allowed)
    for root, dirs, files in os.walk(tmp):
        rel = Path(root).relative_to(tmp)
        for name in [*dirs, *files]:
            if os.path.islink(os.path.join(root, name)):
                return False
        if any((rel / f).as_posix() not in allowed for f in files):
            return False
    try:
        shutil.rmtree(tmp)
    except OSError:  # cleanup only: never hide the export's own outcome behind this
        return False
    return True
