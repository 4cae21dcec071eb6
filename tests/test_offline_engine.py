"""OfflineEngine end to end: program composition on the bundled seeds, harvesting of MBPP,
HumanEval and LeetCode style tests, answers computed inside the real sandbox, determinism,
unusable and hostile parents, and (with ../shared/datasets) real MBPP problems.

Truth here is the sandbox: every generated draft must pass when its tests run against its
solution, and hard mutations must agree with an oracle assembled by hand from the parent's own
solution and the transform's helper (independent of the engine's module builder).
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import random
import re

import pytest

from infosynth_core.engines.base import MUTATION_LEVELS, Draft, Engine, Round, Usage
from infosynth_core.engines.compose import TRANSFORMS
from infosynth_core.engines.harvest import Signature, harvest_examples
from infosynth_core.engines.offline import OfflineEngine
from infosynth_core.problem import DIFFICULTIES, Problem
from infosynth_core.sandbox import Limits, RunResult, Sandbox, collect_tests
from infosynth_core.seeds import load_bundled_seeds, load_problems
from infosynth_core.topics import topic_names

EXAMPLE_LINE = re.compile(r"(?im)(^[>\s]*examples?(\s+\d+)?\s*:|>>>)")


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox(workers=2, coverage=False, limits=Limits(timeout_s=10))
    sb.start()  # on the main thread: workers die with the thread that started them
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def engine(sandbox):
    return OfflineEngine(sandbox, random_state=0)


@pytest.fixture(scope="module")
def seeds() -> dict[str, Problem]:
    return {p.id: p for p in load_bundled_seeds().problems}


def run(coro):
    return asyncio.run(coro)


async def _verify(engine, sandbox, candidate) -> tuple[Draft, RunResult | None]:
    draft = await engine.solve(candidate, [])
    if draft.unparsable:
        return draft, None
    result = await asyncio.to_thread(sandbox.run, draft.solution, draft.tests, id="t")
    return draft, result


def _check_candidate(cand, parents: list[Problem]) -> None:
    """What every candidate promises, read without running anything."""
    tree = ast.parse(cand.solution)
    defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert cand.entry_point in defined and cand.entry_point.isidentifier()
    assert all(cand.entry_point != p.entry_point for p in parents)
    assert f"Write {cand.entry_point}(" in cand.problem
    assert not EXAMPLE_LINE.search(cand.problem), cand.problem
    assert cand.parents == tuple(p.id for p in parents)
    assert 1 <= len(cand.topics) <= 3 and set(cand.topics) <= set(topic_names())
    assert cand.difficulty in DIFFICULTIES
    assert json.loads(json.dumps(cand.payload)) == cand.payload  # JSON-native, resumable
    assert len(cand.payload["inputs"]) >= 5


# ------------------------------------------------------------------------------ protocol
def test_engine_protocol(engine, seeds):
    assert isinstance(engine, Engine)
    assert (engine.name, engine.model) == ("offline", "offline-composer-v1")
    assert run(engine.rephrase(seeds["seed-001"])) == (None, Usage())
    run(engine.aclose())


# ------------------------------------------------------------------------------ mutation
def test_mutations_of_bundled_seeds_verify_in_the_sandbox(engine, sandbox, seeds):
    sample = list(seeds.values())[::11][:15]

    async def go():
        out = []
        for i, parent in enumerate(sample):
            proposal = await engine.mutate(parent, rng=random.Random(i))
            assert proposal.usage == Usage() and proposal.unparsable == 0
            for cand in proposal.candidates:
                out.append((parent, cand, *await _verify(engine, sandbox, cand)))
        return out

    results = run(go())
    levels = {c.operator for _, c, _, _ in results}
    assert levels == set(MUTATION_LEVELS.values())
    for parent, cand, draft, result in results:
        _check_candidate(cand, [parent])
        if result is not None:
            names, n_asserts, _ = collect_tests(draft.tests)
            assert len(names) >= 3 and n_asserts == len(names)
            assert draft.tests.startswith(f"from solution import {cand.entry_point}")
    passed = sum(r is not None and r.status == "passed" for *_, r in results)
    assert len(results) >= 40  # about 3 per seed
    assert passed / len(results) >= 0.9, [(c.entry_point, d.note) for _, c, d, r in results]


def test_hard_mutation_agrees_with_a_hand_made_oracle(engine, sandbox, seeds):
    """new(x) == transform(parent(x)), with the parent's solution and the transform's helper
    put together by hand rather than by the engine."""
    checked = 0
    for sid in ("seed-001", "seed-041", "seed-064", "seed-091", "seed-145"):
        parent = seeds[sid]
        proposal = run(engine.mutate(parent, rng=random.Random(7)))
        (hard,) = [c for c in proposal.candidates if c.operator == "mutation-hard"]
        (post,) = hard.payload["recipe"]["posts"]
        draft, result = run(_verify(engine, sandbox, hard))
        assert result is not None and result.status == "passed", draft.note
        oracle = (
            f"{parent.solution}\n\n{TRANSFORMS[post].code}\n\n"
            f"def {hard.entry_point}(*args):\n    return {post}({parent.entry_point}(*args))\n"
        )
        assert sandbox.run(oracle, draft.tests).status == "passed", (sid, post)
        assert post in hard.solution and f"{post}(" in hard.solution
        checked += 1
    assert checked == 5


def test_mutation_statement_reads_like_a_problem(engine, seeds):
    parent = seeds["seed-041"]
    proposal = run(engine.mutate(parent, rng=random.Random(3)))
    for cand in proposal.candidates:
        first, *rest = cand.problem.split("\n\n")
        assert first.startswith(f"Write {cand.entry_point}(")
        quoted = next(block for block in rest if block.startswith(("Base task:", "Task A:")))
        assert "> " in quoted and "count_gift_pairs(prices: list[int], budget: int)" in quoted
        assert "Consider a function count_gift_pairs" in quoted  # not "Write ..." twice
        assert f"Only {cand.entry_point} is tested" in cand.problem
    by_level = {c.operator: c for c in proposal.candidates}
    hard = by_level["mutation-hard"]
    assert "Let r be the answer to the base task below" in hard.problem
    assert hard.difficulty in ("medium", "hard")


def test_composed_parent_edits_its_recipe_instead_of_nesting(engine, sandbox, seeds):
    """A generated problem that carries its payload: harder appends a transform, equal swaps
    the last one for a sibling, easier lightens it; the base task is quoted once."""
    seed = seeds["seed-001"]
    first = run(engine.mutate(seed, rng=random.Random(7))).candidates
    (hard,) = [c for c in first if c.operator == "mutation-hard"]
    draft = run(engine.solve(hard, []))
    parent = Problem(
        id="gen-1", problem=hard.problem, solution=hard.solution, tests=draft.tests,
        entry_point=hard.entry_point, topics=hard.topics, difficulty=hard.difficulty,
        metadata={"payload": hard.payload},
    )  # fmt: skip
    (old,) = hard.payload["recipe"]["posts"]
    proposal = run(engine.mutate(parent, rng=random.Random(1)))
    by_level = {c.operator: c for c in proposal.candidates}
    assert set(by_level) == set(MUTATION_LEVELS.values()), proposal.notes
    for cand in proposal.candidates:
        assert cand.problem.count("Base task:") == 1 and "> >" not in cand.problem
        assert "peak_temperature_days(temps: list[int]) -> list[int]" in cand.problem
        _, result = run(_verify(engine, sandbox, cand))
        assert result is not None and result.status == "passed"
    posts = {level: c.payload["recipe"]["posts"] for level, c in by_level.items()}
    assert posts["mutation-hard"][0] == old and len(posts["mutation-hard"]) == 2
    (swapped,) = posts["mutation-medium"][-1:]
    if len(posts["mutation-medium"]) == 1:  # a sibling: same types and weight
        assert swapped != old and TRANSFORMS[swapped].weight == TRANSFORMS[old].weight
        assert TRANSFORMS[swapped].target == TRANSFORMS[old].target
    easy = posts["mutation-easy"]
    assert easy == [] or TRANSFORMS[easy[-1]].weight < TRANSFORMS[old].weight
    # a generated problem that failed verification has no tests but keeps its payload's inputs
    untested = parent.model_copy(update={"tests": None, "status": "failed"})
    assert run(engine.mutate(untested, rng=random.Random(1))).candidates


# ------------------------------------------------------------------------------ crossover
def test_crossover_of_compatible_seeds_verifies(engine, sandbox, seeds):
    pool = list(seeds.values())

    async def go():
        out = []
        for g in range(6):
            batch = random.Random(100 + g).sample(pool, 5)
            proposal = await engine.crossover(batch, count=3, rng=random.Random(g))
            assert len(proposal.candidates) <= 3 and proposal.unparsable == 0
            for cand in proposal.candidates:
                out.append((batch, cand, *await _verify(engine, sandbox, cand)))
        return out

    results = run(go())
    assert len(results) >= 15
    for batch, cand, _, _ in results:
        assert cand.operator == "crossover" and len(cand.parents) == 2
        parents = [next(p for p in batch if p.id == pid) for pid in cand.parents]
        _check_candidate(cand, parents)
        assert "Task A:" in cand.problem and "Task B:" in cand.problem
    passed = sum(r is not None and r.status == "passed" for *_, r in results)
    assert passed / len(results) >= 0.8, [(c.entry_point, d.note) for _, c, d, _ in results]


def test_chain_crossover_feeds_one_answer_into_the_other(engine, sandbox, seeds):
    # peak_temperature_days -> list[int] fits count_gift_pairs(prices: list[int], budget: int)
    a, b = seeds["seed-001"], seeds["seed-041"]
    proposal = run(engine.crossover([a, b], count=6, rng=random.Random(0)))
    chains = [c for c in proposal.candidates if "answer to task B below for (" in c.problem]
    assert chains, [c.problem[:200] for c in proposal.candidates]
    for cand in chains:
        draft, result = run(_verify(engine, sandbox, cand))
        assert result is not None and result.status == "passed", draft.note


# ------------------------------------------------------------------------------ determinism
def _key(proposal):
    return [
        (c.entry_point, c.problem, c.solution, json.dumps(c.payload)) for c in proposal.candidates
    ]


def test_same_rng_same_candidates_different_rng_different(sandbox, seeds):
    a, b = OfflineEngine(sandbox), OfflineEngine(sandbox)
    sample = [seeds[s] for s in ("seed-001", "seed-020", "seed-055", "seed-088", "seed-130")]
    for parent in sample:
        first = run(a.mutate(parent, rng=random.Random(5)))
        assert _key(first) == _key(run(b.mutate(parent, rng=random.Random(5))))
    differs = [
        _key(run(a.mutate(p, rng=random.Random(5)))) != _key(run(a.mutate(p, rng=random.Random(6))))
        for p in sample
    ]
    assert sum(differs) >= 3
    cross = [run(a.crossover(sample, count=3, rng=random.Random(s))) for s in (1, 1, 2)]
    assert _key(cross[0]) == _key(cross[1]) != _key(cross[2])
    other = OfflineEngine(sandbox, random_state=1)
    assert _key(run(other.crossover(sample, count=3, rng=random.Random(1)))) != _key(cross[0])


# ------------------------------------------------------------------------------ bad parents
def _problem(pid, solution, tests, entry="f", **kw):
    return Problem(id=pid, problem=f"Problem {pid}.", solution=solution, tests=tests,
                   entry_point=entry, **kw)  # fmt: skip


UNUSABLE = [
    (Problem(id="u1", problem="No solution."), "no reference solution"),
    (_problem("u2", "def f(x):\n    return x\n", None), "no tests"),
    (_problem("u3", "def f(x:\n", "def test_a():\n    assert f(1) == 1\n"), "not valid Python"),
    (_problem("u4", "def f(x):\n    return x\n", "def test_a():\n    assert f(len('ab')) == 2\n"),
     "literal arguments"),
    (_problem("u5", "def f(*xs):\n    return xs\n", "def test_a():\n    assert f(1) == (1,)\n"),
     "*args"),
    (_problem("u6", "def g(x):\n    return x\n", "def test_a():\n    assert g(1) == 1\n"),
     "not defined"),
]  # fmt: skip


@pytest.mark.parametrize("problem,why", UNUSABLE, ids=[p.id for p, _ in UNUSABLE])
def test_unusable_parents_are_counted_not_raised(engine, problem, why):
    proposal = run(engine.mutate(problem, rng=random.Random(0)))
    assert proposal.candidates == [] and proposal.unparsable == 1
    assert why in proposal.notes[0] and problem.id in proposal.notes[0]


def test_crossover_skips_unusable_parents(engine, seeds):
    bad = [p for p, _ in UNUSABLE]
    proposal = run(engine.crossover(bad, count=3, rng=random.Random(0)))
    assert proposal.candidates == [] and proposal.unparsable == len(bad)
    mixed = run(engine.crossover([*bad[:2], seeds["seed-041"], seeds["seed-091"]], count=2,
                                 rng=random.Random(0)))  # fmt: skip
    assert mixed.unparsable == 2 and len(mixed.candidates) >= 1


def test_solve_without_reference_or_inputs_is_unparsable(engine, seeds):
    cand = run(engine.mutate(seeds["seed-001"], rng=random.Random(0))).candidates[0]
    for broken in (
        dataclasses.replace(cand, solution=None),
        dataclasses.replace(cand, payload={**cand.payload, "inputs": ["(1,", "not a literal"]}),
    ):
        draft = run(engine.solve(broken, []))
        assert draft.unparsable and draft.note and draft.solution is None


def test_hostile_parent_only_runs_inside_the_sandbox(engine, sandbox, tmp_path):
    marker = tmp_path / "escaped.txt"
    solution = (  # tries to write to the host's tmp dir when imported, then works normally
        "import os\n\ntry:\n"
        f"    open({str(marker)!r}, 'w').write('pwned')\n"
        "except OSError:\n    pass\n"
        f"os.system('touch ' + {str(marker) + '.sh'!r} + ' 2>/dev/null')\n\n\n"
        "def double(x):\n    return 2 * x\n"
    )
    # no annotations and no `== literal` asserts: the answer type must be probed (in the sandbox)
    tests = "from solution import double\n\n\ndef test_a():\n    assert double(3) > 5\n    assert double(10) > 19\n"
    parent = _problem("hostile", solution, tests, entry="double")
    proposal = run(engine.mutate(parent, rng=random.Random(0)))
    assert proposal.candidates
    drafts = [run(engine.solve(c, [])) for c in proposal.candidates]
    assert any(not d.unparsable for d in drafts)
    if sandbox.isolation == "bubblewrap":  # the process fallback shares the host's files
        assert not marker.exists() and not (tmp_path / "escaped.txt.sh").exists()


# ------------------------------------------------------------------------------ harvesting
def _sig(entry="f", params=("a", "b"), types=("any", "any")):
    return Signature(entry, entry.split(".")[-1], params, types, "any")


def test_harvest_mbpp_humaneval_and_leetcode_asserts():
    mbpp = "from solution import *\n\n\ndef test_1():\n    assert f([1, 2], 3)==[4] \n\ndef test_2():\n    assert f(x, 3) == 1\n"
    got = harvest_examples(mbpp, _sig())
    assert [(e.args, e.expected) for e in got] == [(([1, 2], 3), [4])]

    humaneval = (
        "def check(candidate):\n    assert candidate('ab', -1) == 'ba'\n"
        "    assert candidate('x', 2) is None\n    assert abs(candidate('y', 0.5) - 1.5) < 1e-6\n\n"
        "def test_check():\n    check(_solution.f)\n"
    )
    got = harvest_examples(humaneval, _sig())
    assert [(e.args, e.expected) for e in got][:2] == [(("ab", -1), "ba"), (("x", 2), None)]
    assert got[2].args == ("y", 0.5)

    leetcode = (
        "def check(candidate):\n    assert candidate(nums = [1, 2], k = 3) == 7\n"
        "    assert Solution().maxSum([5], k=1) == 5\n"
    )
    got = harvest_examples(leetcode, _sig("Solution().maxSum", ("nums", "k")))
    assert [(e.args, e.expected) for e in got] == [(([1, 2], 3), 7), (([5], 1), 5)]


def test_mutation_of_leetcode_and_humaneval_style_parents(engine, sandbox):
    leet = _problem(
        "lc",
        "from typing import *\n\n\nclass Solution:\n    def maxSum(self, nums: List[int], k: int) -> int:\n"
        "        return sum(sorted(nums)[-k:]) if k > 0 else 0\n",
        "def check(candidate):\n    assert candidate(nums=[1, 5, 2], k=2) == 7\n"
        "    assert candidate(nums=[4], k=1) == 4\n    assert candidate(nums=[3, -1, 8, 2], k=3) == 13\n",
        entry="Solution().maxSum",
    )
    humaneval = _problem(
        "he",
        'def count_vowels(s):\n    """Count the vowels of s.\n    >>> count_vowels("ab")\n    1\n    """\n'
        '    return sum(c in "aeiou" for c in s)\n',
        "def check(candidate):\n    assert candidate('hello') == 2\n    assert candidate('sky') == 0\n"
        "    assert candidate('queue') == 4\n\n\ndef test_check():\n    check(count_vowels)\n",
        entry="count_vowels",
    )
    for parent in (leet, humaneval):
        proposal = run(engine.mutate(parent, rng=random.Random(1)))
        assert len(proposal.candidates) >= 2, proposal.notes
        for cand in proposal.candidates:
            assert ">>>" not in cand.problem
            draft, result = run(_verify(engine, sandbox, cand))
            assert result is not None and result.status == "passed", (cand.problem, draft.note)


# ------------------------------------------------------------------------------ feedback
def test_later_rounds_drop_the_tests_that_failed(engine, sandbox, seeds):
    cand = run(engine.mutate(seeds["seed-091"], rng=random.Random(2))).candidates[-1]
    draft = run(engine.solve(cand, []))
    names, _, _ = collect_tests(draft.tests)
    outcomes = {n: "passed" for n in names}
    outcomes[names[0]] = "failed"
    outcomes[names[1]] = "error"
    result = RunResult(id="r", status="failed", tests=outcomes)
    again = run(engine.solve(cand, [Round(draft, result)]))
    kept, _, _ = collect_tests(again.tests)
    assert kept == names[2:] and again.solution == draft.solution
    assert sandbox.run(again.solution, again.tests).status == "passed"
    nearly_all_failed = RunResult(id="r", status="failed", tests={n: "failed" for n in names})
    assert run(engine.solve(cand, [Round(draft, nearly_all_failed)])).unparsable


# ------------------------------------------------------------------------------ real data
@pytest.mark.datasets
def test_real_mbpp_problems_yield_verified_mutations(engine, sandbox, datasets_dir):
    problems = load_problems(datasets_dir / "mbpp.jsonl").problems
    sample = problems[:: len(problems) // 30][:30]

    async def go():
        verified, candidates, passed = 0, 0, 0
        for i, parent in enumerate(sample):
            proposal = await engine.mutate(parent, rng=random.Random(i))
            ok = False
            for cand in proposal.candidates:
                _, result = await _verify(engine, sandbox, cand)
                candidates += 1
                passed += result is not None and result.status == "passed"
                ok |= result is not None and result.status == "passed"
            verified += ok
        return verified, candidates, passed

    verified, candidates, passed = run(go())
    print(f"MBPP: {verified}/30 problems with a verified mutation; {passed}/{candidates} passed")
    assert verified >= 20 and passed >= 0.8 * candidates
