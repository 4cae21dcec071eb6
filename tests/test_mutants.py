"""Test strength by mutation score: mutants are real one-place changes, strong tests kill them,
weak tests do not, hostile mutants end quickly, and the batched harness agrees with one
sandbox run per mutant."""

from __future__ import annotations

import ast
import json
import time

import pytest

from infosynth_core import ConfigError, load_bundled_seeds
from infosynth_core.mutants import (
    MUTATION_OPERATORS,
    Mutant,
    MutationScore,
    _apply,
    _nodes,
    _sites,
    _test_names,
    make_mutants,
    mutation_score,
    mutation_scores,
)
from infosynth_core.sandbox import Limits, Sandbox, collect_tests

COUNT = '''\
def count_in_range(values: list[int], low: int, high: int) -> int:
    """How many values v satisfy low <= v < high (0 for an empty list)."""
    count = 0
    for v in values:
        if low <= v < high:  # half-open interval
            count += 1
    return count
'''
STRONG = """\
from solution import count_in_range


def test_example():
    assert count_in_range([1, 5, 9], 0, 10) == 3
    assert count_in_range([1, 5, 9], 2, 9) == 1


def test_bounds():
    assert count_in_range([3], 3, 4) == 1
    assert count_in_range([4], 3, 4) == 0
    assert count_in_range([2], 3, 4) == 0
    assert count_in_range([3, 3, 3], 3, 5) == 3


def test_empty():
    assert count_in_range([], 0, 10) == 0
"""
WEAK = "from solution import count_in_range\n\n\ndef test_runs():\n    assert count_in_range([], 0, 1) is not None\n"
NO_ASSERT = (
    "from solution import count_in_range\n\n\ndef test_runs():\n    count_in_range([1, 2], 0, 5)\n"
)

LOOP = """\
def bit_length(n: int) -> int:
    count = 0
    while n > 0:
        n //= 2
        count += 1
    return count
"""
LOOP_TESTS = """\
from solution import bit_length


def test_bits():
    assert bit_length(0) == 0
    assert bit_length(1) == 1
    assert bit_length(5) == 3
    assert bit_length(1024) == 11
"""


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=Limits(timeout_s=10)) as sb:
        yield sb


class RecordingSandbox(Sandbox):
    """A real sandbox that also keeps every job it was given."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.jobs = []

    def run_job(self, job):
        self.jobs.append(job)
        return super().run_job(job)


def killed(score: MutationScore) -> set[str]:
    return {k for k, v in score.outcomes.items() if v != "passed"}


# ------------------------------------------------------------------------------ mutants
def test_mutants_are_one_change_each_and_parse_on_the_bundled_seeds():
    """Against truth: each mutant's source parses to exactly the tree that applying its change
    to the original gives, differs from the original, and from every other mutant."""
    problems = load_bundled_seeds().problems
    for p in problems[:8]:
        original = ast.dump(ast.parse(p.solution))
        mutants = make_mutants(p.solution, max_mutants=10_000)
        assert mutants, p.id
        assert len({m.source for m in mutants}) == len(mutants)
        for m in mutants:
            assert m.operator in MUTATION_OPERATORS
            assert m.description.startswith(f"line {m.line}: ")
            tree = ast.parse(p.solution)
            nodes = _nodes(tree)
            site = _sites(nodes)[int(m.id[1:])]
            _apply(nodes[site.node], site)
            got = ast.dump(ast.parse(m.source))
            assert got == ast.dump(tree), (p.id, m.description)
            assert got != original
    for p in problems[::4]:  # the default sample of every fourth seed
        for m in make_mutants(p.solution):
            assert ast.dump(ast.parse(m.source)) != ast.dump(ast.parse(p.solution))


def test_every_operator_occurs_and_layout_is_kept():
    src = (
        "def f(xs, k=2):\n"
        "    # a comment that must survive\n"
        "    out = []\n"
        "    for i in range(len(xs) - 1):\n"
        "        if xs[i] < k and not xs[i] == 0:\n"
        "            out.append(xs[i] * -k)\n"
        "        else:\n"
        "            out += xs[1:i]\n"
        "    while False:\n"
        "        pass\n"
        "    return out or ''\n"
    )
    mutants = make_mutants(src, max_mutants=10_000)
    assert {m.operator for m in mutants} == set(MUTATION_OPERATORS)
    for m in mutants:
        assert "# a comment that must survive" in m.source
        changed = [
            n
            for n, (a, b) in enumerate(
                zip(src.splitlines(), m.source.splitlines(), strict=False), 1
            )
            if a != b
        ]
        assert changed and min(changed) == m.line, m.description
    descriptions = {m.description for m in mutants}
    assert "line 5: < → <=" in descriptions
    assert "line 5: and → or" in descriptions
    assert "line 4: range argument len(xs) - 1 → len(xs)" in descriptions
    assert "line 11: return out or '' → return None" in descriptions


def test_docstrings_annotations_and_main_block_are_never_mutated():
    src = (
        '"""Module doc 0 1 True."""\n'
        "from typing import Literal\n\n\n"
        "def f(x: Literal[1, 2] = 0) -> list[int]:\n"
        '    """Returns [x] + 1."""\n'
        "    y: Literal['a', 0] = x\n"
        "    return [y]\n\n\n"
        'if __name__ == "__main__":\n'
        "    print(f(1) + [2])\n"
    )
    original = ast.parse(src)
    mutants = make_mutants(src, max_mutants=10_000)
    assert mutants
    for m in mutants:
        tree = ast.parse(m.source)
        assert ast.get_docstring(tree) == ast.get_docstring(original)
        fn, orig_fn = tree.body[2], original.body[2]
        assert ast.get_docstring(fn) == ast.get_docstring(orig_fn)
        assert ast.dump(fn.args.args[0].annotation) == ast.dump(orig_fn.args.args[0].annotation)
        assert ast.dump(fn.returns) == ast.dump(orig_fn.returns)
        assert ast.dump(fn.body[1].annotation) == ast.dump(orig_fn.body[1].annotation)
        assert ast.dump(tree.body[3]) == ast.dump(original.body[3])  # the __main__ block


def test_cap_and_random_state():
    src = load_bundled_seeds().problems[0].solution
    everything = make_mutants(src, max_mutants=10_000)
    assert len(everything) > 12
    for cap in (1, 5, 12):
        assert len(make_mutants(src, max_mutants=cap)) == cap
    a = make_mutants(src, max_mutants=6, random_state=3)
    assert a == make_mutants(src, max_mutants=6, random_state=3)
    samples = {
        tuple(m.id for m in make_mutants(src, max_mutants=6, random_state=s)) for s in range(5)
    }
    assert len(samples) > 1
    # stratified: a small sample spreads over operators
    assert len({m.operator for m in a}) >= 4
    assert all(isinstance(m, Mutant) for m in a)


def test_nothing_to_mutate_gives_no_score(sandbox):
    src = 'def f(x: int) -> list[int]:\n    """Doc 0 1 \'x\'."""\n    pass\n'
    assert make_mutants(src) == []
    score = mutation_score(src, "from solution import f\n\ndef test_f():\n    f(1)\n", sandbox)
    assert (score.score, score.killed, score.total) == (None, 0, 0)
    assert "nothing to mutate" in score.notes[0]


def test_bad_input_is_reported():
    with pytest.raises(ConfigError, match="'solution' parameter of make_mutants must be valid"):
        make_mutants("def f(:\n")
    with pytest.raises(ConfigError, match="'max_mutants' parameter of make_mutants"):
        make_mutants(COUNT, max_mutants=0)
    with pytest.raises(ConfigError, match="'random_state' parameter"):
        make_mutants(COUNT, random_state=-1)


# ------------------------------------------------------------------------------ scores
def test_strong_tests_kill_and_weak_tests_do_not(sandbox):
    strong = mutation_score(COUNT, STRONG, sandbox, max_mutants=12)
    weak = mutation_score(COUNT, WEAK, sandbox, max_mutants=12)
    silent = mutation_score(COUNT, NO_ASSERT, sandbox, max_mutants=12)
    assert strong.total == weak.total == silent.total >= 8
    assert strong.score >= 0.8, strong.survivors
    assert weak.score <= 0.3 and silent.score <= 0.3
    assert weak.killed == len(weak.outcomes) - len(weak.survivors)
    assert sum(t for _, t in strong.by_operator.values()) == strong.total
    assert sum(k for k, _ in strong.by_operator.values()) == strong.killed
    assert all(s.startswith("line ") for s in weak.survivors)
    assert json.loads(json.dumps(strong.to_dict()))["total"] == strong.total


def test_batched_harness_agrees_with_one_run_per_mutant(sandbox):
    for tests in (STRONG, WEAK):
        batched = mutation_score(COUNT, tests, sandbox, max_mutants=12)
        plain = mutation_score(COUNT, tests, sandbox, max_mutants=12, batched=False)
        assert killed(batched) == killed(plain)
        assert "one per sandbox run" in plain.notes[-1]


def test_tests_are_never_mutated():
    with RecordingSandbox(workers=2, limits=Limits(timeout_s=10)) as sb:
        mutation_score(COUNT, STRONG, sb, max_mutants=6)
        mutation_score(COUNT, STRONG, sb, max_mutants=6, batched=False)
    assert sb.jobs
    mutant_sources = {m.source for m in make_mutants(COUNT, max_mutants=6)}
    for job in sb.jobs:
        if job.tests == STRONG:  # one mutant (or the reference) per run
            assert job.solution in mutant_sources | {COUNT}
        else:  # the harness carries the tests verbatim and runs them as they are
            assert repr(STRONG) in job.tests
            assert STRONG not in mutant_sources


def test_three_bundled_seeds(sandbox):
    problems = load_bundled_seeds().problems[:3]
    scores = mutation_scores(problems, sandbox)
    for s in scores:
        assert s.total > 0
        assert 0.0 <= s.score <= 1.0
        assert s.killed + len(s.survivors) == s.total
    # given the verification results, the same scores without parsing the tests again
    verified = sandbox.run_problems(problems)
    assert mutation_scores(problems, sandbox, references=verified) == scores
    for p in load_bundled_seeds().problems:
        assert _test_names(p.tests) == collect_tests(p.tests)[0]


def test_a_failing_reference_gives_no_score(sandbox):
    broken = "from solution import count_in_range\n\ndef test_x():\n    assert count_in_range([1], 0, 5) == 2\n"
    s = mutation_score(COUNT, broken, sandbox, max_mutants=4)
    assert s.score is None and s.total == 0
    assert "does not pass its tests (failed)" in s.notes[-1]
    assert mutation_score("def f(:\n", STRONG, sandbox).score is None
    assert mutation_score(COUNT, "def helper():\n    pass\n", sandbox).score is None
    # a verification result that did not pass: no runs, no score
    failed = sandbox.run(COUNT, broken)
    s = mutation_score(COUNT, broken, sandbox, reference=failed)
    assert s.score is None and "(failed)" in s.notes[-1]
    with pytest.raises(ConfigError, match="'references' parameter of mutation_scores"):
        mutation_scores([(COUNT, STRONG)], sandbox, references=[])


# ------------------------------------------------------------------------------ hostile
def test_an_infinite_loop_mutant_ends_quickly_as_a_timeout(sandbox):
    """``while n > 0`` → ``while n >= 0`` never ends (0 // 2 == 0): killed by the per-mutant
    timer in a fraction of a second, not the sandbox's 10 s."""
    t = time.monotonic()
    s = mutation_score(LOOP, LOOP_TESTS, sandbox, max_mutants=100)
    elapsed = time.monotonic() - t
    loops = [m for m in make_mutants(LOOP, max_mutants=100) if m.description == "line 3: > → >="]
    assert loops and s.outcomes[loops[0].id] == "timeout"
    assert s.score == 1.0
    assert not any("one per sandbox run" in n for n in s.notes)
    assert elapsed < 5.0


def test_a_mutant_that_swallows_the_timer_or_hangs_in_c_still_ends(sandbox):
    swallow = (
        "def spin(n):\n"
        "    done = 0\n"
        "    while done < n:\n"
        "        try:\n"
        "            done += 1\n"
        "        except BaseException:\n"
        "            pass\n"
        "    return done\n"
    )
    in_c = "def quick(n):\n    skip = True\n    return n + sum(range(0 if skip else 10 ** 12))\n"
    t = time.monotonic()
    a = mutation_score(
        swallow,
        "from solution import spin\n\ndef test_s():\n    assert spin(3) == 3\n",
        sandbox,
        max_mutants=100,
    )
    b = mutation_score(
        in_c,
        "from solution import quick\n\ndef test_q():\n    assert quick(2) == 2\n",
        sandbox,
        max_mutants=100,
    )
    elapsed = time.monotonic() - t
    spin_loop = next(
        m for m in make_mutants(swallow, max_mutants=100) if "+= → -=" in m.description
    )
    c_loop = next(m for m in make_mutants(in_c, max_mutants=100) if "True → False" in m.description)
    assert a.outcomes[spin_loop.id] == "timeout"
    assert b.outcomes[c_loop.id] == "timeout"
    assert elapsed < 10.0  # a hung run costs the sandbox's 10 s; here ~3 s + one short run
