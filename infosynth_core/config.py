"""Validated configuration objects.

``Settings`` holds the application-level settings (where the store lives, import limits).
Unknown keys are errors. Environment variables are read only by :meth:`Settings.from_env`,
which the entry points (CLI, dashboard) call; nothing below them reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

__all__ = ["Settings", "DEFAULT_DB_PATH", "ENV_VARS", "validated"]

DEFAULT_DB_PATH = Path("data") / "infosynth.db"

#: environment variable -> Settings field
ENV_VARS = {
    "INFOSYNTH_DB": "db_path",
    "INFOSYNTH_MAX_IMPORT_MB": "max_import_mb",
    "INFOSYNTH_MAX_IMPORT_RECORDS": "max_import_records",
}


def validated(model: type[BaseModel], data: Mapping[str, Any], *, what: str) -> Any:
    """Validate ``data`` into ``model``; raise ConfigError naming field, value and fix."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(model.model_fields)
                lines.append(f"unknown key '{field}' (allowed: {allowed})")
            else:
                lines.append(f"'{field}' = {err.get('input')!r}: {err['msg']}")
        raise ConfigError(f"Invalid {what}: " + "; ".join(lines)) from None


class Settings(BaseModel):
    """Application settings.

    Parameters
    ----------
    db_path
        SQLite file of the store. Default ``data/infosynth.db`` (relative to the working
        directory). Environment: ``INFOSYNTH_DB``.
    max_import_mb
        Largest input file an import accepts, in MiB (default 50). ``INFOSYNTH_MAX_IMPORT_MB``.
    max_import_records
        Most records one import accepts (default 200,000). ``INFOSYNTH_MAX_IMPORT_RECORDS``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_path: Path = DEFAULT_DB_PATH
    max_import_mb: float = Field(default=50.0, gt=0, le=4096)
    max_import_records: int = Field(default=200_000, gt=0)

    @property
    def max_import_bytes(self) -> int:
        """The import size limit in bytes."""
        return int(self.max_import_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``INFOSYNTH_*`` variables, then explicit overrides (None = unset)."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {
            field: env[var] for var, field in ENV_VARS.items() if env.get(var, "").strip()
        }
        data.update({k: v for k, v in overrides.items() if v is not None})
        return validated(cls, data, what="settings")
