"""Read Parquet files within the import limits, streaming and single-threaded.

Checks, in order, each before the data it guards is decoded:

1. the footer: the declared number of rows (``max_records``) and the declared uncompressed
   size of the data (``max_import_mb``, in MiB), so that a small file that inflates to
   gigabytes is refused without decompressing it;
2. the schema: distinct column names, nesting at most :data:`~infosynth_core.limits.MAX_DEPTH`
   levels;
3. the rows, one batch at a time: text columns are read dictionary-encoded, so each batch's
   decoded size (every value counted as often as it occurs, which catches dictionary "bombs"
   that the declared size does not show) is added up and checked before the batch becomes
   Python objects.

Only ``pq.ParquetFile`` is used, with ``iter_batches(use_threads=False)`` and
``pre_buffer=False``: every read happens on the calling thread. ``pq.read_table`` goes through
``pyarrow.dataset``, whose scanner reads ahead on Arrow's I/O thread pool even with
``use_threads=False``; when a corrupt file raised, such a read could still be in flight as the
interpreter exited, and the process aborted ("terminate called without an active exception",
SIGABRT) after printing the right error, in about 1 run in 130 here. A file whose footer lies
about its sizes can still make pyarrow decompress one page before the batch check sees it.

Null cells and float NaN cells (how pandas writes a missing number) are absent values.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import FileTooLargeError, InfoSynthError, UnsupportedFileError
from .limits import MAX_DEPTH, ImportLimits, mib

__all__ = ["read_parquet"]

_BATCH_ROWS = 1024


def _type_depth(t: Any) -> int:
    n = getattr(t, "num_fields", 0)
    return 1 + max((_type_depth(t.field(i).type) for i in range(n)), default=0)


def _decoded_bytes(arr: Any) -> int:
    """Bytes of ``arr`` once every value is materialised (dictionaries expanded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_dictionary(t):
        values = arr.dictionary
        vt = values.type
        if not any(
            f(vt)
            for f in (
                pa.types.is_string,
                pa.types.is_binary,
                pa.types.is_large_string,
                pa.types.is_large_binary,
            )
        ):
            return _decoded_bytes(arr.dictionary_decode())  # numbers: no bigger than indices
        lengths = pc.fill_null(pc.binary_length(values), 0)
        total = pc.sum(pc.take(lengths, arr.indices)).as_py() or 0
        return int(total) + 4 * len(arr)
    if pa.types.is_struct(t):
        return sum(_decoded_bytes(f) for f in arr.flatten()) + len(arr)
    if isinstance(arr, (pa.ListArray, pa.LargeListArray, pa.FixedSizeListArray)):
        return _decoded_bytes(arr.flatten()) + 8 * len(arr)
    return int(arr.nbytes)


def read_parquet(name: str, data: bytes, limits: ImportLimits) -> list[tuple[str, dict[str, Any]]]:
    """The rows of Parquet ``data`` as ``("row N", record)`` pairs; None values left out.

    Raises FileTooLargeError (rows, declared or decoded size) or UnsupportedFileError.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return _read(name, data, limits, pa, pq)
    except InfoSynthError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UnsupportedFileError(f"'{name}' is not a readable Parquet file ({reason}).") from None
    except (MemoryError, RecursionError) as exc:
        raise UnsupportedFileError(
            f"'{name}' cannot be read within the import limits ({type(exc).__name__})."
        ) from None


def _read(name: str, data: bytes, limits: ImportLimits, pa: Any, pq: Any) -> list:
    probe = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False)
    meta = probe.metadata
    if meta.num_rows > limits.max_records:
        raise FileTooLargeError(limits.records_message(name, meta.num_rows))
    declared = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        chunks = sum(group.column(j).total_uncompressed_size for j in range(group.num_columns))
        declared += max(group.total_byte_size, chunks)
    if declared > limits.max_bytes:
        raise FileTooLargeError(
            limits.bytes_message(
                name, declared, "holds", f" of uncompressed data ({mib(len(data))} on disk)"
            )
        )
    schema = probe.schema_arrow
    names = schema.names
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise UnsupportedFileError(
            f"'{name}' has two columns named {dup!r}; every column needs its own name."
        )
    depth = max((_type_depth(f.type) for f in schema), default=0)
    if depth > MAX_DEPTH:
        raise UnsupportedFileError(
            f"'{name}' nests its column types {depth} levels deep; the limit is {MAX_DEPTH}."
        )
    text_paths = [
        probe.schema.column(i).path
        for i in range(len(probe.schema))
        if probe.schema.column(i).physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")
    ]
    reader = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False, read_dictionary=text_paths)
    records: list[tuple[str, dict[str, Any]]] = []
    decoded = 0
    for batch in reader.iter_batches(batch_size=_BATCH_ROWS, use_threads=False):
        decoded += sum(_decoded_bytes(col) for col in batch.columns)
        if decoded > limits.max_bytes:
            raise FileTooLargeError(
                limits.bytes_message(
                    name,
                    decoded,
                    "decodes to at least",
                    f" ({mib(len(data))} on disk; repeated values are counted each time)",
                )
            )
        if len(records) + batch.num_rows > limits.max_records:
            raise FileTooLargeError(limits.records_message(name, f"over {limits.max_records:,}"))
        for rec in batch.to_pylist():
            n = len(records) + 1
            records.append((f"row {n}", {k: v for k, v in rec.items() if not _absent(v)}))
    return records


def _absent(value: Any) -> bool:
    """None, and float NaN (how pandas writes a missing number), are absent values."""
    return value is None or (isinstance(value, float) and math.isnan(value))
