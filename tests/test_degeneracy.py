"""The degeneracy filter against truth: hand-built problems with a known defect and their healthy
twins, the audit's peak-finding case, the test styles of MBPP, HumanEval and LeetCodeDataset,
odd input, and (with ../shared/datasets) how rarely human-written benchmarks are flagged.
"""

from __future__ import annotations

import doctest
import statistics
import time
from collections import Counter

import pytest

from infosynth_core import degeneracy
from infosynth_core.degeneracy import (
    KINDS,
    PARENT_QUOTE_MIN_WORDS,
    Degeneracy,
    expected_values,
    find_degeneracies,
)
from infosynth_core.problem import Origin, Problem
from infosynth_core.seeds import load_bundled_seeds, load_problems

PEAKS = """def peak_indices(temps):
    return [i for i, t in enumerate(temps)
            if (i == 0 or t > temps[i - 1]) and (i == len(temps) - 1 or t > temps[i + 1])]
"""


def make(
    solution: str = "def f(x):\n    return x\n",
    tests: str = "",
    *,
    entry: str | None = "f",
    statement: str = "Return x.",
    id: str = "p",
    operator: str = "mutation-medium",
) -> Problem:
    return Problem(
        id=id,
        problem=statement,
        solution=solution,
        tests=tests,
        entry_point=entry,
        origin=Origin(operator=operator),
    )


def cases_source(entry: str, cases: list[tuple[str, str]]) -> str:
    """One ``test_case_i`` per (args source, expected source), as the offline engine writes."""
    blocks = [f"from solution import {entry}"]
    for i, (args, expected) in enumerate(cases, 1):
        blocks.append(f"def test_case_{i}():\n    assert {entry}({args}) == {expected}")
    return "\n\n\n".join(blocks) + "\n"


def kinds(problem: Problem, **kw) -> list[str]:
    return [d.kind for d in find_degeneracies(problem, **kw)]


# ------------------------------------------------------------------------- constant output
def test_audit_case_peaks_of_descending_lists_are_constant():
    # the audit: peak finding tested only on descending lists -> answers [] or [0]
    inputs = [
        [],
        [9, 5, 1],
        [3, 2],
        [7],
        [10, 8, 6, 4],
        [6, 5],
        [5, 4, 3, 2, 1],
        [2, 1],
        [1],
        [8, 0],
    ]
    expected = ["[]" if not xs else "[0]" for xs in inputs]
    tests = cases_source(
        "peak_indices", [(repr(xs), e) for xs, e in zip(inputs, expected, strict=True)]
    )
    p = make(PEAKS, tests, entry="peak_indices", statement="Return the indices of the peaks.")
    found = find_degeneracies(p)
    assert [d.kind for d in found] == ["constant_output"]
    assert found[0] == Degeneracy(
        "constant_output", "expected values take only 2 distinct values over 10 tests ([0], [])"
    )


def test_healthy_peaks_problem_is_not_flagged():
    inputs = [[3, 5, 4, 4, 6], [1, 2, 3, 4], [], [7], [2, 2, 2], [-1, -5, -3], [5, 1]]
    answers = [[1, 4], [3], [], [0], [], [0, 2], [0]]
    tests = cases_source(
        "peak_indices", [(repr(x), repr(a)) for x, a in zip(inputs, answers, strict=True)]
    )
    assert find_degeneracies(make(PEAKS, tests, entry="peak_indices")) == []


@pytest.mark.parametrize(
    "answers, flagged",
    [
        (["0", "0", "0"], True),  # 3 tests, one value
        (["0", "0"], False),  # too few tests to judge
        (["0", "1", "0", "1"], False),  # < 5 tests: two values are enough
        (["0", "1", "0", "1", "0"], True),  # >= 5 tests: fewer than 3 distinct values
        (["0", "1", "2", "0", "0", "0"], False),
    ],
)
def test_constant_output_thresholds(answers, flagged):
    tests = cases_source("f", [(str(i), a) for i, a in enumerate(answers)])
    assert (kinds(make(tests=tests)) == ["constant_output"]) is flagged


def test_decision_problems_with_both_answers_are_not_constant():
    bools = cases_source("f", [(str(i), str(i % 3 == 0)) for i in range(8)])
    assert kinds(make(tests=bools)) == []
    all_true = cases_source("f", [(str(i), "True") for i in range(8)])
    assert kinds(make(tests=all_true)) == ["constant_output"]
    yes_no = cases_source("f", [(str(i), repr("YES" if i % 2 else "NO")) for i in range(6)])
    named = "Print 'YES' when x is odd, otherwise 'NO'."
    assert kinds(make(tests=yes_no, statement=named)) == []
    assert kinds(make(tests=yes_no, statement="Classify x.")) == ["constant_output"]


def test_observed_outputs_replace_the_asserts():
    tests = cases_source("f", [(str(i), str(i)) for i in range(6)])
    found = find_degeneracies(make(tests=tests), outputs=[[], [0], [], [0], [0], []])
    assert found == [
        Degeneracy(
            "constant_output", "observed outputs take only 2 distinct values over 6 tests ([], [0])"
        )
    ]
    assert find_degeneracies(make(tests=tests), outputs=[{1, 2}, {3}, (4,), None, 0.5]) == []


def test_repeated_cases_count_once_for_constant_output():
    # three copies of one case are one test case: nothing to call constant (but duplicates)
    tests = cases_source("f", [("1", "1")] * 3)
    assert kinds(make(tests=tests)) == ["duplicate_tests"]


# ------------------------------------------------------------------------- expected values
def test_expected_values_of_every_assert_style():
    tests = """
import math
import pytest
from solution import f

CASES = [(1, 10), (2, 20)]

def test_forms():
    assert f(1) == 2
    assert 3 == f(2)
    assert f(3) is None
    assert f(4)
    assert not f(5)
    assert abs(f(6) - 1.5) < 1e-9
    assert math.isclose(f(7), 2.5, rel_tol=1e-6)
    assert f(8) == pytest.approx(3.5)
    assert sorted(f(9)) == [1, 2]
    assert f(10) == {2, 1}
    assert f(11) == {"b": 1, "a": 2}
    assert f(12) == float("inf")
    result = f(13)
    assert result == -4
    assert len(f(14)) == 3          # not the output: left out
    assert f(15) == f(16)           # metamorphic: left out
    assert f(17) == some_variable   # unknown: left out

def test_loop():
    for x, want in CASES:
        assert f(x) == want

@pytest.mark.parametrize("x, want", [(5, "five"), pytest.param(6, "six")])
def test_table(x, want):
    assert f(x) == want

class TestUnit:
    def test_unittest(self):
        self.assertEqual(f(1), "u")
        self.assertTrue(f(2))
        self.assertIsNone(f(3))
"""
    assert expected_values(tests, "f") == [
        "2", "3", "None", "True", "False", "1.5", "2.5", "3.5", "[1, 2]", "set({1, 2})",
        "{'a': 2, 'b': 1}", "expr:float('inf')", "-4", "10", "20", "'five'", "'six'", "'u'",
        "True", "None",
    ]  # fmt: skip
    # sets and dicts compare by content, not by the order they are written in
    assert (
        expected_values("assert f(1) == {1, 2}\nassert f(2) == {2, 1}", "f") == ["set({1, 2})"] * 2
    )


def test_humaneval_check_candidate_style():
    tests = """import solution as _solution
from solution import *


def check(candidate):
    assert candidate([1.0, 2.0, 3.9], 0.3) == True
    assert candidate([1.0, 2.0, 3.9], 0.05) == False
    assert abs(candidate([1.0], 0.5) - 0.0) < 1e-6


def test_check():
    check(_solution.has_close_elements)
"""
    assert expected_values(tests, "has_close_elements") == ["True", "False", "0.0"]


def test_leetcode_solution_method_style():
    tests = """from solution import *

def check(candidate):
    assert candidate(nums = [2, 7, 11, 15], target = 9) == [0, 1]
    assert candidate(nums = [3, 2, 4], target = 6) == [1, 2]

def test_direct():
    assert Solution().twoSum([3, 3], 6) == [0, 1]
    s = Solution()
    assert s.twoSum(nums=[1, 5], target=6) == [0, 1]
    assert Solution().other([1], 2) == 99  # another method: not the entry point
"""
    assert expected_values(tests, "Solution().twoSum") == ["[0, 1]", "[1, 2]", "[0, 1]", "[0, 1]"]


def test_without_entry_point_the_imported_names_are_used():
    tests = "from solution import g\n\ndef test_a():\n    assert g(1) == 5\n    assert h(1) == 6\n"
    assert expected_values(tests, None) == ["5"]


@pytest.mark.parametrize(
    "tests",
    [
        "",
        "def test_a(:\n    assert f(1) == 1\n",
        "assert f(" + "[" * 5000 + "]" * 5000 + ") == 1\n",
        "x = " + "-" * 100_000 + "1\n",
        "def test_a():\n    assert f(*[1, 2]) == 1\n    assert f(**{}) == 2\n",
        "for a, *b in [(1, 2, 3)]:\n    assert f(a) == b\n",
        "@pytest.mark.parametrize('x', [pytest.param()])\ndef test_x(x):\n    assert f(x) == 1\n",
    ],
)
def test_odd_tests_never_raise(tests):
    expected_values(tests, "f")
    expected_values(tests, "not a name!")
    find_degeneracies(make(tests=tests))
    find_degeneracies(make(solution=tests, tests=tests, entry=None))


def test_odd_problems_never_raise_and_report_nothing_unreadable():
    bare = Problem(id="bare", problem="Just a statement.")
    assert find_degeneracies(bare) == []
    broken = make("def f(x:\n    return 1\n", "def test_a(:\n")
    assert find_degeneracies(broken) == []
    assert find_degeneracies(make(entry="Solution().f")) == []  # no such class: no verdict


# ------------------------------------------------------------------------- ignored argument
def test_solution_ignoring_k_is_flagged():
    sol = "def top_k(nums, k):\n    return sorted(nums, reverse=True)[:3]\n"
    found = find_degeneracies(make(sol, entry="top_k"))
    assert found == [
        Degeneracy(
            "ignored_argument", "the entry point top_k(nums, k) never reads its parameter 'k'"
        )
    ]


@pytest.mark.parametrize(
    "solution",
    [
        # through a helper it calls
        "def _take(xs, n):\n    return xs[:n]\n\n"
        "def top_k(nums, k):\n    return _take(sorted(nums, reverse=True), k)\n",
        # in a nested function, a lambda, a comprehension, an augmented assignment
        "def top_k(nums, k):\n    def inner():\n        return nums[:k]\n    return inner()\n",
        "def top_k(nums, k):\n    return (lambda: sorted(nums)[:k])()\n",
        "def top_k(nums, k):\n    return [x for i, x in enumerate(nums) if i < k]\n",
        "def top_k(nums, k):\n    k += 0\n    return nums[:1] if nums else nums\n",
        # dynamic access: not judged
        "def top_k(nums, k):\n    return sorted(locals()['nums'])[: locals()['k']]\n",
    ],
)
def test_solution_reading_k_is_not_flagged(solution):
    assert kinds(make(solution, entry="top_k")) == []


def test_ignored_argument_in_methods_and_star_parameters():
    method = (
        "class Solution:\n    def f(self, nums, _unused, *args, **kw):\n        return nums, kw\n"
    )
    found = find_degeneracies(make(method, entry="Solution().f"))
    assert [d.detail.rsplit(" ", 1)[-1] for d in found] == ["'_unused'", "'args'"]
    static = "class Solution:\n    @staticmethod\n    def f(a, b):\n        return b\n"
    assert [d.detail for d in find_degeneracies(make(static, entry="Solution().f"))] == [
        "the entry point f(a, b) never reads its parameter 'a'"
    ]
    # the last definition counts, as at run time; a guessed entry point without entry_point
    redefined = "def f(x, y):\n    return 1\n\ndef f(x, y):\n    return x + y\n"
    assert kinds(make(redefined)) == []
    assert kinds(make("def g(x, y):\n    return y\n", entry=None)) == ["ignored_argument"]


# ------------------------------------------------------------------------- duplicate tests
def test_identical_test_functions_are_flagged():
    tests = '''from solution import f


def test_a():
    """first"""
    assert f(1) == 1
    assert f(2) == 2


def test_b():
    # the same test again, other docstring, other spacing
    assert f( 1 )==1
    assert f(2) == 2


def test_c():
    assert f(3) == 3
'''
    found = find_degeneracies(make(tests=tests))
    assert found == [
        Degeneracy("duplicate_tests", "test functions test_a, test_b have identical bodies")
    ]


def test_repeated_asserts_are_flagged_when_most_cases_repeat():
    body = "".join(f"    assert candidate({i % 3}) == {i % 3}\n" for i in range(9))
    tests = f"def check(candidate):\n{body}\n\ndef test_check():\n    check(f)\n"
    found = find_degeneracies(make(tests=tests))
    assert found == [
        Degeneracy("duplicate_tests", "only 3 distinct (call, expected) cases among 9 asserts")
    ]
    # one repeat among many distinct cases is tolerated
    body = "".join(f"    assert candidate({i}) == {i}\n" for i in [*range(8), 0])
    tests = f"def check(candidate):\n{body}\n\ndef test_check():\n    check(f)\n"
    assert kinds(make(tests=tests)) == []


def test_same_body_with_different_parameters_is_not_a_duplicate():
    tests = """import pytest
from solution import f

@pytest.mark.parametrize("x", [1, 2, 3])
def test_a(x):
    assert f(x) == x

@pytest.mark.parametrize("x", [4, 5, 6])
def test_b(x):
    assert f(x) == x

def test_c():
    nums = [1, 2]
    assert f(nums) == [1, 2]

def test_d():
    nums = [3]
    assert f(nums) == [3]
"""
    assert kinds(make(tests=tests)) == []


# ------------------------------------------------------------------------- parent copy
PARENT = (
    "A weather station logs one integer temperature per day. A day is called a local peak "
    "when its reading is strictly greater than the reading of every neighbouring day that "
    "exists (the first and last days have only one neighbour; a lone day has none and "
    "therefore counts as a peak). Write peak_temperature_days(temps) that returns the "
    "indices of all local peaks in increasing order."
)


def test_statement_quoting_its_parent_is_flagged():
    assert len(PARENT.split()) >= PARENT_QUOTE_MIN_WORDS
    child = (
        "Consider the following task.\n\n> " + PARENT.replace(". ", ".\n> ") + "\n\n"
        "Now, instead of the indices, return how many local peaks lie in the second half "
        "of the list, and also the largest gap between two consecutive peaks, as a pair. "
        "For a list without peaks return (0, 0). Write peak_stats(temps)."
    )
    parent = make(statement=PARENT, id="seed-001", operator="seed")
    found = find_degeneracies(make(statement=child), parents=[parent])
    assert [d.kind for d in found] == ["parent_copy"]
    assert "parent seed-001" in found[0].detail and "word for word" in found[0].detail


def test_statement_with_a_word_changed_is_a_near_copy():
    child = PARENT.replace("integer temperature", "whole-number temperature")
    found = find_degeneracies(make(statement=child), parents=[PARENT])
    assert [d.kind for d in found] == ["parent_copy"]
    assert "parent #1" in found[0].detail and "Jaccard" in found[0].detail


def test_rephrased_different_task_is_not_a_copy():
    child = (
        "A sensor records one reading per hour. Return the length of the longest stretch of "
        "consecutive hours in which every reading is strictly higher than the one before it. "
        "An empty log has length 0 and a single reading counts as a stretch of length 1. "
        "Write longest_rising_stretch(readings)."
    )
    assert kinds(make(statement=child), parents=[PARENT, make(statement=PARENT, id="a")]) == []


def test_parent_copy_exemptions_and_bad_parents():
    # a short parent quoted inside a longer task is normal composition, not a copy
    short = "Return the sum of the digits of n."
    child = f"Task A: {short} Task B: return the product of the digits of n. Return A - B."
    assert kinds(make(statement=child), parents=[short]) == []
    # a rephrase restates its parent on purpose; a parent equal to the problem is skipped
    assert kinds(make(statement=PARENT, operator="rephrase"), parents=[PARENT]) == []
    same = make(statement=PARENT, id="x")
    assert kinds(same, parents=[same]) == []
    assert kinds(same, parents=PARENT) == ["parent_copy"]  # one statement, not its letters
    with pytest.raises(TypeError, match="position 1"):
        find_degeneracies(same, parents=[PARENT, 42])


# ------------------------------------------------------------------------- API
def test_module_doctests_and_public_names():
    assert doctest.testmod(degeneracy).failed == 0
    assert set(KINDS) == {"constant_output", "ignored_argument", "duplicate_tests", "parent_copy"}
    assert set(degeneracy.__all__) <= set(dir(degeneracy))


# ------------------------------------------------------------------------- real data
def _shares(problems: list[Problem]) -> tuple[dict[str, float], list[tuple[str, str]], float]:
    counts, examples, times = Counter(), [], []
    for p in problems:
        start = time.perf_counter()
        found = find_degeneracies(p)
        times.append(time.perf_counter() - start)
        counts.update({d.kind for d in found})
        examples += [(p.id, d.detail) for d in found]
    shares = {k: counts[k] / len(problems) for k in KINDS}
    return shares, examples, statistics.median(times)


def _report(name: str, problems: list[Problem]) -> dict[str, float]:
    shares, examples, median = _shares(problems)
    text = ", ".join(f"{k} {v:.1%}" for k, v in shares.items())
    print(f"\n{name} ({len(problems)} problems, median {median * 1000:.2f} ms): {text}")
    for pid, detail in examples[:5]:
        print(f"  {pid}: {detail}")
    assert median < 0.05  # seconds; typically ~1-3 ms (pure AST, nothing executed)
    return shares


def test_bundled_seeds_are_rarely_flagged():
    seeds = load_bundled_seeds().problems
    shares = _report("bundled seeds", seeds)
    assert shares["constant_output"] < 0.10
    assert all(v < 0.10 for v in shares.values())
    # every seed's tests are read: expected values exist for each
    assert all(expected_values(p.tests, p.entry_point) for p in seeds)


def test_real_benchmarks_are_rarely_flagged(datasets_dir):
    mbpp = load_problems(datasets_dir / "mbpp.jsonl").problems[:200]
    humaneval = load_problems(datasets_dir / "humaneval.jsonl").problems
    for name, problems in (("MBPP (first 200)", mbpp), ("HumanEval", humaneval)):
        shares = _report(name, problems)
        assert all(v < 0.05 for v in shares.values()), (name, shares)
        read = sum(bool(expected_values(p.tests, p.entry_point)) for p in problems)
        assert read / len(problems) >= 0.95, (name, read)
    # known defects of MBPP found by the rules (checked by hand)
    by_id = {p.id: p for p in load_problems(datasets_dir / "mbpp.jsonl").problems}
    assert kinds(by_id["mbpp-37"]) == ["duplicate_tests"]  # three identical tests
    assert kinds(by_id["mbpp-42"]) == ["ignored_argument"]  # find_Sum(arr, n) ignores n
    assert kinds(by_id["mbpp-816"]) == ["constant_output"]  # clear_tuple: always ()


def test_distinct_real_tasks_are_not_parent_copies(datasets_dir):
    seeds = [p.model_copy(update={"tests": None}) for p in load_bundled_seeds().problems]
    assert [d for p in seeds[::2] for d in find_degeneracies(p, parents=seeds)] == []
    # MBPP's own near-duplicate pair ("... joined with an underscore" / "... using regex")
    mbpp = load_problems(datasets_dir / "mbpp.jsonl").problems[:200]
    flagged = {
        p.id for p in mbpp for d in find_degeneracies(p, parents=mbpp) if d.kind == "parent_copy"
    }
    assert flagged == {"mbpp-16", "mbpp-43"}
