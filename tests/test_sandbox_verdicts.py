"""Verdicts the code under test cannot forge: the solution runs in its own process and the
tests get a proxy (``sandbox/_remote.py``). One case per attack class, each "not passed"
where the honest solution of the same problem passes; and the features real problems need
(exceptions into pytest.raises, design classes, in-place edits, callbacks, generators,
built-in types as arguments) still pass."""

from __future__ import annotations

import textwrap

import pytest

from infosynth_core.sandbox import Limits, Sandbox

TESTS = textwrap.dedent(
    """
    from solution import add

    def test_small():
        assert add(1, 2) == 3

    def test_large():
        assert add(10**6, 1) == 10**6 + 1
    """
)
HONEST = "def add(a, b):\n    return a + b\n"

ATTACKS = {
    "always-equal object": """
        class Anything:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = object.__hash__
        def add(a, b):
            return Anything()
        """,
    "always-equal int subclass": """
        class Liar(int):
            def __eq__(self, other):
                return True
        def add(a, b):
            return Liar(0)
        """,
    "settrace skips the test bodies": """
        import sys
        def _skip(frame, event, arg):
            if frame.f_code.co_name.startswith("test_"):
                raise SystemExit(0)
            return _skip
        sys.settrace(_skip)
        import threading
        threading.settrace(_skip)
        def add(a, b):
            sys.settrace(_skip)
            return 0
        """,
    "fake unittest and pytest in sys.modules": """
        import sys, types
        for name in ("unittest", "pytest", "_pytest"):
            fake = types.ModuleType(name)
            fake.TestCase = object
            fake.raises = lambda *a, **k: None
            sys.modules[name] = fake
        def add(a, b):
            return 0
        """,
    "builtins planted": """
        import builtins
        builtins.AssertionError = type("AssertionError", (Exception,), {})
        builtins.__import__ = lambda *a, **k: None
        def add(a, b):
            return 0
        """,
    "os._exit(0) before the first answer": """
        import os
        def add(a, b):
            os._exit(0)
        """,
    "atexit and excepthook": """
        import atexit, os, sys
        atexit.register(lambda: os._exit(0))
        sys.excepthook = lambda *a: None
        def add(a, b):
            raise SystemExit(0)
        """,
    "stdout markers": """
        import sys
        def add(a, b):
            for text in ("passed", "PASSED", "{\\"event\\": \\"test\\", \\"outcome\\": \\"passed\\"}",
                         "1 passed in 0.01s"):
                print(text); print(text, file=sys.stderr)
            return 0
        """,
    "writes a forged test file and a fake solution module": """
        import os
        with open("test_solution.py", "w") as f:
            f.write("def test_small():\\n    pass\\ndef test_large():\\n    pass\\n")
        with open("pytest.py", "w") as f:
            f.write("")
        def add(a, b):
            return 0
        """,
    "reaches into the tests' process through /proc": """
        import os, glob
        def add(a, b):
            parent = os.getppid()
            for fd in glob.glob(f"/proc/{parent}/fd/*"):
                try:
                    with open(fd, "wb") as f:
                        f.write(b"\\x00\\x00\\x00\\x02{}")
                except OSError:
                    pass
            try:
                with open(f"/proc/{parent}/mem", "rb"):
                    pass
            except OSError:
                pass
            return 0
        """,
    "kills the tests' process": """
        import os, signal
        def add(a, b):
            os.kill(os.getppid(), signal.SIGKILL)
        """,
    "returns a generator instead of a number": """
        def add(a, b):
            yield a + b
        """,
}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=Limits(timeout_s=10)) as sb:
        yield sb


def test_the_honest_solution_passes(sandbox):
    r = sandbox.run(HONEST, TESTS)
    assert r.status == "passed", (r.errors, r.stderr[-500:])
    assert r.tests == {"test_small": "passed", "test_large": "passed"}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_on_the_verdict_never_passes(sandbox, attack):
    r = sandbox.run(textwrap.dedent(ATTACKS[attack]), TESTS)
    assert r.status != "passed", (attack, r.tests, r.stdout[-300:])
    assert "passed" not in r.tests.values(), (attack, r.tests)
    # the sandbox is fine afterwards: an honest run passes on the same workers
    assert sandbox.run(HONEST, TESTS).status == "passed"


def test_exceptions_of_the_solution_reach_pytest_raises(sandbox):
    solution = textwrap.dedent(
        """
        class BadInput(ValueError):
            pass
        def parse(text):
            if not text:
                raise BadInput("empty")
            if text == "x":
                raise KeyError("x")
            return int(text)
        """
    )
    tests = textwrap.dedent(
        """
        import pytest
        from solution import BadInput, parse

        def test_errors():
            with pytest.raises(BadInput, match="empty"):
                parse("")
            with pytest.raises(ValueError):
                parse("")
            with pytest.raises(KeyError):
                parse("x")

        def test_value():
            assert parse("12") == 12
        """
    )
    r = sandbox.run(solution, tests)
    assert r.status == "passed", (r.errors, r.stderr[-500:])


def test_design_classes_in_place_edits_callbacks_and_generators_work(sandbox):
    solution = textwrap.dedent(
        """
        import math
        from collections import namedtuple
        Point = namedtuple("Point", "x y")
        LIMIT = 10

        class MinStack:
            def __init__(self):
                self.items = []
            def push(self, x):
                self.items.append(x)
            def get_min(self):
                return min(self.items)
            def __len__(self):
                return len(self.items)

        def sort_in_place(nums, table):
            nums.sort()
            table["sorted"] = True

        def apply(fn, xs):
            return [fn(x) for x in xs]

        def depth(node):
            return 0 if node is None else 1 + max(depth(node.left), depth(node.right))

        def count(n):
            yield from range(n)

        def origin():
            return Point(0, 0)

        def keep(values, kind):
            return [v for v in values if isinstance(v, kind)]
        """
    )
    tests = textwrap.dedent(
        """
        from solution import *

        class Node:
            def __init__(self, left=None, right=None):
                self.left, self.right = left, right

        def test_design_class():
            s = MinStack()
            s.push(3); s.push(1); s.push(2)
            assert s.get_min() == 1 and len(s) == 3 and s.items == [3, 1, 2]

        def test_in_place():
            nums, table = [3, 1, 2], {}
            assert sort_in_place(nums, table) is None
            assert nums == [1, 2, 3] and table == {"sorted": True}

        def test_callback_and_tree_of_the_tests():
            assert apply(lambda x: x * x, [1, 2, 3]) == [1, 4, 9]
            assert depth(Node(Node(Node()), Node())) == 3

        def test_generator_constants_and_modules():
            assert list(count(4)) == [0, 1, 2, 3]
            assert origin() == (0, 0) and LIMIT == 10
            assert math.sqrt(16) == 4  # 'from solution import *' brings its modules too

        def test_builtin_types_as_arguments():
            assert keep([1, "a", 2.5, 3], int) == [1, 3]
        """
    )
    r = sandbox.run(solution, tests)
    assert r.status == "passed", (r.tests, r.errors, r.stderr[-800:])


def test_a_result_that_is_not_plain_data_fails_with_a_clear_message(sandbox):
    solution = "class Box:\n    pass\ndef make():\n    return Box()\n"
    tests = "from solution import make\n\ndef test_box():\n    assert make() == 1\n"
    r = sandbox.run(solution, tests)
    assert r.status == "error" and r.tests == {"test_box": "error"}
    assert "NotPlainData: compared <Box object from the other process" in r.errors["test_box"]


def _problem(pid: str, solution: str):
    from infosynth_core.problem import Origin, Problem

    return Problem(
        id=pid,
        problem="Write add(a, b) that returns the sum of two integers.",
        solution=solution,
        tests=TESTS,
        entry_point="add",
        origin=Origin(operator="seed"),
        status="passed",
    )


def test_cli_verify_reports_no_attack_as_passed(tmp_path):
    import json

    from conftest import run_cli

    rows = [_problem("honest", HONEST)] + [
        _problem(f"attack-{i}", textwrap.dedent(code)) for i, code in enumerate(ATTACKS.values())
    ]
    path = tmp_path / "attacks.jsonl"
    path.write_text("".join(p.model_dump_json() + "\n" for p in rows), encoding="utf-8")
    r = run_cli("verify", path, "--json", "--workers", "2", "--timeout", "10")
    status = {row["id"]: row["status"] for row in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 3, r.stderr[-2000:]
    assert status.pop("honest") == "passed"
    assert len(status) == len(ATTACKS) and "passed" not in status.values(), status


def test_evaluate_with_an_adversarial_test_taker_scores_no_pass(sandbox):
    """In ``infosynth evaluate`` the answering model is the adversary: every answer is the
    always-equal attack, and none counts as a pass."""
    import asyncio

    from openai_server import FakeOpenAIServer

    from infosynth_core.config import LLMConfig
    from infosynth_core.engines.llm import LLMEngine
    from infosynth_core.evaluate import evaluate
    from infosynth_core.llm.client import LLMClient

    answer = "```python\n" + textwrap.dedent(ATTACKS["always-equal object"]) + "```\n"
    problems = [_problem(f"p{i}", HONEST) for i in range(3)]
    with FakeOpenAIServer(lambda body: answer) as server:
        cfg = LLMConfig(model="taker", base_url=server.base_url, timeout_s=5, max_retries=0)

        async def go():
            engine = LLMEngine(LLMClient(cfg, api_key="k"), random_state=1)
            try:
                return await evaluate(problems, engine, sandbox, samples=2, ks=(1,))
            finally:
                await engine.aclose()

        report = asyncio.run(go())
    assert report.n_answers == 6 and report.counts["pass"] == 0
    assert report.pass_at[1] == 0


# --------------------------------------------------------------- deadlines: CPU time, not load
BUSY = "import time\ndef work(n):\n    total = 0\n    for i in range(n):\n        total += i % 7\n    return total\n"
BUSY_TESTS = "from solution import work\n\ndef test_work():\n    assert work({n}) == {expected}\n"


def _cpu_hogs(n: int):
    import subprocess
    import sys

    return [subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"]) for _ in range(n)]


def test_a_run_on_a_busy_machine_is_judged_by_its_cpu_time():
    """Both cores busy with other work: a solution that needs well under its CPU limit passes
    however long the wall clock says it took."""
    n = 3_000_000
    expected = sum(i % 7 for i in range(n))
    hogs = _cpu_hogs(2)
    try:
        with Sandbox(workers=1, coverage=False, limits=Limits(timeout_s=8)) as sb:
            r = sb.run(BUSY, BUSY_TESTS.format(n=n, expected=expected))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert r.status == "passed", r.notes


def test_cpu_bound_code_ends_at_its_cpu_limit_and_sleeping_code_at_the_backstop(sandbox):
    spin = "def add(a, b):\n    while True:\n        pass\n"
    sleep = "import time\ndef add(a, b):\n    time.sleep(600)\n"
    with Sandbox(workers=1, coverage=False, limits=Limits(timeout_s=1, wall_s=3)) as sb:
        r_spin, r_sleep = sb.run(spin, TESTS), sb.run(sleep, TESTS)
    assert r_spin.status == "timeout"
    assert any("CPU time reached the 1 s limit" in n for n in r_spin.notes), r_spin.notes
    assert r_sleep.status == "timeout"
    assert any("3 s wall-clock backstop" in n for n in r_sleep.notes), r_sleep.notes


def test_coverage_never_changes_a_verdict():
    """Line tracing slows hot loops; past its CPU budget it stops, so a solution that passes
    without coverage passes with it, its coverage flagged as a lower bound."""
    n = 10_000_000
    expected = sum(i % 7 for i in range(n))
    tests = BUSY_TESTS.format(n=n, expected=expected)
    quick = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    with Sandbox(workers=1, coverage=True, limits=Limits(timeout_s=30)) as sb:
        heavy, light = sb.run(BUSY, tests), sb.run(HONEST, quick)
    assert heavy.status == "passed" and 0 < heavy.coverage < 1  # "return" ran after the cut
    assert any("a lower bound" in n for n in heavy.notes), heavy.notes
    assert light.status == "passed" and light.coverage == 1.0 and not light.notes
