"""Test-taker evaluation of a finished benchmark (paper Table 2: %pass / %fail / %error).

A model is asked ``samples`` times per problem for a solution (the ``answer`` prompt: the
statement only, never the tests); each answer runs against the problem's stored tests in the
sandbox. Every answer ends in exactly one outcome:

* **pass** — the sandbox status is ``passed``: every test ran and passed;
* **fail** — the sandbox status is ``failed``: every test ran, none raised an error, and at
  least one assertion failed (the code runs but gives wrong answers);
* **error** — everything else: the sandbox status is ``error`` (an exception other than a
  failed assert, an import error, a crash, a limit), ``timeout`` or ``unparsable`` (the code
  is not valid Python), or the model's answer held no usable code at all (status
  ``no_code``; nothing ran).

Percentages are over all answers (problems × samples). pass@k is the unbiased estimator of
Chen et al. 2021 ("Evaluating Large Language Models Trained on Code", eq. 1), computed per
problem from its ``n = samples`` answers of which ``c`` pass, then averaged over problems.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .engines.base import Usage
from .errors import ConfigError

if TYPE_CHECKING:
    from .engines.llm import LLMEngine
    from .problem import Problem
    from .sandbox import Sandbox

__all__ = ["pass_at_k", "evaluate", "EvaluationReport", "ProblemEvaluation", "SampleResult"]

OUTCOMES = ("pass", "fail", "error")
_OUTCOME = {"passed": "pass", "failed": "fail"}  # sandbox status -> outcome; else error


def _int_param(name: str, value: object, low: int, high: float, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"The '{name}' parameter of {what} must be an integer; got {value!r}.")
    if not low <= value <= high:
        bound = f"in [{low}, {high}]" if high != math.inf else f">= {low}"
        raise ConfigError(f"The '{name}' parameter of {what} must be {bound}; got {value}.")
    return value


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of ``k`` answers drawn without replacement from
    ``n`` answers, ``c`` of them correct, is correct: ``1 - C(n-c, k) / C(n, k)``.

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which never forms the large binomials
    (Chen et al. 2021). Needs ``n >= 1``, ``0 <= c <= n`` and ``1 <= k <= n``.

    >>> round(pass_at_k(10, 3, 1), 6)  # pass@1 is the pass rate c/n
    0.3
    >>> round(pass_at_k(5, 1, 2), 6)
    0.4
    """
    n = _int_param("n", n, 1, math.inf, "pass_at_k")
    c = _int_param("c", c, 0, n, "pass_at_k (0 <= c <= n)")
    k = _int_param("k", k, 1, n, "pass_at_k (1 <= k <= n)")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class SampleResult:
    """One answer: its outcome (pass | fail | error), the sandbox status (or ``no_code``),
    per-test outcomes, the code and what the call cost."""

    problem_id: str
    sample: int
    outcome: str
    status: str
    tests: dict[str, str] = field(default_factory=dict)
    usage: Usage = Usage()
    code: str | None = None
    note: str = ""

    def to_dict(self, *, code: bool = False) -> dict[str, Any]:
        out = {
            "sample": self.sample,
            "outcome": self.outcome,
            "status": self.status,
            "tests": dict(self.tests),
            "note": self.note,
            "usage": self.usage.to_dict(),
        }
        if code:
            out["code"] = self.code
        return out


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


@dataclass(frozen=True)
class ProblemEvaluation:
    """The answers to one problem and their summary."""

    id: str
    samples: tuple[SampleResult, ...]
    ks: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def c(self) -> int:
        return sum(s.outcome == "pass" for s in self.samples)

    @property
    def counts(self) -> dict[str, int]:
        got = Counter(s.outcome for s in self.samples)
        return {o: got.get(o, 0) for o in OUTCOMES}

    @property
    def pass_at(self) -> dict[int, float]:
        return {k: pass_at_k(self.n, self.c, k) for k in self.ks}

    @property
    def usage(self) -> Usage:
        return sum((s.usage for s in self.samples), Usage())

    def to_dict(self, *, code: bool = False) -> dict[str, Any]:
        counts = self.counts
        return {
            "id": self.id,
            "n": self.n,
            "c": self.c,
            **counts,
            **{f"pct_{o}": _pct(counts[o], self.n) for o in OUTCOMES},
            "pass_at_k": {str(k): v for k, v in self.pass_at.items()},
            "samples": [s.to_dict(code=code) for s in self.samples],
        }


@dataclass(frozen=True)
class EvaluationReport:
    """Outcome of :func:`evaluate`: per problem and overall (see the module docstring).

    ``skipped`` lists ``(id, reason)`` of problems that were not evaluated; ``seconds`` is
    the wall time of the whole evaluation; ``usage`` sums every answer call.
    """

    model: str
    samples: int
    ks: tuple[int, ...]
    problems: tuple[ProblemEvaluation, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @property
    def n_answers(self) -> int:
        return sum(p.n for p in self.problems)

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(p.counts[o] for p in self.problems) for o in OUTCOMES}

    @property
    def statuses(self) -> dict[str, int]:
        """Answers by detailed status: passed, failed, error, timeout, unparsable, no_code."""
        return dict(Counter(s.status for p in self.problems for s in p.samples))

    @property
    def pct_pass(self) -> float | None:
        return _pct(self.counts["pass"], self.n_answers)

    @property
    def pct_fail(self) -> float | None:
        return _pct(self.counts["fail"], self.n_answers)

    @property
    def pct_error(self) -> float | None:
        return _pct(self.counts["error"], self.n_answers)

    @property
    def pass_at(self) -> dict[int, float | None]:
        """Mean over problems of each problem's pass@k (None without problems)."""
        if not self.problems:
            return {k: None for k in self.ks}
        return {k: sum(p.pass_at[k] for p in self.problems) / len(self.problems) for k in self.ks}

    @property
    def usage(self) -> Usage:
        return sum((p.usage for p in self.problems), Usage())

    def to_dict(self, *, code: bool = False) -> dict[str, Any]:
        """A JSON-serializable dict (answers' code only with ``code=True``)."""
        return {
            "model": self.model,
            "samples": self.samples,
            "ks": list(self.ks),
            "n_problems": len(self.problems),
            "n_answers": self.n_answers,
            **self.counts,
            "pct_pass": self.pct_pass,
            "pct_fail": self.pct_fail,
            "pct_error": self.pct_error,
            "pass_at_k": {str(k): v for k, v in self.pass_at.items()},
            "statuses": dict(sorted(self.statuses.items())),
            "usage": self.usage.to_dict(),
            "seconds": round(self.seconds, 3),
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "problems": [p.to_dict(code=code) for p in self.problems],
        }

    def table(self, *, per_problem: bool = True) -> str:
        """A plain-text rendering for the command line."""

        def pct(v: float | None) -> str:
            return "    —" if v is None else f"{v:5.1f}"

        u, counts = self.usage, self.counts
        lines = [
            f"Model '{self.model}': {len(self.problems)} problems x {self.samples} samples = "
            f"{self.n_answers} answers ({self.seconds:.1f} s)",
            f"  pass   {counts['pass']:6d}  {pct(self.pct_pass)} %",
            f"  fail   {counts['fail']:6d}  {pct(self.pct_fail)} %",
            f"  error  {counts['error']:6d}  {pct(self.pct_error)} %   "
            + ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items()) if s not in _OUTCOME),
        ]
        for k, v in self.pass_at.items():
            lines.append(f"  pass@{k:<3d}        {'—' if v is None else f'{v:.3f}'}")
        lines.append(
            f"  tokens {u.tokens:,} (prompt {u.prompt_tokens:,}, completion "
            f"{u.completion_tokens:,}); {u.calls} calls, {u.cached_calls} cached"
        )
        if self.skipped:
            shown = "; ".join(f"{i} ({r})" for i, r in self.skipped[:5])
            more = " …" if len(self.skipped) > 5 else ""
            lines.append(f"  skipped {len(self.skipped)}: {shown}{more}")
        if per_problem and self.problems:
            width = min(40, max(len(p.id) for p in self.problems))
            head = "  ".join(f"pass@{k}" for k in self.ks)
            lines.append(f"\n  {'problem':<{width}}  pass  fail  error  {head}")
            for p in self.problems:
                c = p.counts
                ks = "  ".join(f"{p.pass_at[k]:{len(str(k)) + 5}.3f}" for k in self.ks)
                lines.append(
                    f"  {p.id[:width]:<{width}}  {c['pass']:4d}  {c['fail']:4d}  "
                    f"{c['error']:5d}  {ks}"
                )
        return "\n".join(lines)


async def evaluate(
    problems: Sequence[Problem],
    engine: LLMEngine,
    sandbox: Sandbox,
    *,
    samples: int = 1,
    ks: Sequence[int] = (1,),
    progress: Callable[[int, int, SampleResult], None] | None = None,
    require_verified: bool = True,
) -> EvaluationReport:
    """Evaluate ``engine``'s model on ``problems`` (see the module docstring).

    Parameters
    ----------
    problems
        The benchmark. Problems without tests, and with ``require_verified`` those whose
        status is not ``passed``, are skipped and listed in ``report.skipped``.
    engine
        Anything with ``answer(problem, *, sample) -> (code | None, Usage)`` and ``model``.
    sandbox
        Runs each answer against the problem's stored tests (blocking calls run in threads,
        as many at once as the sandbox has workers).
    samples
        Answers per problem (n of pass@k); each sample is its own seeded call.
    ks
        The k of each pass@k, each in [1, samples].
    progress
        ``progress(done, total, result)`` after each answer has been run.

    :class:`~infosynth_core.errors.LLMError` and ``BudgetExceededError`` propagate and cancel
    the calls still under way: an endpoint failure is not the model's error, so it is not
    counted as one.
    """
    samples = _int_param("samples", samples, 1, 10_000, "evaluate")
    ks = tuple(ks)
    if not ks:
        raise ConfigError("The 'ks' parameter of evaluate must list at least one k; got ().")
    for k in ks:
        _int_param("ks", k, 1, samples, f"evaluate (each k must be <= samples = {samples})")
    started = time.monotonic()
    todo: list[Problem] = []
    skipped: list[tuple[str, str]] = []
    for p in problems:
        if not p.tests:
            skipped.append((p.id, "no tests"))
        elif require_verified and p.status != "passed":
            skipped.append((p.id, f"status {p.status}, not passed"))
        else:
            todo.append(p)
    total, done = len(todo) * samples, 0
    runs = asyncio.Semaphore(max(1, getattr(sandbox, "n_workers", 1)))

    async def one(problem: Problem, sample: int) -> SampleResult:
        nonlocal done
        code, usage = await engine.answer(problem, sample=sample)
        if code is None:
            result = SampleResult(
                problem.id, sample, "error", "no_code", usage=usage, note="no usable code"
            )
        else:
            async with runs:
                run = await asyncio.to_thread(
                    sandbox.run, code, problem.tests or "", id=f"eval-{problem.id}-s{sample}"
                )
            result = SampleResult(
                problem.id,
                sample,
                _OUTCOME.get(run.status, "error"),
                run.status,
                dict(run.tests),
                usage,
                code,
                "; ".join(run.notes),
            )
        done += 1
        if progress is not None:
            progress(done, total, result)
        return result

    tasks = [asyncio.ensure_future(one(p, s)) for p in todo for s in range(samples)]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    evaluations = tuple(
        ProblemEvaluation(p.id, tuple(results[i * samples : (i + 1) * samples]), ks)
        for i, p in enumerate(todo)
    )
    return EvaluationReport(
        model=getattr(engine, "model", ""),
        samples=samples,
        ks=ks,
        problems=evaluations,
        skipped=tuple(skipped),
        seconds=time.monotonic() - started,
    )
