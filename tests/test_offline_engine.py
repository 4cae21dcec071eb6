"""OfflineEngine end to end: program composition on the bundled seeds, harvesting of MBPP,
HumanEval and LeetCode style tests, answers computed inside the real sandbox, statements that
read like new problems, determinism, unusable and hostile parents, and (with
../shared/datasets) real MBPP problems.

Truth here is the sandbox: every generated draft must pass when its tests run against its
solution, hard mutations must agree with an oracle assembled by hand from the parent's own
solution and the transform's helper (independent of the engine's module builder), every
statement's example must hold for its solution, and every mutation's tests must fail against
its parent's solution. Statements are judged against the bundled seeds: length, no quoting
of a parent (no run of 12 words in common, words split at whitespace), no scaffolding.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import random
import re
import statistics

import pytest

from infosynth_core.engines.base import MUTATION_LEVELS, Draft, Engine, Round, Usage
from infosynth_core.engines.compose import ENCODINGS, TRANSFORMS
from infosynth_core.engines.harvest import (
    Signature,
    harvest_examples,
    read_signature,
)
from infosynth_core.engines.harvest import (
    tests_source as make_tests,
)
from infosynth_core.engines.offline import OfflineEngine
from infosynth_core.engines.phrasing import heuristic_desc, plain
from infosynth_core.problem import DIFFICULTIES, Problem
from infosynth_core.sandbox import Limits, RunResult, Sandbox, collect_tests
from infosynth_core.seeds import load_bundled_seeds, load_problems
from infosynth_core.topics import topic_names

EXAMPLE_LINE = re.compile(r"(?m)^Example: (.+) returns (.+)\.$")
SCAFFOLDING = ("Task A", "Task B", "base task", "Base task", "Consider a function")
QUOTE_LINE = re.compile(r"(?m)^\s*>")
ONLY_TESTED = re.compile(r"Only \w+ is tested")
LENGTH_RATIO = 1.3  # a generated statement's median length may exceed the seeds' by this much


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
    assert f"{cand.entry_point}(" in cand.problem.splitlines()[0]
    (shown,) = EXAMPLE_LINE.findall(cand.problem)  # one example, of this function
    assert shown[0].startswith(f"{cand.entry_point}(") and cand.problem.count("Example") == 1
    assert not any(s in cand.problem for s in SCAFFOLDING) and ">>>" not in cand.problem
    assert not QUOTE_LINE.search(cand.problem) and not ONLY_TESTED.search(cand.problem)
    assert cand.parents == tuple(p.id for p in parents)
    assert 1 <= len(cand.topics) <= 3 and set(cand.topics) <= set(topic_names())
    assert cand.difficulty in DIFFICULTIES
    assert json.loads(json.dumps(cand.payload)) == cand.payload  # JSON-native, resumable
    assert len(cand.payload["inputs"]) >= 5


# ------------------------------------------------------------------------------ protocol
def test_engine_protocol(engine, seeds):
    assert isinstance(engine, Engine)
    assert (engine.name, engine.model) == ("offline", "offline-composer-v2")
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
    """Composed from the seed's own description, not quoted: its setting and summary, the
    transform's phrase, constraints and an example."""
    parent = seeds["seed-041"]
    meta = parent.metadata
    proposal = run(engine.mutate(parent, rng=random.Random(3)))
    assert {c.operator for c in proposal.candidates} == set(MUTATION_LEVELS.values())
    for cand in proposal.candidates:
        _check_candidate(cand, [parent])
        text = cand.problem
        assert text.startswith(meta["setting"]) and "\nConstraints: " in text
        assert not re.search(r"\bcount_gift_pairs\(", text)  # nor the parent's function
        if "budget" in text:  # the summary, its parameters written as names
            assert plain(meta["summary"]) in text
        assert len(text) <= LENGTH_RATIO * len(parent.problem)
    hard = next(c for c in proposal.candidates if c.operator == "mutation-hard")
    (post,) = hard.payload["recipe"]["posts"]
    head, _, tail = TRANSFORMS[post].phrase.partition("{v}")
    assert head.strip() in hard.problem and tail.strip() in hard.problem
    assert hard.difficulty in ("medium", "hard")


def _as_parent(cand, draft, pid) -> Problem:
    return Problem(
        id=pid, problem=cand.problem, solution=cand.solution, tests=draft.tests,
        entry_point=cand.entry_point, topics=cand.topics, difficulty=cand.difficulty,
        metadata={"payload": cand.payload},
    )  # fmt: skip


def test_composed_parent_edits_its_recipe_instead_of_nesting(engine, sandbox, seeds):
    """A generated problem that carries its payload: harder appends a transform, equal swaps
    the last one for a sibling (or reduces or lifts it), easier lightens it; every statement
    is described afresh from the recipe, once, never from the parent's statement."""
    seed = seeds["seed-001"]
    first = run(engine.mutate(seed, rng=random.Random(7))).candidates
    (hard,) = [c for c in first if c.operator == "mutation-hard"]
    parent = _as_parent(hard, run(engine.solve(hard, [])), "gen-1")
    (old,) = hard.payload["recipe"]["posts"]
    proposal = run(engine.mutate(parent, rng=random.Random(1)))
    by_level = {c.operator: c for c in proposal.candidates}
    assert set(by_level) == set(MUTATION_LEVELS.values()), proposal.notes
    summary = plain(seed.metadata["summary"])
    for cand in proposal.candidates:
        _check_candidate(cand, [parent])
        text = cand.problem
        assert text.count(summary) <= 1 and text.count(seed.metadata["setting"]) == 1
        assert parent.problem.splitlines()[0] not in text  # not the parent's words again
        assert len(text) <= LENGTH_RATIO * len(seed.problem) * 1.2
        _, result = run(_verify(engine, sandbox, cand))
        assert result is not None and result.status == "passed"
    posts = {level: c.payload["recipe"]["posts"] for level, c in by_level.items()}
    assert posts["mutation-hard"][0] == old and len(posts["mutation-hard"]) == 2
    medium = by_level["mutation-medium"].payload["recipe"]
    if medium["posts"][:1] != [old]:  # a sibling: same types and weight
        (swapped,) = medium["posts"]
        if "for_each" not in medium["base"]["core"]:
            assert swapped != old and TRANSFORMS[swapped].weight == TRANSFORMS[old].weight
            assert TRANSFORMS[swapped].target == TRANSFORMS[old].target
    else:  # the answer reduced by a weight-0 transform, or an input in another notation
        assert TRANSFORMS[medium["posts"][-1]].weight == 0
    easy = posts["mutation-easy"]
    assert (
        easy == []
        or TRANSFORMS[easy[-1]].weight < TRANSFORMS[old].weight
        or (easy[0] == old and TRANSFORMS[easy[-1]].weight == 0)  # a guarantee or fixed input
    )
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
        # one story (the first parent's setting), never two glued together, never a quote
        settings = [p.metadata["setting"] for p in parents]
        assert settings[0] in cand.problem
        assert settings[1] == settings[0] or settings[1] not in cand.problem
        assert len(cand.problem) <= 850
    passed = sum(r is not None and r.status == "passed" for *_, r in results)
    assert passed / len(results) >= 0.8, [(c.entry_point, d.note) for _, c, d, _ in results]


def test_chain_crossover_feeds_one_answer_into_the_other(engine, sandbox, seeds):
    # peak_temperature_days -> list[int] fits count_gift_pairs(prices: list[int], budget: int)
    a, b = seeds["seed-001"], seeds["seed-041"]
    proposal = run(engine.crossover([a, b], count=6, rng=random.Random(0)))
    chains = [c for c in proposal.candidates if c.payload["recipe"]["base"]["stages"]]
    assert chains, [c.problem[:200] for c in proposal.candidates]
    for cand in chains:  # A's answer is named after the parameter of B that it becomes
        assert re.search(r"(Let|let) (prices|budget) be|where (prices|budget) is", cand.problem)
        draft, result = run(_verify(engine, sandbox, cand))
        assert result is not None and result.status == "passed", draft.note


# ------------------------------------------------------------------------------ statements
def _words12(text: str) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + 12]) for i in range(len(words) - 11)}


@pytest.fixture(scope="module")
def sample(engine, seeds):
    """About 60 candidates as a default run proposes them: an easy, an equal and a harder
    variant of every 12th bundled seed, and crossovers of batches of three seeds (C = 3)."""
    pool = list(seeds.values())

    async def go():
        out = []
        for i, parent in enumerate(pool[::12]):
            proposal = await engine.mutate(parent, rng=random.Random(i))
            out += [(c, [parent]) for c in proposal.candidates]
        for g in range(8):
            batch = random.Random(200 + g).sample(pool, 3)
            proposal = await engine.crossover(batch, count=3, rng=random.Random(g))
            out += [(c, [seeds[p] for p in c.parents]) for c in proposal.candidates]
        return out

    return run(go())


def test_statements_read_like_new_problems(sample, seeds):
    """The seeds' register and length; no quoting of a parent, no scaffolding."""
    assert len(sample) >= 60 and {c.operator for c, _ in sample} == {
        *MUTATION_LEVELS.values(),
        "crossover",
    }
    seed_median = statistics.median(len(p.problem) for p in seeds.values())
    lengths = [len(c.problem) for c, _ in sample]
    assert statistics.median(lengths) <= LENGTH_RATIO * seed_median, (lengths, seed_median)
    for cand, parents in sample:
        _check_candidate(cand, parents)
        for parent in parents:
            shared = _words12(cand.problem) & _words12(parent.problem)
            assert not shared, (parent.id, [" ".join(w) for w in shared][:2], cand.problem)


def test_every_example_holds_for_its_solution(sample, sandbox):
    """The statement's example, run as a test against the reference in the sandbox."""
    for cand, _ in sample:
        call, value = EXAMPLE_LINE.search(cand.problem).groups()
        tests = (
            f"from solution import {cand.entry_point}\n\n\n"
            f"def test_example():\n    assert {call} == {value}\n"
        )
        result = sandbox.run(cand.solution, tests, id="example")
        assert result.status == "passed", (cand.problem, result.errors)


def _parent_call(cand, parent: Problem) -> tuple[str, list[str]] | None:
    """The parent's entry called on the mutation's arguments (a fixed parameter put back, an
    encoded one decoded), with the helper sources it needs; None when the mutation asks for
    several values of a parameter at once (another input shape)."""
    sig = read_signature(ast.parse(parent.solution), parent.entry_point)
    base = cand.payload["recipe"]["base"]
    names = [n for n, _ in base["params"]]
    first = base["lines"][0] if base["lines"] else ""
    if names == list(sig.params):
        args, helpers = list(names), []
        for enc in ENCODINGS:  # `temps = parse_int_list(temps)` on the first line
            m = re.fullmatch(rf"(\w+) = {enc.decoder}(?:_\d+)?\(\1\)", first)
            if m:
                args[names.index(m.group(1))] = f"{enc.decoder}({m.group(1)})"
                helpers.append(enc.code)
        return f"{parent.entry_point}({', '.join(args)})", helpers
    if len(names) == len(sig.params) - 1:  # `budget = 7`: a fixed parameter
        fixed, value = first.split(" = ", 1)
        args = [value if p == fixed else p for p in sig.params]
        return f"{parent.entry_point}({', '.join(args)})", []
    return None


def test_every_mutation_changes_its_parents_answer(sample, engine, sandbox):
    """The mutation's tests (from solve) fail against the parent's own solution on the same
    inputs: at least one answer differs. Several values of a parameter at once is another
    input shape, a different problem by construction."""
    checked = reshaped = 0
    for cand, (parent,) in [(c, p) for c, p in sample if c.operator != "crossover"]:
        draft = run(engine.solve(cand, []))
        assert not draft.unparsable, draft.note
        found = _parent_call(cand, parent)
        if found is None:
            params = cand.payload["recipe"]["base"]["params"]
            assert any(t.startswith("list[") for _, t in params)
            reshaped += 1
            continue
        call, helpers = found
        names = [n for n, _ in cand.payload["recipe"]["base"]["params"]]
        new = Signature(
            cand.entry_point, cand.entry_point, tuple(names), ("any",) * len(names), "any"
        )
        cases = [(e.args, e.expected) for e in harvest_examples(draft.tests, new)]
        assert len(cases) >= 3
        module = "\n\n".join(
            [parent.solution, *helpers, f"def was({', '.join(names)}):\n    return {call}\n"]
        )
        result = sandbox.run(module, make_tests("was", cases), id="parent")
        assert result.status == "failed", (cand.problem, parent.id, result.status)
        checked += 1
    assert checked >= 20 and checked + reshaped >= 35


def test_generation_two_is_described_afresh(sample, engine, sandbox, seeds):
    """Mutations and crossovers of generated problems: one setting per part, one example,
    no quoting of the generated parent, and still the seeds' length."""
    parents = []
    for k, (cand, _) in enumerate(sample[::3]):
        draft, result = run(_verify(engine, sandbox, cand))
        if result is not None and result.status == "passed":
            parents.append(_as_parent(cand, draft, f"gen-1-{k}"))
    assert len(parents) >= 15
    children = []
    for i, parent in enumerate(parents):
        children += [
            (c, [parent]) for c in run(engine.mutate(parent, rng=random.Random(i))).candidates
        ]
    crossed = run(engine.crossover(parents[:6], count=3, rng=random.Random(0))).candidates
    assert crossed and len(children) >= 30
    seed_median = statistics.median(len(p.problem) for p in seeds.values())
    lengths = [len(c.problem) for c, _ in children]
    assert statistics.median(lengths) <= LENGTH_RATIO * seed_median, lengths
    for cand, (parent,) in children:
        _check_candidate(cand, [parent])
        assert cand.problem.count("Constraints:") <= 1
        assert parent.problem.split("\n")[0] not in cand.problem  # not the parent's text again
        for seed in seeds.values():  # every part's setting once at most
            assert cand.problem.count(seed.metadata["setting"]) <= 1
    for cand in crossed:
        assert cand.problem.count("Example:") == 1 and not QUOTE_LINE.search(cand.problem)


def test_imported_statements_are_summarised_in_one_sentence():
    """Parents without a written description (MBPP, HumanEval, LeetCode) lend at most their
    first sentence, read as a noun phrase."""
    s = Signature("f", "f", ("text",), ("str",), "str")
    mbpp = "Write a python function to find the first repeated character in a given string."
    assert heuristic_desc(mbpp, s)["answer"] == "the first repeated character in a given string"
    counting = heuristic_desc("Write a function to count the vowels in text.", s)
    assert counting["answer"] == "the number of vowels in $text"  # its parameter linked
    he = 'def f(text: str) -> str:\n    """Check if text is a palindrome.\n    >>> f("aba")\n    True\n    """\n'
    assert heuristic_desc(he, s)["answer"] == "whether $text is a palindrome"
    nums = Signature("f", "f", ("nums",), ("list[int]",), "int")
    leet = "Given an integer array nums, return the number of good pairs. A pair (i, j) is good..."
    assert heuristic_desc(leet, nums)["answer"] == "the number of good pairs"
    long = "Write a function to " + " ".join(f"w{i}" for i in range(60)) + ". More text."
    desc = heuristic_desc(long, s)
    assert len(desc["answer"].split()) <= 31 and "More" not in desc["answer"]


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
