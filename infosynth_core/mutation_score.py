"""Test strength by mutation score: how many simple mutants of the reference do the tests reject?

The InfoSynth paper judges tests by their number of asserts and the line coverage they reach.
Both reward tests that *run* code, not tests that *check* it: ``assert f(0) is not None``
covers every line of a branch-free ``f``. Mutation analysis asks the sharper question (DeMillo,
Lipton, Sayward 1978, "Hints on test data selection"): change the reference solution in one
small place and see whether the tests notice.

The mutants come from :func:`infosynth_core.mutants.make_mutants` (operators and sampling are
described there); this module runs the problem's tests against them in the sandbox.

Cost. One sandbox run per mutant multiplies the verification cost by about the number of
mutants plus one (each run forks, writes files, sweeps processes: tens of milliseconds
whatever the code). Instead mutants run *batched*, in the spirit of mutant schemata (Untch,
Offutt, Harrold 1993, "Mutation analysis using mutant schemata", ISSTA): a few problems share
one sandbox job whose test file is a generated harness with one test function per mutant.
Each loads its mutant as module ``solution`` and calls the problem's *original* test
functions (the test source is embedded verbatim and never changed) until one fails; tests
that killed earlier mutants, then the quickest, go first. Before a test first judges a
mutant, the harness runs that test on the unchanged reference, once: if the reference fails
there (an artefact of the harness, or a broken reference), nothing that test would say is
trusted and the problem's open mutants go to the plain path; the reference's time for the
step is the mutant's budget basis: ``MUTANT_CPU_FLOOR_S + MUTANT_TIME_FACTOR ×`` that time in
CPU seconds and ``MUTANT_WALL_FLOOR_S + MUTANT_TIME_FACTOR ×`` in wall seconds (timers that
raise into the mutant, like PIT's ``timeoutConstant`` + ``timeoutFactor``; CPU time is what
a busy machine inflates least), so an infinite loop costs ~10 ms. A loop inside C code, which
never runs the timer's handler, is ended by a C-level watchdog (``faulthandler``); code that
swallows the timer's exception 50 times ends the job. Whatever a batched job could not settle
is re-run the plain way: one mutant per sandbox run, full isolation,
``Limits(timeout_s=min(sandbox timeout, 2 s + 3 × the reference's time))``. Killed = failed,
error or timeout; survived = passed. Both paths kill the same mutants on the bundled seeds
(bench/mutation_cost.py). Equivalent mutants cannot be killed by any test, so the score is a
lower bound on test strength.

>>> from infosynth_core.sandbox import Sandbox
>>> with Sandbox() as sb:                                              # doctest: +SKIP
...     ms = mutation_score(solution, tests, sb)
>>> ms.score, ms.killed, ms.total, ms.survivors                        # doctest: +SKIP
(0.875, 7, 8, ('line 4: < → <=',))
"""

from __future__ import annotations

import ast
import math
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .mutants import DEFAULT_MAX_MUTANTS, Mutant, _check_params, _parse, make_mutants
from .sandbox import Job, Limits, RunResult, Sandbox

__all__ = ["MutationScore", "mutation_score", "mutation_scores"]

#: In a batched job a mutant may use FLOOR + FACTOR × the reference's time, in CPU seconds
#: (the reference's time is its wall time, or its CPU time if larger) and in wall seconds.
MUTANT_CPU_FLOOR_S = 0.01
MUTANT_WALL_FLOOR_S = 2.0
MUTANT_TIME_FACTOR = 4.0
#: One-mutant-per-run fallback: timeout = min(sandbox timeout, FLOOR + FACTOR × reference).
FALLBACK_FLOOR_S = 2.0
FALLBACK_FACTOR = 3.0


@dataclass(frozen=True)
class MutationScore:
    """How many mutants of a reference the tests reject.

    ``score`` = killed / total, or None when no mutant could be made (or the reference does
    not pass its own tests: see ``notes``). ``survivors`` are the descriptions of the mutants
    the tests accepted; ``by_operator`` maps an operator to (killed, total); ``outcomes`` maps
    a mutant id to its run status (passed = survived; failed, error, timeout = killed).
    """

    score: float | None
    killed: int
    total: int
    survivors: tuple[str, ...] = ()
    by_operator: dict[str, tuple[int, int]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": None if self.score is None else round(self.score, 4),
            "killed": self.killed,
            "total": self.total,
            "survivors": list(self.survivors),
            "by_operator": {k: list(v) for k, v in self.by_operator.items()},
            "outcomes": dict(self.outcomes),
            "notes": list(self.notes),
        }


def _none(*notes: str) -> MutationScore:
    return MutationScore(score=None, killed=0, total=0, notes=tuple(notes))


def mutation_score(
    solution: str,
    tests: str,
    sandbox: Sandbox,
    *,
    max_mutants: int = DEFAULT_MAX_MUTANTS,
    random_state: int = 0,
    reference: RunResult | None = None,
    batched: bool = True,
) -> MutationScore:
    """Mutation score of ``tests`` for the reference ``solution``, run in ``sandbox``.

    Parameters
    ----------
    solution, tests
        The reference solution and its pytest-style tests (which import ``solution``).
    sandbox
        A :class:`~infosynth_core.sandbox.Sandbox`; its limits bound every run.
    max_mutants, random_state
        Passed to :func:`make_mutants`.
    reference
        The sandbox's verification of this solution against these tests, if at hand: a
        reference that did not pass gets no score at once, and the test names come from it
        instead of from parsing the tests again.
    batched
        Run the mutants in one harness job (default; see the module docstring), or each
        mutant in its own sandbox run (the plain path: same kills, many times slower). For
        many problems, :func:`mutation_scores` is cheaper than one call per problem: its
        harness jobs share the fixed cost of a sandbox run between problems.

    Never raises because the code misbehaves: a solution or tests that do not parse, or a
    reference that fails its tests, give ``score=None`` with the reason in ``notes``.
    """
    return mutation_scores(
        [(solution, tests)],
        sandbox,
        max_mutants=max_mutants,
        random_state=random_state,
        references=None if reference is None else [reference],
        batched=batched,
    )[0]


def mutation_scores(
    problems: Sequence[Any],
    sandbox: Sandbox,
    *,
    max_mutants: int = DEFAULT_MAX_MUTANTS,
    random_state: int = 0,
    references: Sequence[RunResult] | None = None,
    batched: bool = True,
) -> list[MutationScore]:
    """:func:`mutation_score` of many problems in one batch (results in input order).

    ``problems`` holds :class:`~infosynth_core.problem.Problem` objects (or anything with
    ``solution`` and ``tests``) or ``(solution, tests)`` pairs; ``references``, if given, one
    verification :class:`~infosynth_core.sandbox.RunResult` per problem (see
    :func:`mutation_score`). Batched, the problems are packed a few to a harness job (so the
    fixed cost of a sandbox run is shared) and the jobs run on all sandbox workers at once;
    what the harness could not settle is re-run one mutant per sandbox run through
    ``sandbox.run_many``. The cheapest way to score a loop's output: verify a batch with
    ``sandbox.run_problems``, then ``mutation_scores(batch, sandbox, references=results)``.
    """
    _check_params(max_mutants, random_state, "mutation_scores")
    pairs = [p if isinstance(p, tuple) else (p.solution or "", p.tests or "") for p in problems]
    if references is not None and len(references) != len(pairs):
        raise ConfigError(
            f"The 'references' parameter of mutation_scores must hold one RunResult per "
            f"problem ({len(pairs)}); got {len(references)}."
        )
    refs = [None] * len(pairs) if references is None else list(references)
    plans = []
    base = sandbox.limits
    if batched:
        sandbox.start()
        with ThreadPoolExecutor(max_workers=sandbox.n_workers) as pool:
            runs = []
            for pack in _packs(len(pairs), sandbox.n_workers):
                # mutants are made here, pack by pack, while the packs before run
                made = [_Plan.make(*pairs[i], max_mutants, random_state, refs[i]) for i in pack]
                plans += made
                if any(p.mutants for p in made):
                    runs.append(pool.submit(_run_harness, sandbox, [p for p in made if p.mutants]))
            for run in runs:
                run.result()
        todo = [p for p in plans if p.mutants]
    else:
        plans = [
            _Plan.make(*pair, max_mutants, random_state, ref)
            for pair, ref in zip(pairs, refs, strict=True)
        ]
        todo = [p for p in plans if p.mutants]
        for p in todo:
            p.control_failed = True
    # the reference on its own, where the harness could not vouch for it
    alone = [p for p in todo if p.control_failed and p.reference is None]
    ref_jobs = [
        Job(id=f"reference-{n}", solution=p.solution, tests=p.tests) for n, p in enumerate(alone)
    ]
    for p, r in zip(alone, sandbox.run_many(ref_jobs), strict=True):
        p.reference = r
    singles = [(p, m) for p in todo for m in p.rerun_list()]
    jobs = [
        Job(id=f"mutant-{n}-{m.id}", solution=m.source, tests=p.tests, limits=p.single_limits(base))
        for n, (p, m) in enumerate(singles)
    ]
    for (p, m), r in zip(singles, sandbox.run_many(jobs), strict=True):
        p.outcomes[m.id] = r.status
    return [p.score() for p in plans]


def _packs(n: int, workers: int) -> list[range]:
    """Problem indices in packs of decreasing size (guided self-scheduling): big packs first
    share the fixed cost of a run, small ones last keep every worker busy to the end."""
    packs, i = [], 0
    while i < n:
        size = min(MAX_PER_JOB, max(1, math.ceil((n - i) / (JOBS_PER_WORKER * workers))))
        packs.append(range(i, min(i + size, n)))
        i += size
    return packs


def _run_harness(sandbox: Sandbox, pack: list[_Plan]) -> None:
    token = secrets.token_hex(8)
    limits = sandbox.limits
    job = Job(
        id=f"mutants-{token}",
        solution=_HOST_SOLUTION,
        tests=_harness(token, pack, limits.timeout_s),
        limits=_limits(limits, len(pack) * limits.timeout_s + 1.0),
    )
    _read_harness(token, pack, sandbox.run_job(job))


_TIMEOUT = "mutant-timeout"
_SKIPPED = "mutant-skipped"
_HOST_SOLUTION = "# mutation harness: every unit loads its own solution (see test_solution.py)\n"
#: Batched runs: up to MAX_PER_JOB problems share one harness job; pack sizes shrink as
#: (problems left) / (JOBS_PER_WORKER × workers), so the last jobs are small.
MAX_PER_JOB = 8
JOBS_PER_WORKER = 2


@dataclass
class _Plan:
    """One problem's mutants and what is known about them so far."""

    solution: str
    tests: str
    mutants: list[Mutant]
    notes: list[str]
    names: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    control_failed: bool = False
    reference: RunResult | None = None
    ref_wall_s: float | None = None
    rerun: int = 0

    @classmethod
    def make(
        cls, solution: str, tests: str, cap: int, seed: int, reference: RunResult | None = None
    ) -> _Plan:
        if not solution.strip() or not tests.strip():
            return cls(solution, tests, [], ["nothing to score: no solution or no tests"])
        if reference is not None and reference.status != "passed":
            return cls(solution, tests, [], [_refusal(reference.status)])
        try:
            names = list(reference.tests) if reference is not None else _test_names(tests)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return cls(solution, tests, [], [f"the tests are not valid Python: {exc}"])
        if not names:
            return cls(solution, tests, [], ["no test functions (test_*) in the tests"])
        try:
            mutants = make_mutants(solution, max_mutants=cap, random_state=seed)
        except ConfigError as exc:
            return cls(solution, tests, [], [str(exc)])
        notes = [] if mutants else ["nothing to mutate in the solution"]
        plan = cls(solution, tests, mutants, notes, names)
        if reference is not None:
            plan.reference, plan.ref_wall_s = reference, reference.duration_s
        return plan

    @property
    def unusable(self) -> bool:
        """The reference failed in the harness and on its own (or was not run alone yet)."""
        return self.control_failed and (self.reference is None or self.reference.status != "passed")

    def rerun_list(self) -> list[Mutant]:
        todo = [] if self.unusable else [m for m in self.mutants if m.id not in self.outcomes]
        self.rerun = len(todo)
        return todo

    def single_limits(self, base: Limits) -> Limits:
        ref = self.ref_wall_s
        if ref is None and self.reference is not None:
            ref = self.reference.duration_s
        if ref is None:
            return base
        return _limits(base, min(base.timeout_s, FALLBACK_FLOOR_S + FALLBACK_FACTOR * ref))

    def score(self) -> MutationScore:
        if not self.mutants:
            return _none(*self.notes)
        notes = list(self.notes)
        if self.unusable:
            status = self.reference.status if self.reference is not None else "not run"
            return _none(*notes, _refusal(status))
        if self.rerun:
            notes.append(f"{self.rerun} mutant(s) ran one per sandbox run")
        dead = {m.id: self.outcomes[m.id] != "passed" for m in self.mutants}
        by_op: dict[str, tuple[int, int]] = {}
        for m in self.mutants:
            k, t = by_op.get(m.operator, (0, 0))
            by_op[m.operator] = (k + dead[m.id], t + 1)
        killed = sum(dead.values())
        return MutationScore(
            score=killed / len(self.mutants),
            killed=killed,
            total=len(self.mutants),
            survivors=tuple(m.description for m in self.mutants if not dead[m.id]),
            by_operator=by_op,
            outcomes={m.id: self.outcomes[m.id] for m in self.mutants},
            notes=tuple(notes),
        )


def _test_names(tests: str) -> list[str]:
    """The test names :func:`~infosynth_core.sandbox.collect_tests` finds (same rule), without
    its walk over the whole tree to count asserts (large test files are common)."""
    names = []
    for node in _parse(tests).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test"
        ):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names += [
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
            ]
    return names


def _refusal(status: str) -> str:
    return (
        f"the reference solution does not pass its tests ({status}); "
        "a mutation score would mean nothing"
    )


def _read_harness(token: str, pack: list[_Plan], r: RunResult) -> None:
    """Outcomes of a harness run; whatever it did not settle stays open for single runs."""
    trusted = not any("forged" in n for n in r.notes)
    for u, plan in enumerate(pack):
        seen = re.findall(rf"{token} reference {u} ([0-9.e+-]+)", r.stdout)
        if seen:
            plan.ref_wall_s = float(seen[-1])
        if not trusted:
            plan.control_failed = True
            continue
        for n, mutant in enumerate(plan.mutants, start=1):
            name = f"test_u{u:02d}_m{n:03d}"
            outcome, error = r.tests.get(name, "not run"), r.errors.get(name, "")
            if outcome == "error" and f"{token} {_TIMEOUT}" in error:
                plan.outcomes[mutant.id] = "timeout"
            elif outcome == "error" and f"{token} {_SKIPPED}" in error:
                if f"{token} {_SKIPPED}: the reference" in error:
                    plan.control_failed = True  # run the reference on its own, then decide
            elif outcome in ("passed", "failed", "error"):
                plan.outcomes[mutant.id] = outcome
            # not run (the job ended early) or skipped: re-run on its own (rerun_list)


def _limits(base: Limits, timeout_s: float) -> Limits:
    return Limits(**{**base.model_dump(), "timeout_s": min(timeout_s, 3600.0), "cpu_s": None})


def _harness(token: str, pack: list[_Plan], cap_s: float) -> str:
    """A test file whose test functions each run one problem's original tests against one of
    its mutants, checking every test on the reference first (see the module docstring)."""
    units = [(p.tests, p.names, [p.solution, *(m.source for m in p.mutants)]) for p in pack]
    funcs = "\n".join(
        f"def test_u{u:02d}_m{n:03d}():\n    _run({u}, {n})\n"
        for u, (_, _, sources) in enumerate(units)
        for n in range(1, len(sources))
    )
    return _HARNESS.format(
        token=token,
        units=units,
        cap_s=float(cap_s),
        cpu_floor=MUTANT_CPU_FLOOR_S,
        wall_floor=MUTANT_WALL_FLOOR_S,
        factor=MUTANT_TIME_FACTOR,
        timeout=_TIMEOUT,
        skipped=_SKIPPED,
        funcs=funcs,
    )


_HARNESS = '''\
"""Generated by infosynth_core.mutation_score: original tests, run against one mutant per test."""
import faulthandler as _faulthandler
import os as _os
import signal as _signal
import sys as _sys
import time as _time
import types as _types

_sys.settrace(None)  # line coverage of the harness is of no use; it only slows the mutants
_TOKEN = {token!r}
_UNITS = {units!r}  # per problem: (tests, test names, [reference, mutant 1, ...])
_CAP_S = {cap_s!r}
_STATE = {{"armed": False, "fires": 0}}
_DEVNULL = open(_os.devnull, "w")
_UNIT = [
    {{"start": None, "code": None, "ref": None, "broken": None, "times": {{}}, "kills": {{}}}}
    for _ in _UNITS
]
_EXEC = "<import>"  # the key under which loading solution + tests is timed


class _Stop(BaseException):
    pass


class _Null:
    def write(self, s):
        return len(s)

    def flush(self):
        pass


def _on_timer(signum, frame):
    if _STATE["armed"]:
        _STATE["fires"] += 1
        if _STATE["fires"] > 50:  # the code swallows the timeout: end the whole run
            _os._exit(75)
        raise _Stop(_TOKEN + " {timeout}")


_signal.signal(_signal.SIGALRM, _on_timer)
_signal.signal(_signal.SIGPROF, _on_timer)


def _timed(fn, cpu_s, wall_s):
    """fn() under a CPU-time and a wall-clock limit; its (wall, cpu) seconds."""
    t0, c0 = _time.monotonic(), _time.process_time()
    _STATE["armed"], _STATE["fires"] = True, 0
    _signal.setitimer(_signal.ITIMER_REAL, wall_s, 0.02)
    _signal.setitimer(_signal.ITIMER_PROF, cpu_s, 0.02)
    try:
        fn()
    finally:
        _STATE["armed"] = False
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.setitimer(_signal.ITIMER_PROF, 0)
    return _time.monotonic() - t0, _time.process_time() - c0


def _limits(state, key):
    """Limits for a mutant's step ``key``: floor + factor x the reference's time there."""
    wall, cpu = state["times"][key]
    return (
        min(_CAP_S, {cpu_floor!r} + {factor!r} * max(wall, cpu)),
        min(_CAP_S, {wall_floor!r} + {factor!r} * wall),
    )


def _arm(state):
    """A loop inside C code never runs the timers' handler: a C-level watchdog ends the run
    one second after the mutant's whole wall budget (from what the reference took so far)."""
    budget = {wall_floor!r} + {factor!r} * sum(w for w, _ in state["times"].values())
    _faulthandler.dump_traceback_later(min(_CAP_S, budget) + 1.0, exit=True, file=_DEVNULL)


def _load(u, i, into):
    """Source i of unit u as module ``solution``, then the unit's tests importing it."""
    module = _types.ModuleType("solution")
    _sys.modules["solution"] = module
    exec(compile(_UNITS[u][2][i], "<mutant>", "exec", dont_inherit=True), module.__dict__)
    tests = _types.ModuleType("_infosynth_mutant_tests")
    _sys.modules["_infosynth_mutant_tests"] = tests
    exec(_UNIT[u]["code"], tests.__dict__)
    into[:] = [module, tests]


def _call(tests, name):
    cls, _, meth = name.partition("::")
    (getattr(getattr(tests, cls)(), meth) if meth else getattr(tests, name))()


def _reference(u, key):
    """Run step ``key`` (loading, or one test) on the reference the first time it is needed:
    it must pass here too (else the harness cannot judge this problem), and its time sets
    the mutants' limits for that step."""
    state = _UNIT[u]
    if key in state["times"]:
        return
    if state["broken"] is None:
        _faulthandler.cancel_dump_traceback_later()  # the reference has the timers at _CAP_S
        try:
            if key == _EXEC:
                state["ref"] = []
                t = _timed(lambda: _load(u, 0, state["ref"]), _CAP_S, _CAP_S)
            else:
                _sys.modules["solution"] = state["ref"][0]
                t = _timed(lambda: _call(state["ref"][1], key), _CAP_S, _CAP_S)
            state["times"][key] = t
            total = sum(w for w, _ in state["times"].values())
            print(_TOKEN, "reference", u, total, file=_STATE["out"], flush=True)
            _arm(state)
            return
        except BaseException as exc:  # noqa: BLE001
            state["broken"] = key + ": " + type(exc).__name__
    raise _Stop(_TOKEN + " {skipped}: the reference fails here (" + state["broken"] + ")")


def _run(u, i):
    state = _UNIT[u]
    tests_src, names, sources = _UNITS[u]
    if state["start"] is None:
        state["start"] = _time.monotonic()
        state["code"] = compile(tests_src, "<tests>", "exec", dont_inherit=True)
        state["kills"] = {{n: 0 for n in names}}
    if _time.monotonic() - state["start"] > _CAP_S:
        raise _Stop(_TOKEN + " {skipped}: out of time")
    saved = _sys.modules.get("solution")
    out, err, depth = _sys.stdout, _sys.stderr, _sys.getrecursionlimit()
    _STATE["out"] = out
    rank = {{n: k for k, n in enumerate(names)}}
    order = sorted(
        names,  # tests that killed most mutants, then the quickest, then in source order
        key=lambda n: (-state["kills"][n], state["times"].get(n, (_CAP_S,))[0], rank[n]),
    )
    _arm(state)
    killer = None
    try:
        _sys.stdout = _sys.stderr = _Null()
        _reference(u, _EXEC)
        mutant = []
        _timed(lambda: _load(u, i, mutant), *_limits(state, _EXEC))
        for name in order:
            _reference(u, name)
            _sys.modules["solution"] = mutant[0]
            killer = name
            _timed(lambda: _call(mutant[1], name), *_limits(state, name))
            killer = None
    except _Stop as exc:
        if "{skipped}" in str(exc):
            killer = None
        raise
    finally:
        _faulthandler.cancel_dump_traceback_later()
        _sys.stdout, _sys.stderr = out, err
        _sys.setrecursionlimit(depth)
        _sys.modules.pop("_infosynth_mutant_tests", None)
        if saved is not None:
            _sys.modules["solution"] = saved
        if killer is not None:
            state["kills"][killer] += 1


{funcs}'''
