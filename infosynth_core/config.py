"""Validated configuration objects.

``Settings`` holds the application-level settings (where the store lives, import limits).
Unknown keys are errors. Environment variables are read only by :meth:`Settings.from_env`,
which the entry points (CLI, dashboard) call; nothing below them reads the environment.
"""

from __future__ import annotations

import json
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

__all__ = [
    "Settings",
    "DEFAULT_DB_PATH",
    "ENV_VARS",
    "validated",
    "RunConfig",
    "LLMConfig",
    "Prices",
    "SandboxConfig",
    "MetricsConfig",
    "load_run_config",
    "nest_dotted",
]

DEFAULT_DB_PATH = Path("data") / "infosynth.db"

#: environment variable -> Settings field
ENV_VARS = {
    "INFOSYNTH_DB": "db_path",
    "INFOSYNTH_MAX_IMPORT_MB": "max_import_mb",
    "INFOSYNTH_MAX_IMPORT_RECORDS": "max_import_records",
    "INFOSYNTH_MAX_STATEMENT_CHARS": "max_statement_chars",
}


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    """The field names of the (nested) model at ``path`` (for "allowed keys" messages)."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:
            return list(model.model_fields)
        options = typing.get_args(field.annotation) or (field.annotation,)
        sub = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        if not sub:
            return list(model.model_fields)
        model = sub[0]
    return list(model.model_fields)


def validated(model: type[BaseModel], data: Mapping[str, Any], *, what: str) -> Any:
    """Validate ``data`` into ``model``; raise ConfigError naming field, value and fix."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(_fields_at(model, err["loc"][:-1]))
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
        Largest input an import accepts, in MiB (default 50), both as stored on disk and once
        decoded (a compressed Parquet file is measured by its uncompressed data).
        ``INFOSYNTH_MAX_IMPORT_MB``.
    max_import_records
        Most records one import accepts (default 200,000). ``INFOSYNTH_MAX_IMPORT_RECORDS``.
    max_statement_chars
        Longest problem statement an import accepts, in characters (default 50,000).
        ``INFOSYNTH_MAX_STATEMENT_CHARS``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_path: Path = DEFAULT_DB_PATH
    max_import_mb: float = Field(default=50.0, gt=0, le=4096)
    max_import_records: int = Field(default=200_000, gt=0)
    max_statement_chars: int = Field(default=50_000, gt=0)

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


# ============================================================================ run config
"""The one validated configuration of a synthesis run (``infosynth run --config FILE``).

Read from TOML, YAML or JSON; unknown keys are errors that name the key and the allowed ones.
Defaults give a small offline run on the bundled seeds that finishes in a few minutes on two
cores. Paper defaults (MBPP-Guided, arXiv 2601.00575): ``n_problems=1000, colonies=10,
seeds_per_colony=30, crossover_count=3, crossover_batch=5, feedback_rounds=3``, k-farthest on.

Example (TOML)::

    name = "demo"
    seed_set = "bundled"
    engine = "llm"
    generations = 3

    [llm]
    base_url = "http://127.0.0.1:8000/v1"
    model = "Qwen/Qwen2.5-Coder-7B-Instruct"
    api_key_env = "OPENAI_API_KEY"
    concurrency = 16
    budget_usd = 5.0
"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Strict):
    """Price table of one model, in US dollars per million tokens."""

    prompt_usd_per_mtok: float = Field(ge=0)
    completion_usd_per_mtok: float = Field(ge=0)


class LLMConfig(_Strict):
    """An OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM).

    The API key is never part of the config: ``api_key_env`` names the environment variable
    that holds it (servers that need no key accept any value; "EMPTY" is sent when unset).
    Times in seconds; ``rpm`` requests and ``tpm`` tokens per minute (None = no limit);
    ``budget_usd`` (needs ``prices``) and ``budget_tokens`` stop the run cleanly when spent.
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = Field(min_length=1)
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(default=8, ge=1, le=1024)
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=6, ge=0, le=50)
    backoff_s: float = Field(default=1.0, ge=0, le=600)
    backoff_max_s: float = Field(default=60.0, ge=0, le=3600)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=2048, ge=16, le=200_000)
    prices: Prices | None = None
    budget_usd: float | None = Field(default=None, gt=0)
    budget_tokens: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _budget_needs_prices(self) -> LLMConfig:
        if self.budget_usd is not None and self.prices is None:
            raise ValueError(
                "budget_usd needs a price table: set llm.prices.prompt_usd_per_mtok and "
                "llm.prices.completion_usd_per_mtok, or use budget_tokens instead"
            )
        return self


class SandboxConfig(_Strict):
    """Limits of every verification run: ``timeout_s`` CPU seconds of the run's processes
    (wall-clock backstop 3 x + 5 s), ``memory_mb`` MiB; ``workers`` None = one per core."""

    timeout_s: float = Field(default=10.0, gt=0, le=600)
    memory_mb: int = Field(default=512, ge=64, le=65536)
    workers: int | None = Field(default=None, ge=1, le=256)
    isolation: Literal["auto", "bubblewrap", "process"] = "auto"


class MetricsConfig(_Strict):
    """Per-generation novelty (KL, nats) and diversity (entropy, nats) in a joint UMAP of
    sentence embeddings, raw and calibrated against held-out seeds at a common N (see
    :mod:`infosynth_core.calibrated`). ``runs`` UMAP fits per generation (the paper averages
    10), ``draws`` subsample draws per fit, ``dim`` the projection's dimension, ``k`` the k-NN
    order; at most ``max_n`` problems per set enter a fit (bounded cost), and below ``min_n``
    the calibrated values read "too few"."""

    enabled: bool = True
    embedding_model: str = "default"
    dim: int = Field(default=10, ge=2, le=64)
    k: int = Field(default=4, ge=1, le=50)
    runs: int = Field(default=10, ge=1, le=100)
    draws: int = Field(default=10, ge=1, le=1000)
    max_n: int = Field(default=500, ge=10, le=100_000)
    min_n: int = Field(default=30, ge=3, le=100_000)

    @model_validator(mode="after")
    def _min_n_above_k(self) -> MetricsConfig:
        if self.min_n <= self.k + 1:
            raise ValueError(
                f"metrics.min_n ({self.min_n}) must exceed metrics.k + 1 ({self.k + 1})"
            )
        return self


class RunConfig(_Strict):
    """A synthesis run. Symbols as in the paper: N = ``n_problems``, N_c = ``colonies``,
    B_s = ``seeds_per_colony``, r = ``mutation_ratio``, B_c = ``crossover_batch``,
    C = ``crossover_count``, N_it = ``feedback_rounds``.

    The run stops when ``n_problems`` problems are verified or after ``generations``
    generations, whichever comes first. In each generation every colony takes
    ``steps_per_generation`` operator steps; a step is a mutation (probability r: an easier,
    an equal and a harder variant of one problem) or a crossover (C new problems, each from a
    batch of B_c problems). With ``k_farthest`` on, of each step's candidates only ``keep``
    survive: those least similar (cosine, ``similarity`` nearest or mean) to the colony.
    ``feedback_rounds`` (N_it) counts the rounds of feedback *after* the first solve, as in
    the paper: 3 means up to 4 solve → test attempts; 0 means one attempt, no feedback.
    """

    name: str = ""
    seed_set: str = "bundled"
    engine: Literal["offline", "llm"] = "offline"
    llm: LLMConfig | None = None
    random_state: int = 0
    n_problems: int = Field(default=1000, ge=1, le=1_000_000)
    generations: int = Field(default=3, ge=1, le=10_000)
    colonies: int = Field(default=3, ge=1, le=1000)
    seeds_per_colony: int = Field(default=10, ge=1, le=100_000)
    steps_per_generation: int = Field(default=10, ge=1, le=10_000)
    mutation_ratio: float = Field(default=0.5, ge=0, le=1)
    crossover_batch: int = Field(default=3, ge=2, le=50)
    crossover_count: int = Field(default=3, ge=1, le=50)
    k_farthest: bool = True
    keep: int = Field(default=2, ge=1, le=50)
    similarity: Literal["nearest", "mean"] = "nearest"
    feedback_rounds: int = Field(default=3, ge=0, le=20)
    dedup_threshold: float = Field(default=0.75, gt=0, le=1)
    dedup_permutations: int = Field(default=250, ge=16, le=4096)
    rephrase: bool = False
    #: mutants per verified problem for its mutation score (0 = no score); see mutants.py
    mutation_mutants: int = Field(default=8, ge=0, le=64)
    sandbox: SandboxConfig = SandboxConfig()
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _engine_needs_llm(self) -> RunConfig:
        if self.engine == "llm" and self.llm is None:
            raise ValueError(
                "engine 'llm' needs an [llm] section with at least model (and base_url)"
            )
        if self.rephrase and self.engine != "llm":
            raise ValueError("rephrase needs engine 'llm' (the offline engine cannot rephrase)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the run config {path}: {exc.strerror}.") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"The run config {path} has the extension {suffix!r}; use .toml, .yaml, "
                ".yml or .json."
            )
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"The run config {path} is not valid {suffix[1:]}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"The run config {path} must hold a table/mapping at the top level.")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def config_value(config: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key of a config dict (``"llm.budget_tokens"``), None if absent."""
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def nest_dotted(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"llm.model": "m", "colonies": 3}`` -> ``{"llm": {"model": "m"}, "colonies": 3}``;
    None values are dropped (unset flags and form fields)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def load_run_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> RunConfig:
    """The run config from a file (TOML/YAML/JSON), then ``overrides`` (nested mappings, e.g.
    ``{"llm": {"model": "m"}}``; None values are ignored). Raises ConfigError naming the key."""
    data: dict[str, Any] = _read(Path(path)) if path is not None else {}
    clean = {k: v for k, v in (overrides or {}).items() if v is not None}
    return validated(RunConfig, _merge(data, clean), what="run config")
