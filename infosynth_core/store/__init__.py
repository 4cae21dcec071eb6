"""The SQLite store (WAL, numbered migrations, transactional multi-row writes)."""

from .migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from .store import Attempt, RunInfo, SeedSetInfo, Store, StoredProblem, utc_now

__all__ = [
    "Store",
    "SeedSetInfo",
    "RunInfo",
    "StoredProblem",
    "Attempt",
    "LATEST_VERSION",
    "MIGRATIONS",
    "current_version",
    "migrate",
    "utc_now",
]
