"""InfoSynth's own exception classes.

Every error names what is at fault (a parameter, a field, a row, a file), the value, and what
to do about it, so that the CLI and the dashboard can show it as-is instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "InfoSynthError",
    "ConfigError",
    "RecordIssue",
    "RecordValidationError",
    "FormatDetectionError",
    "ImportLimitError",
    "FileTooLargeError",
    "UnsupportedFileError",
    "DroppedDataError",
    "StoreError",
    "SeedSetExistsError",
    "NotFoundError",
    "ExportError",
    "LLMError",
    "BudgetExceededError",
    "RunControlError",
    "VerdictError",
]


class InfoSynthError(Exception):
    """Base class of every error InfoSynth raises on purpose."""


class ConfigError(InfoSynthError, ValueError):
    """A configuration value is missing, unknown or out of range."""


@dataclass(frozen=True)
class RecordIssue:
    """One problem found in one input record.

    ``where`` locates the record in its file ("line 12", "row 5"), ``field`` names the field
    (or "" for the whole record), ``value`` is a short repr of the offending value.
    """

    where: str
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        field = f" field '{self.field}'" if self.field else ""
        value = f" (got {self.value})" if self.value else ""
        return f"{self.where}:{field} {self.reason}{value}"


class RecordValidationError(InfoSynthError, ValueError):
    """One or more input records are invalid; nothing was stored.

    ``issues`` lists every offending record (up to ``max_listed`` in the message).
    """

    def __init__(self, source: str, issues: list[RecordIssue], *, max_listed: int = 20):
        self.source = source
        self.issues = list(issues)
        shown = "\n".join(f"  - {i}" for i in self.issues[:max_listed])
        more = len(self.issues) - max_listed
        tail = f"\n  … and {more} more" if more > 0 else ""
        n_records = len({i.where for i in self.issues})
        super().__init__(
            f"{source}: {len(self.issues)} problem(s) in {n_records} record(s); nothing was "
            f"imported. Fix these and import again:\n{shown}{tail}"
        )


class FormatDetectionError(InfoSynthError, ValueError):
    """The columns of an input file match no known format."""


class ImportLimitError(InfoSynthError, ValueError):
    """An input file is over an import limit: decoded bytes, records, nesting depth, …

    The message names the file, the limit, its value and how to raise it.
    """


class FileTooLargeError(ImportLimitError):
    """An input file is larger than the configured limit (on disk or once decoded)."""


class UnsupportedFileError(InfoSynthError, ValueError):
    """An input file has an extension, encoding or structure InfoSynth cannot read."""


class DroppedDataError(InfoSynthError, ValueError):
    """An import would lose columns, rows or fields; nothing was stored.

    The message names what would be lost and the opt-in that accepts the loss
    (``allow_dropped_columns=True``, ``--drop-unused``, the Seeds page checkbox).
    """


class StoreError(InfoSynthError, RuntimeError):
    """The SQLite store cannot be opened, migrated or written."""


class SeedSetExistsError(StoreError):
    """A seed set with this name already exists."""


class NotFoundError(InfoSynthError, LookupError):
    """A run, seed set or problem that was asked for does not exist."""


class ExportError(InfoSynthError, RuntimeError):
    """An export could not be written."""


class LLMError(InfoSynthError, RuntimeError):
    """A model endpoint failed after every retry (HTTP error, timeout, refused connection)."""


class BudgetExceededError(InfoSynthError, RuntimeError):
    """The run's token or cost budget is spent; the run stops cleanly at the next step."""


class VerdictError(InfoSynthError, ValueError):
    """A review decision the sandbox's verdict does not support (accepting a problem that did
    not pass) without an explicit override."""


class RunControlError(InfoSynthError, RuntimeError):
    """A run cannot be started, resumed, paused or stopped in its current state."""
