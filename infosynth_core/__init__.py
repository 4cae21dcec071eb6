"""InfoSynth core: synthesize novel, diverse, verified Python coding benchmarks.

The library behind the ``infosynth`` command and the Streamlit dashboard (which only calls
these public names and draws). Method: InfoSynth, arXiv 2601.00575.
"""

from . import _threadsafe_ast  # noqa: F401  (must come first: see the module)
from . import numba_cache as _numba_cache  # noqa: F401  (before numba: see the module)
from ._version import __version__
from .config import LLMConfig, RunConfig, Settings, load_run_config
from .errors import (
    BudgetExceededError,
    ConfigError,
    DroppedDataError,
    ExportError,
    FileTooLargeError,
    FormatDetectionError,
    ImportLimitError,
    InfoSynthError,
    LLMError,
    NotFoundError,
    RecordIssue,
    RecordValidationError,
    RunControlError,
    SeedSetExistsError,
    StoreError,
    UnsupportedFileError,
    VerdictError,
)
from .export import (
    EXPORT_FORMATS,
    ExportInfo,
    ExportResult,
    export_from_store,
    export_problems,
    find_exports,
)
from .formats import FORMATS, detect_format
from .problem import DIFFICULTIES, OPERATORS, REVIEWS, STATUSES, Origin, Problem
from .seeds import (
    BUNDLED_SEED_SET,
    LoadedSeeds,
    bundled_seeds_path,
    ensure_bundled_seed_set,
    file_columns,
    import_seed_file,
    load_bundled_seeds,
    load_problems,
)
from .store import Attempt, RunInfo, SeedSetInfo, Store, StoredProblem

__all__ = [
    "__version__",
    "Settings",
    "RunConfig",
    "LLMConfig",
    "load_run_config",
    "LLMError",
    "BudgetExceededError",
    "RunControlError",
    "VerdictError",
    "Problem",
    "Origin",
    "DIFFICULTIES",
    "OPERATORS",
    "REVIEWS",
    "STATUSES",
    "Store",
    "SeedSetInfo",
    "RunInfo",
    "StoredProblem",
    "Attempt",
    "FORMATS",
    "detect_format",
    "LoadedSeeds",
    "file_columns",
    "load_problems",
    "import_seed_file",
    "BUNDLED_SEED_SET",
    "bundled_seeds_path",
    "load_bundled_seeds",
    "ensure_bundled_seed_set",
    "EXPORT_FORMATS",
    "ExportInfo",
    "ExportResult",
    "export_problems",
    "export_from_store",
    "find_exports",
    "InfoSynthError",
    "ConfigError",
    "RecordIssue",
    "RecordValidationError",
    "FormatDetectionError",
    "FileTooLargeError",
    "ImportLimitError",
    "DroppedDataError",
    "UnsupportedFileError",
    "StoreError",
    "SeedSetExistsError",
    "NotFoundError",
    "ExportError",
]
