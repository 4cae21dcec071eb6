"""What every candidate generator (engine) provides, and the records it exchanges with the
genetic loop (``evolve.py``) and the verification loop (``verify.py``).

An engine proposes **candidates** (new problem statements, with a reference solution when it
has one), then **solves** a candidate: it writes a solution and pytest tests (a :class:`Draft`)
that the sandbox runs. When a draft fails, ``solve`` is called again with the full history of
drafts and their execution results, up to the run's feedback rounds (N_it).

Two engines exist: ``engines.offline.OfflineEngine`` (program composition, no model) and
``engines.llm.LLMEngine`` (any OpenAI-compatible endpoint through ``llm.client.LLMClient``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..problem import Problem
    from ..sandbox import RunResult

__all__ = ["Usage", "Candidate", "Proposal", "Draft", "Round", "Engine", "MUTATION_LEVELS"]

#: mutation level -> operator name in the problem record
MUTATION_LEVELS = {"easy": "mutation-easy", "medium": "mutation-medium", "hard": "mutation-hard"}


@dataclass(frozen=True)
class Usage:
    """Tokens and money one engine call spent. ``cached`` calls cost nothing."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.cached_calls + other.cached_calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cached_calls": self.cached_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True)
class Candidate:
    """A proposed new problem, before verification.

    ``operator`` is one of mutation-easy | mutation-medium | mutation-hard | crossover;
    ``parents`` are the ids of the problems it came from. ``solution`` is a reference the engine
    already has (the offline engine composes one; the LLM engine leaves it None and writes one
    in :meth:`Engine.solve`). ``payload`` is engine-private, JSON-serializable data that
    ``solve`` needs later (e.g. the offline engine's test inputs); it is stored with the problem
    so a resumed run can continue.
    """

    problem: str
    operator: str
    parents: tuple[str, ...]
    entry_point: str | None = None
    solution: str | None = None
    topics: tuple[str, ...] = ()
    difficulty: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    """The candidates one operator step produced, how many answers could not be parsed into a
    candidate (``unparsable``), and what it cost."""

    candidates: list[Candidate]
    unparsable: int = 0
    usage: Usage = Usage()
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Draft:
    """A solution and pytest tests for a candidate, or an unparsable answer.

    ``unparsable`` is True when the engine's answer had no usable solution or tests (``note``
    says why); the verification loop counts it and may ask again.
    """

    solution: str | None
    tests: str | None
    entry_point: str | None = None
    unparsable: bool = False
    note: str = ""
    usage: Usage = Usage()


@dataclass(frozen=True)
class Round:
    """One verification round: the draft and what the sandbox said about it (None when the
    draft was unparsable and nothing ran)."""

    draft: Draft
    result: RunResult | None


@runtime_checkable
class Engine(Protocol):
    """A candidate generator. All methods are coroutines so LLM calls run concurrently; an
    engine never raises because a model answered badly (that is ``unparsable``), only for
    configuration errors, :class:`~infosynth_core.errors.BudgetExceededError` and
    :class:`~infosynth_core.errors.LLMError` after every retry failed."""

    name: str  # "offline" | "llm"
    model: str  # what made the problems, recorded in manifests

    async def mutate(self, parent: Problem, *, rng: random.Random) -> Proposal:
        """An easier, an equal and a harder variant of ``parent`` (up to 3 candidates)."""
        ...

    async def crossover(
        self, parents: Sequence[Problem], *, count: int, rng: random.Random
    ) -> Proposal:
        """Up to ``count`` new problems, each combining several of ``parents``."""
        ...

    async def solve(self, candidate: Candidate, history: Sequence[Round]) -> Draft:
        """A solution and tests for ``candidate``; ``history`` holds every earlier round."""
        ...

    async def rephrase(self, problem: Problem) -> tuple[str | None, Usage]:
        """Post-processing: the statement rewritten so that the edge cases its tests demand
        are stated, or None when the engine cannot rephrase (the offline engine) or the answer
        was unusable."""
        ...

    async def aclose(self) -> None:
        """Release connections and processes."""
        ...
