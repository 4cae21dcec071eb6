"""A scripted "model" for :class:`openai_server.FakeOpenAIServer` (not a test module).

:class:`ScriptedLLM` recognises which InfoSynth prompt a request carries (by its system
message, ``prompts.kind_of``) and answers like a competent model, deterministically:

* mutation / crossover: new statements of small integer problems from six families (sum of
  multiples, letter count, scaled maximum, digit sum, count above, longest run), each with
  its parameters and a function name derived from a hash of the request (and its seed);
* solve / feedback: a solution and tests for the function the statement names; the
  expected values are computed by running the reference code here, so the sandbox passes;
* rephrase: the statement plus a sentence on edge cases; tag: JSON topics; answer: code
  that follows a per-family plan of correct, wrong (+1), raising or code-less answers.

Bad behaviour is switched on per kind: ``wrong_first`` (the first solve is off by one, the
feedback round fixes it), ``garbage`` (kinds answered with unusable text; a garbled mutation
loses its harder section) and ``messy`` (markdown headers, ```py fences, chatter, tests
before the solution, JSON in a fence with trailing text).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infosynth_core.llm import prompts
from infosynth_core.problem import Origin, Problem

__all__ = ["ScriptedLLM", "FAMILIES", "DEFAULT_ANSWER_PLAN", "scripted_problem", "family_of"]


@dataclass(frozen=True)
class Family:
    slug: str
    signature: str  # "(n: int) -> int"
    text: str  # description with {p0}, {p1}
    pattern: str  # recovers (p0, p1) from a statement
    expr: str  # the returned expression, with {p0}, {p1}
    inputs: tuple[tuple, ...]
    topics: tuple[str, ...]
    params: tuple[Sequence, ...]  # choices of p0, p1

    def fill(self, h: bytes) -> tuple:
        return tuple(choices[h[i] % len(choices)] for i, choices in enumerate(self.params))


FAMILIES = (
    Family(
        "sum_multiples", "(n: int) -> int",
        "Return the sum of all positive integers smaller than n that are divisible by {p0} "
        "or by {p1}. For n <= 1 the result is 0.",
        r"divisible by (\d+) or by (\d+)",
        "sum(i for i in range(1, n) if i % {p0} == 0 or i % {p1} == 0)",
        ((0,), (1,), (10,), (16,), (30,)), ("Math",), ((2, 3, 4, 5), (6, 7, 9)),
    ),
    Family(
        "count_letter", "(s: str) -> int",
        "Return how many times the letter '{p0}' occurs in the string s, ignoring case. "
        "The empty string contains it 0 times.",
        r"the letter '(\w)'",
        "s.lower().count('{p0}')",
        (("",), ("banana",), ("ABRACADABRA",), ("Mississippi",)), ("String", "Counting"),
        ("aeis",),
    ),
    Family(
        "scaled_max", "(nums: list[int]) -> int",
        "Return the largest element of the list nums multiplied by {p0}. For an empty list "
        "return 0.",
        r"multiplied by (\d+)",
        "max(nums) * {p0} if nums else 0",
        (([],), ([3, 1, 4],), ([-5, -2],), ([7],)), ("Array",), ((2, 3, 5, 7),),
    ),
    Family(
        "digit_sum_mod", "(n: int) -> int",
        "Given a non-negative integer n, return the sum of its decimal digits modulo {p0}.",
        r"modulo (\d+)",
        "sum(int(d) for d in str(n)) % {p0}",
        ((0,), (7,), (1234,), (99999,)), ("Math",), ((3, 4, 7, 9),),
    ),
    Family(
        "count_above", "(nums: list[int]) -> int",
        "Return how many elements of the list nums are strictly greater than {p0}. An empty "
        "list has none.",
        r"strictly greater than (-?\d+)",
        "sum(1 for x in nums if x > {p0})",
        (([],), ([1, 5, 9, 2],), ([0, 0, 0],), ([10, -10, 4, 4],)), ("Array", "Counting"),
        ((0, 2, 4),),
    ),
    Family(
        "longest_run", "(s: str) -> int",
        "Return the length of the longest block of consecutive '{p0}' characters in the "
        "string s, or 0 when s has no '{p0}'.",
        r"consecutive '(\w)' characters",
        "max((len(r) for r in ''.join(c if c == '{p0}' else ' ' for c in s).split()), default=0)",
        (("",), ("xyz",), ("abbbcbb",), ("b b bbbb",)), ("String", "Sliding Window"),
        ("bx",),
    ),
)  # fmt: skip
_BY_SLUG = {f.slug: f for f in FAMILIES}

#: what ``answer`` does per family, cycling over the n-th answer request for a function
DEFAULT_ANSWER_PLAN: dict[str, tuple[str, ...]] = {
    "sum_multiples": ("correct",),
    "count_letter": ("correct", "wrong", "correct"),
    "scaled_max": ("wrong",),
    "digit_sum_mod": ("error", "correct", "error"),
    "count_above": ("garbage",),
    "longest_run": ("correct", "wrong", "error"),
}


def _hash(*parts: object) -> bytes:
    return hashlib.sha256("\x00".join(map(str, parts)).encode("utf-8")).digest()


def _make(family: Family, params: tuple, h: bytes) -> tuple[str, str]:
    """(function name, statement) of a new problem."""
    name = f"{family.slug}_{h[8:10].hex()}"
    ps = {f"p{i}": v for i, v in enumerate(params)}
    args = family.inputs[-1]
    value = _run(_code(family, name, params), name, args)
    example = ", ".join(map(repr, args))
    statement = (
        f"Write a Python function\n\ndef {name}{family.signature}\n\n"
        f"{family.text.format(**ps)}\n\nExample: {name}({example}) returns {value!r}."
    )
    return name, statement


def _code(family: Family, name: str, params: tuple, how: str = "correct") -> str:
    expr = family.expr.format(**{f"p{i}": v for i, v in enumerate(params)})
    body = {
        "correct": f"return {expr}",
        "wrong": f"return ({expr}) + 1",
        "error": "raise NotImplementedError('I did not finish this')",
    }[how]
    return f"def {name}{family.signature}:\n    {body}\n"


def _run(code: str, name: str, args: tuple) -> Any:
    space: dict[str, Any] = {}
    exec(code, space)  # our own generated reference code, never model output
    return space[name](*args)


def _tests(family: Family, name: str, params: tuple) -> str:
    reference = _code(family, name, params)
    cases = [
        f"def test_case_{i}():\n    assert {name}({', '.join(map(repr, args))}) == "
        f"{_run(reference, name, args)!r}\n"
        for i, args in enumerate(family.inputs)
    ]
    return f"from solution import {name}\n\n\n" + "\n\n".join(cases)


def family_of(statement: str) -> tuple[Family, str, tuple]:
    """(family, function name, params) of a statement; statements not made here get a
    family by hash (and the name they give, else a made-up one)."""
    m = re.search(r"\bdef\s+([A-Za-z_]\w*)\s*\(", statement)
    name = m.group(1) if m else None
    slug = name.rsplit("_", 1)[0] if name else ""
    family = _BY_SLUG.get(slug)
    if family is not None:
        found = re.search(family.pattern, statement)
        if found:
            params = tuple(int(g) if g.lstrip("-").isdigit() else g for g in found.groups())
            return family, name or "", params
    h = _hash(statement)
    family = FAMILIES[h[0] % len(FAMILIES)]
    return family, name or f"{family.slug}_{h[8:10].hex()}", family.fill(h[1:])


def scripted_problem(slug: str, key: str = "p", *, status: str = "passed") -> Problem:
    """A problem of family ``slug`` with its reference solution and tests."""
    family = _BY_SLUG[slug]
    h = _hash(slug, key)
    params = family.fill(h)
    name, statement = _make(family, params, h)
    return Problem(
        id=f"{slug}-{key}",
        problem=statement,
        solution=_code(family, name, params),
        tests=_tests(family, name, params),
        entry_point=name,
        topics=family.topics,
        origin=Origin(operator="seed"),
        status=status,
    )


def _between(text: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}[^>]*>\n?(.*?)\n?</{tag}>", text, re.DOTALL)


class ScriptedLLM:
    """The responder (thread-safe; see the module docstring).

    Parameters
    ----------
    wrong_first
        The first solve answer is off by one; feedback answers are correct.
    garbage
        Kinds answered with unusable text ("mutation": the harder section is missing;
        "solve": prose without code; "crossover", "rephrase", "tag", "answer": prose).
    messy
        Answer in the formats real models drift into instead of the requested ones.
    answer_plan
        ``{family slug: (behaviour, …)}`` with behaviours correct | wrong | error | garbage,
        used in turn for the answer requests of each function (default
        :data:`DEFAULT_ANSWER_PLAN`).
    """

    def __init__(
        self,
        *,
        wrong_first: bool = False,
        garbage: Collection[str] = (),
        messy: bool = False,
        answer_plan: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.wrong_first = wrong_first
        self.garbage = set(garbage)
        self.messy = messy
        self.answer_plan = dict(answer_plan or DEFAULT_ANSWER_PLAN)
        self.calls: Counter[str] = Counter()
        self._answers: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        kind = prompts.kind_of(messages) or "unknown"
        with self._lock:
            self.calls[kind] += 1
        user = str(messages[-1].get("content", "")) if messages else ""
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            return "I do not know this kind of request."
        if kind in self.garbage and kind != "mutation":
            return "Hmm, interesting question! I would rather talk about the weather today."
        return handler(user, body.get("seed"))

    # ------------------------------------------------------------------ kinds
    def _variant(self, *parts: object) -> str:
        h = _hash(*parts)
        family = FAMILIES[h[0] % len(FAMILIES)]
        return _make(family, family.fill(h[1:]), h)[1]

    def _mutation(self, user: str, seed: Any) -> str:
        words = ("easier", "equal", "harder")
        texts = {w: self._variant(user, seed, w) for w in words}
        if "mutation" in self.garbage:
            texts["harder"] = "(I ran out of ideas here.)"
        if self.messy:
            parts = [f"**{w.capitalize()} variant:**\n\n{texts[w]}" for w in words]
            return (
                "Sure! Here are the three exercises:\n\n"
                + "\n\n---\n\n".join(parts)
                + ("\n\nLet me know if you want more!")
            )
        return "\n".join(f"<{w}>\n{texts[w]}\n</{w}>" for w in words)

    def _crossover(self, user: str, seed: Any) -> str:
        statement = self._variant(user, seed, "crossover")
        if self.messy:
            return f"Here is a new exercise:\n\n### PROBLEM\n{statement}\n\nI hope this helps!"
        return f"<problem>\n{statement}\n</problem>"

    def _solution(self, user: str, how: str) -> str:
        statement = (_between(user, "problem") or [user])[0]
        family, name, params = family_of(statement)
        solution, tests = _code(family, name, params, how), _tests(family, name, params)
        if self.messy:
            return (
                "Let me think about edge cases first.\n\n**Tests** (`test_solution.py`):\n"
                f"```py\n{tests}```\n\nAnd the implementation:\n\n```python3\n{solution}```\n"
                "These cover the empty case."
            )
        return f"### SOLUTION\n```python\n{solution}```\n\n### TESTS\n```python\n{tests}```\n"

    def _solve(self, user: str, seed: Any) -> str:
        return self._solution(user, "wrong" if self.wrong_first else "correct")

    def _feedback(self, user: str, seed: Any) -> str:
        return self._solution(user, "correct")

    def _rephrase(self, user: str, seed: Any) -> str:
        statement = _between(user, "problem")[0].strip()
        return (
            f"<problem>\n{statement}\n\nThe smallest inputs (zero, empty string or list) "
            "follow the same rule and are valid arguments.\n</problem>"
        )

    def _tag(self, user: str, seed: Any) -> str:
        family, _, _ = family_of(_between(user, "problem")[0])
        topics = ", ".join(f'"{t}"' for t in family.topics)
        if self.messy:
            return f'```json\n{{"topics": [{topics}]}}\n```\nThese fit best.'
        return f'{{"topics": [{topics}]}}'

    def _answer(self, user: str, seed: Any) -> str:
        family, name, params = family_of(_between(user, "problem")[0])
        plan = self.answer_plan.get(family.slug, ("correct",))
        with self._lock:
            n = self._answers[name]
            self._answers[name] += 1
        how = plan[n % len(plan)]
        if how == "garbage":
            return "This is a classic problem; loop over the input and count. Good luck!"
        return f"```python\n{_code(family, name, params, how)}```"


def budget_capped_config(base_url: str):
    """A small LLM run against the scripted server at ``base_url`` whose 3,000-token budget
    stops it in its first generation (for the tests that raise a budget and continue)."""
    from infosynth_core.config import load_run_config

    return load_run_config(
        overrides={
            "engine": "llm",
            "llm": {"base_url": base_url, "model": "scripted", "timeout_s": 5,
                    "api_key_env": "INFOSYNTH_TEST_NO_KEY", "budget_tokens": 3000,
                    "concurrency": 2},
            "generations": 2, "colonies": 2, "seeds_per_colony": 6,
            "steps_per_generation": 2, "feedback_rounds": 2, "metrics": {"enabled": False},
        }
    )  # fmt: skip

