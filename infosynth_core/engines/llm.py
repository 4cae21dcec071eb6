"""The LLM engine: candidates, solutions and tests from any OpenAI-compatible model.

Every method is one or more :meth:`LLMClient.complete` calls with a prompt from
:mod:`infosynth_core.llm.prompts`, whose answer :mod:`infosynth_core.llm.parsers` reads. A model
that answers badly never makes the engine raise: unusable mutation sections and crossover
answers are counted in :attr:`Proposal.unparsable`, unusable solve answers come back as an
unparsable :class:`Draft`. Only :class:`~infosynth_core.errors.LLMError` (the endpoint failed
after every retry) and :class:`~infosynth_core.errors.BudgetExceededError` propagate.

Cache keys and sampling seeds
    The client caches on (model, messages, temperature, max_tokens, seed, prompt version).
    Calls that must differ get different seeds: mutation and crossover draw theirs from the
    loop's ``rng`` (so a second mutation of the same parent asks anew, and a resumed run with
    the same ``random_state`` asks the same), evaluation samples use ``hash(random_state,
    sample)``. Calls that may repeat (solve, feedback, rephrase, tag) use one seed per
    ``random_state``, so identical calls are answered from the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, TypeVar

from ..errors import BudgetExceededError, ConfigError
from ..llm import parsers, prompts
from .base import MUTATION_LEVELS, Candidate, Draft, Proposal, Round, Usage

if TYPE_CHECKING:
    from ..llm.client import Completion, LLMClient
    from ..problem import Problem

__all__ = ["LLMEngine"]

_T = TypeVar("_T")
_LEVEL_WORD = {"easy": "easier", "medium": "equal", "hard": "harder"}


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


async def _gather_all(aws: Sequence[Awaitable[_T]]) -> list[_T]:
    """All results; when some call failed, every call is awaited first, then the first
    :class:`BudgetExceededError` (else the first error) is raised."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise next((e for e in errors if isinstance(e, BudgetExceededError)), errors[0])
    return list(results)  # type: ignore[arg-type]


class LLMEngine:
    """Candidate generator backed by an OpenAI-compatible model (see the module docstring).

    Parameters
    ----------
    client
        The :class:`~infosynth_core.llm.client.LLMClient` (limits, retries, budget, cache).
    random_state
        Seeds of the repeatable calls (solve, feedback, rephrase, tag, answer samples).
    topic_bank
        Topic names :meth:`tag` chooses from (default: the bundled LeetCode topic bank).
    """

    name = "llm"

    def __init__(
        self,
        client: LLMClient,
        *,
        random_state: int = 0,
        topic_bank: Sequence[str] | None = None,
    ) -> None:
        self.client = client
        self.random_state = random_state
        self.topic_bank = topic_bank
        self.model = client.config.model

    def __repr__(self) -> str:
        return f"LLMEngine(model={self.model!r}, random_state={self.random_state})"

    # ------------------------------------------------------------------ helpers
    def _seed(self, *parts: object) -> int:
        text = json.dumps([self.random_state, *parts], default=str)
        return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) & 0x7FFFFFFF

    async def _ask(
        self, messages: list[dict], purpose: str, *, seed: int, temperature: float | None = None
    ) -> Completion:
        return await self.client.complete(
            messages,
            purpose=purpose,
            prompt_version=prompts.PROMPT_VERSION,
            temperature=temperature,
            seed=seed,
        )

    # ------------------------------------------------------------------ operators
    async def mutate(self, parent: Problem, *, rng: random.Random) -> Proposal:
        """One call for an easier, an equal and a harder variant of ``parent``; each level
        whose section is missing, too short, cut off, names no function (the prompt asks
        for a signature) or copies the parent counts as unparsable."""
        c = await self._ask(prompts.mutation(parent), "mutation", seed=rng.randrange(2**31))
        variants = parsers.parse_variants(c.text, truncated=c.finish_reason == "length")
        candidates, notes = [], []
        for level, operator in MUTATION_LEVELS.items():
            statement = variants.get(level)
            why = None
            if statement is None:
                why = "no usable section"
            elif parsers.infer_entry_point(statement) is None:
                why = "the statement names no function"
            elif _same(statement, parent.problem):
                why = "a copy of the parent"
            elif any(_same(statement, c2.problem) for c2 in candidates):
                why = "a copy of another variant"
            if why:
                notes.append(f"mutation of {parent.id}: the {_LEVEL_WORD[level]} variant: {why}")
                continue
            candidates.append(
                Candidate(
                    problem=statement,
                    operator=operator,
                    parents=(parent.id,),
                    entry_point=parsers.infer_entry_point(statement),
                    payload={"level": level},
                )
            )
        if not candidates:
            notes.append(f"mutation of {parent.id}: answer began {_excerpt(c.text)!r}")
        return Proposal(candidates, unparsable=3 - len(candidates), usage=c.usage, notes=notes)

    async def _one_crossover(
        self, parents: Sequence[Problem], index: int, count: int, seed: int
    ) -> tuple[str | None, Completion]:
        messages = prompts.crossover(parents, index, count)
        c = await self._ask(messages, "crossover", seed=seed)
        return parsers.parse_problem(c.text, truncated=c.finish_reason == "length"), c

    async def crossover(
        self, parents: Sequence[Problem], *, count: int, rng: random.Random
    ) -> Proposal:
        """``count`` concurrent calls, each for one new problem combining ``parents``
        (request ``i`` of ``count`` suggests a different pair to build on)."""
        if count < 1:
            raise ConfigError(f"The 'count' parameter of crossover must be >= 1; got {count}.")
        if not parents:
            raise ConfigError("crossover needs at least one parent problem; got none.")
        seeds = [rng.randrange(2**31) for _ in range(count)]
        answers = await _gather_all(
            [self._one_crossover(parents, i, count, seeds[i]) for i in range(count)]
        )
        ids = tuple(p.id for p in parents)
        candidates: list[Candidate] = []
        notes, usage, bad = [], Usage(), 0
        for i, (statement, c) in enumerate(answers):
            usage = usage + c.usage
            why = None
            if statement is None:
                why = f"no usable statement (answer began {_excerpt(c.text)!r})"
            elif parsers.infer_entry_point(statement) is None:
                why = f"the statement names no function (it began {_excerpt(statement)!r})"
            elif any(_same(statement, p.problem) for p in parents):
                why = "a copy of a parent"
            elif any(_same(statement, k.problem) for k in candidates):
                why = "a copy of another crossover answer"
            if why:
                bad += 1
                notes.append(f"crossover {i + 1}/{count} of {', '.join(ids)}: {why}")
                continue
            candidates.append(
                Candidate(
                    problem=statement,
                    operator="crossover",
                    parents=ids,
                    entry_point=parsers.infer_entry_point(statement),
                    payload={"index": i},
                )
            )
        return Proposal(candidates, unparsable=bad, usage=usage, notes=notes)

    # ------------------------------------------------------------------ verification
    async def solve(self, candidate: Candidate, history: Sequence[Round]) -> Draft:
        """A solution and tests: the solve prompt for the first round, else the feedback
        prompt with every earlier round. An unusable answer is an unparsable Draft whose
        ``note`` says why (and keeps whatever part was usable)."""
        if history:
            messages = prompts.feedback(candidate.problem, history, candidate.entry_point)
            purpose = "feedback"
        else:
            messages = prompts.solve(candidate.problem, candidate.entry_point)
            purpose = "solve"
        c = await self._ask(messages, purpose, seed=self._seed("solve"))
        parsed = parsers.parse_solution_and_tests(
            c.text, entry_point=candidate.entry_point, statement=candidate.problem
        )
        if isinstance(parsed, parsers.ParsedCode):
            return Draft(
                parsed.solution,
                parsed.tests,
                parsed.entry_point,
                note="; ".join(parsed.notes),
                usage=c.usage,
            )
        note = parsed.reason
        if c.finish_reason == "length":
            note += " (the answer was cut off at llm.max_tokens)"
        return Draft(
            parsed.solution,
            parsed.tests,
            candidate.entry_point,
            unparsable=True,
            note=note,
            usage=c.usage,
        )

    # ------------------------------------------------------------------ post-processing
    async def rephrase(self, problem: Problem) -> tuple[str | None, Usage]:
        """The statement rewritten to state the edge cases its tests check; None when the
        answer has no usable statement or drops the entry point's name."""
        c = await self._ask(prompts.rephrase(problem), "rephrase", seed=self._seed("rephrase"))
        statement = parsers.parse_problem(c.text, truncated=c.finish_reason == "length")
        if statement and problem.entry_point:
            name = [part for part in re.split(r"[().]+", problem.entry_point) if part][-1]
            if name not in statement:
                return None, c.usage
        return statement, c.usage

    async def tag(self, statement: str) -> tuple[list[str], Usage]:
        """Up to 3 topic names from the topic bank (temperature 0)."""
        if self.topic_bank is not None:
            bank = list(self.topic_bank)
        else:
            from ..topics import topic_names

            bank = topic_names()
        c = await self._ask(
            prompts.tag(statement, bank), "tag", seed=self._seed("tag"), temperature=0.0
        )
        return parsers.parse_topics(c.text, bank), c.usage

    async def answer(self, problem: Problem, *, sample: int = 0) -> tuple[str | None, Usage]:
        """A test taker's code for ``problem`` (evaluation), or None when the answer held no
        usable code. Samples differ by seed, so each one is its own cache entry (with
        ``llm.temperature`` 0 most servers still give the same answer to every sample)."""
        entry = problem.entry_point or parsers.infer_entry_point(
            problem.problem, problem.tests, problem.solution
        )
        c = await self._ask(
            prompts.answer(problem.problem, entry), "answer", seed=self._seed("answer", sample)
        )
        return parsers.parse_code(c.text, entry_point=entry), c.usage

    async def aclose(self) -> None:
        await self.client.aclose()
