"""Verification with iterative code feedback (paper §3: solve → test → feedback, N_it rounds).

For one candidate problem the engine writes a solution and pytest tests (a
:class:`~infosynth_core.engines.base.Draft`); the sandbox runs them; when they do not pass,
the engine is asked again with the **full history** of earlier drafts and their (sanitized)
execution output, for up to ``rounds`` rounds in all. The first passing round wins.

Every round is returned as an :class:`~infosynth_core.store.Attempt` so the loop can store
it: unparsable answers, API errors and sandbox verdicts are all data, never swallowed.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from .engines.base import Candidate, Draft, Engine, Round, Usage
from .errors import BudgetExceededError, LLMError
from .sandbox import Sandbox
from .store import Attempt

__all__ = ["Verification", "verify_candidate"]


@dataclass
class Verification:
    """The outcome of verifying one candidate.

    ``status`` is passed when some round passed; otherwise the last round's status (failed,
    error, timeout or unparsable). ``solution``/``tests`` are those of the passing round, or
    of the last round that produced code. ``api_error`` holds the message when the endpoint
    failed after every retry (the candidate then ends with status ``error``).
    """

    status: str
    solution: str | None
    tests: str | None
    entry_point: str | None
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage = Usage()
    seconds: float = 0.0
    api_error: str | None = None


def _attempt(round_no: int, draft: Draft, result, seconds: float) -> Attempt:
    if result is None:
        return Attempt(
            round=round_no,
            status="unparsable",
            solution=draft.solution,
            tests=draft.tests,
            output=draft.note,
            duration_s=seconds,
            details={"usage": draft.usage.to_dict()},
        )
    attempt = result.to_attempt(round_no, solution=draft.solution, tests=draft.tests)
    details = dict(attempt.details)
    details["usage"] = draft.usage.to_dict()
    return Attempt(
        round=attempt.round,
        status=attempt.status,
        solution=attempt.solution,
        tests=attempt.tests,
        outcomes=attempt.outcomes,
        output=attempt.output,
        duration_s=attempt.duration_s,
        details=details,
    )


async def verify_candidate(
    candidate: Candidate,
    engine: Engine,
    sandbox: Sandbox,
    *,
    rounds: int = 3,
    executor: Executor | None = None,
    run_id: str = "candidate",
    on_attempt: Callable[[Attempt], Awaitable[None] | None] | None = None,
) -> Verification:
    """Solve → run → feed back, up to ``rounds`` rounds; see the module docstring.

    ``executor`` runs the blocking sandbox calls (default: asyncio's). ``on_attempt`` is
    called with each round's :class:`Attempt` as soon as it exists (the runner stores it).
    Raises only :class:`BudgetExceededError`; an :class:`LLMError` ends the candidate with
    status ``error`` and ``api_error`` set.
    """
    if rounds < 1:
        from .errors import ConfigError

        raise ConfigError(f"The 'rounds' parameter of verify_candidate must be >= 1; got {rounds}.")
    loop = asyncio.get_running_loop()
    history: list[Round] = []
    usage = Usage()
    out = Verification("unparsable", candidate.solution, None, candidate.entry_point)
    t0 = time.monotonic()
    for round_no in range(rounds):
        started = time.monotonic()
        try:
            draft = await engine.solve(candidate, list(history))
        except BudgetExceededError:
            raise
        except LLMError as exc:
            out.status, out.api_error = "error", str(exc)
            attempt = Attempt(
                round=round_no,
                status="error",
                output=f"API error: {exc}",
                duration_s=time.monotonic() - started,
                details={"api_error": str(exc)},
            )
            out.attempts.append(attempt)
            await _notify(on_attempt, attempt)
            break
        usage = usage + draft.usage
        result = None
        if not draft.unparsable and draft.solution and draft.tests:
            result = await loop.run_in_executor(
                executor,
                functools.partial(
                    sandbox.run, draft.solution, draft.tests, id=f"{run_id}-r{round_no}"
                ),
            )
            out.solution, out.tests = draft.solution, draft.tests
            out.entry_point = draft.entry_point or out.entry_point
        elif not draft.unparsable:
            draft = Draft(
                draft.solution,
                draft.tests,
                draft.entry_point,
                unparsable=True,
                note=draft.note or "the answer had no solution or no tests",
                usage=draft.usage,
            )
        history.append(Round(draft, result))
        attempt = _attempt(round_no, draft, result, time.monotonic() - started)
        out.attempts.append(attempt)
        out.status = attempt.status
        await _notify(on_attempt, attempt)
        if out.status == "passed":
            break
    out.usage = usage
    out.seconds = time.monotonic() - t0
    return out


async def _notify(callback, attempt: Attempt) -> None:
    if callback is None:
        return
    res = callback(attempt)
    if asyncio.iscoroutine(res):
        await res
