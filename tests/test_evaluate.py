"""Test-taker evaluation: the pass@k estimator against brute force, and a full evaluation
through the real client, a local OpenAI-compatible server with a scripted model of mixed
correctness, and the real sandbox."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from fractions import Fraction

import pytest
from openai_server import FakeOpenAIServer
from scripted_llm import DEFAULT_ANSWER_PLAN, ScriptedLLM, scripted_problem

from infosynth_core.config import LLMConfig
from infosynth_core.engines.llm import LLMEngine
from infosynth_core.errors import ConfigError, LLMError
from infosynth_core.evaluate import EvaluationReport, evaluate, pass_at_k
from infosynth_core.llm.client import LLMClient
from infosynth_core.sandbox import Limits, Sandbox


# ============================================================================ pass@k
def brute_force(n: int, c: int, k: int) -> Fraction:
    """Share of all k-subsets of n answers (the first c correct) with a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(i < c for i in s) for s in subsets), len(subsets))


def test_pass_at_k_matches_enumeration_of_all_subsets():
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(float(brute_force(n, c, k)), abs=1e-12)


def test_pass_at_1_is_the_pass_rate_and_limits():
    for n, c in [(1, 0), (1, 1), (10, 3), (200, 17)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n)
    assert pass_at_k(5, 0, 5) == 0.0 and pass_at_k(5, 5, 1) == 1.0 and pass_at_k(5, 1, 5) == 1.0
    exact = 1 - math.comb(990, 100) / math.comb(1000, 100)  # large n: stable, no overflow
    assert pass_at_k(1000, 10, 100) == pytest.approx(exact, rel=1e-12)
    assert 0.0 <= pass_at_k(100_000, 1, 50_000) <= 1.0


@pytest.mark.parametrize(
    "args, name",
    [((0, 0, 1), "'n'"), ((5, -1, 1), "'c'"), ((5, 6, 1), "'c'"), ((5, 2, 0), "'k'"),
     ((5, 2, 6), "'k'"), ((5.0, 2, 1), "'n'"), ((5, 2, True), "'k'"), ((5, "2", 1), "'c'")],
)  # fmt: skip
def test_pass_at_k_rejects_bad_arguments(args, name):
    with pytest.raises(ConfigError, match=name) as info:
        pass_at_k(*args)
    assert "pass_at_k" in str(info.value) and "got" in str(info.value)


# ============================================================================ evaluate
@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox(workers=2, coverage=False, limits=Limits(timeout_s=10))
    yield sb
    sb.close()


PROBLEMS = [scripted_problem(slug, "eval") for slug in DEFAULT_ANSWER_PLAN]


def run_evaluation(problems, sandbox, responder=None, *, server_kw=None, **kw):
    with FakeOpenAIServer(responder or ScriptedLLM(), **(server_kw or {})) as server:
        cfg = LLMConfig(model="taker", base_url=server.base_url, timeout_s=5, max_retries=0)

        async def go():
            engine = LLMEngine(LLMClient(cfg, api_key="k"), random_state=1)
            try:
                return await evaluate(problems, engine, sandbox, **kw)
            finally:
                await engine.aclose()

        return asyncio.run(go()), server


def test_evaluate_mixed_answers_exact_percentages(sandbox):
    seen = []
    skipped = [
        PROBLEMS[0].model_copy(update={"id": "no-tests", "tests": None}),
        PROBLEMS[0].model_copy(update={"id": "unverified", "status": "failed"}),
    ]
    report, server = run_evaluation(
        [*PROBLEMS, *skipped],
        sandbox,
        samples=3,
        ks=(1, 2, 3),
        progress=lambda done, total, r: seen.append((done, total, r.problem_id)),
    )
    assert isinstance(report, EvaluationReport) and report.model == "taker"
    # plan per family over 3 samples: c = 3, 2, 0, 1, 0, 1 of 18 answers
    assert report.n_answers == 18 and len(server.requests) == 18
    assert report.counts == {"pass": 7, "fail": 5, "error": 6}
    assert report.pct_pass == pytest.approx(100 * 7 / 18)
    assert report.pct_fail == pytest.approx(100 * 5 / 18)
    assert report.pct_error == pytest.approx(100 * 6 / 18)
    assert report.statuses == {"passed": 7, "failed": 5, "error": 3, "no_code": 3}
    assert report.pass_at[1] == pytest.approx(7 / 18)
    assert report.pass_at[2] == pytest.approx(5 / 9)
    assert report.pass_at[3] == pytest.approx(4 / 6)
    by_id = {p.id: p for p in report.problems}
    assert [p.c for p in report.problems] == [3, 2, 0, 1, 0, 1]
    assert by_id["count_letter-eval"].counts == {"pass": 2, "fail": 1, "error": 0}
    assert by_id["count_above-eval"].counts == {"pass": 0, "fail": 0, "error": 3}
    assert by_id["count_letter-eval"].pass_at[1] == pytest.approx(2 / 3)
    assert report.skipped == (("no-tests", "no tests"), ("unverified", "status failed, not passed"))
    assert sorted(d for d, _, _ in seen) == list(range(1, 19)) and {t for _, t, _ in seen} == {18}
    assert report.usage.calls == 18 and report.usage.completion_tokens > 0
    assert len({r["seed"] for r in server.requests}) == 3  # one seed per sample index

    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert (data["pass"], data["fail"], data["error"], data["n_problems"]) == (7, 5, 6, 6)
    assert data["pass_at_k"]["1"] == pytest.approx(7 / 18)
    assert "code" not in data["problems"][0]["samples"][0]
    assert report.to_dict(code=True)["problems"][0]["samples"][0]["code"].startswith("def ")
    table = report.table()
    assert "38.9 %" in table and "27.8 %" in table and "33.3 %" in table
    assert "pass@3" in table and "count_above-eval" in table and "skipped 2" in table


def test_evaluate_validates_and_handles_empty_input(sandbox):
    for kw, name in [({"samples": 0}, "'samples'"), ({"samples": 2, "ks": (3,)}, "'ks'"),
                     ({"ks": ()}, "'ks'")]:  # fmt: skip
        with pytest.raises(ConfigError, match=name):
            run_evaluation(PROBLEMS[:1], sandbox, **kw)
    report, server = run_evaluation([], sandbox)
    assert report.n_answers == 0 and report.pct_pass is None and report.pass_at == {1: None}
    assert server.requests == []
    json.dumps(report.to_dict(), allow_nan=False)
    assert "0 answers" in report.table()


def test_evaluate_propagates_endpoint_failure(sandbox):
    with pytest.raises(LLMError):
        run_evaluation(PROBLEMS[:2], sandbox, server_kw={"faults": ["500"]}, samples=1)
