"""LLMEngine end to end: the real ``openai`` client (through LLMClient) against a local
OpenAI-compatible server answering with a scripted model; drafts run in the real sandbox.
Everything stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time

import pytest
from openai_server import FakeOpenAIServer
from scripted_llm import ScriptedLLM, family_of, scripted_problem

from infosynth_core.config import LLMConfig
from infosynth_core.engines.base import MUTATION_LEVELS, Candidate, Engine, Round
from infosynth_core.engines.llm import LLMEngine
from infosynth_core.errors import BudgetExceededError, ConfigError, LLMError
from infosynth_core.llm import prompts
from infosynth_core.llm.client import LLMClient
from infosynth_core.sandbox import Limits, Sandbox
from infosynth_core.store import Store
from infosynth_core.topics import topic_names


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox(workers=2, coverage=False, limits=Limits(timeout_s=10))
    yield sb
    sb.close()


def drive(responder, body, *, store=None, server_kw=None, **config):
    """Run ``await body(engine)`` with a fresh client and engine against a fresh server;
    returns (result, server)."""
    with FakeOpenAIServer(responder, **(server_kw or {})) as server:
        cfg = LLMConfig(
            model="scripted", base_url=server.base_url, timeout_s=5, backoff_s=0.01, **config
        )

        async def go():
            engine = LLMEngine(LLMClient(cfg, store=store, api_key="k"), random_state=3)
            try:
                return await body(engine)
            finally:
                await engine.aclose()

        return asyncio.run(go()), server


PARENT = scripted_problem("sum_multiples", "parent")
OTHERS = [scripted_problem(s, "x") for s in ("count_letter", "scaled_max", "count_above")]


def run(sandbox, draft, id="d"):
    return sandbox.run(draft.solution, draft.tests, id=id)


@pytest.mark.parametrize("messy", [False, True])
def test_mutate_gives_three_solvable_variants(sandbox, messy):
    async def body(engine):
        assert isinstance(engine, Engine) and (engine.name, engine.model) == ("llm", "scripted")
        proposal = await engine.mutate(PARENT, rng=random.Random(1))
        drafts = [await engine.solve(c, []) for c in proposal.candidates]
        return proposal, drafts

    (proposal, drafts), server = drive(ScriptedLLM(messy=messy), body)
    assert proposal.unparsable == 0 and proposal.notes == []
    assert [c.operator for c in proposal.candidates] == list(MUTATION_LEVELS.values())
    assert len({c.problem for c in proposal.candidates}) == 3
    for c in proposal.candidates:
        assert c.parents == (PARENT.id,) and c.entry_point and c.solution is None
        assert f"def {c.entry_point}(" in c.problem
    assert proposal.usage.calls == 1 and proposal.usage.prompt_tokens > 0
    assert [prompts.kind_of(r["messages"]) for r in server.requests] == ["mutation"] + ["solve"] * 3
    for c, draft in zip(proposal.candidates, drafts, strict=True):
        assert not draft.unparsable and draft.entry_point == c.entry_point
        assert run(sandbox, draft).status == "passed"


def test_garbled_mutation_section_is_counted_not_raised():
    async def body(engine):
        return await engine.mutate(PARENT, rng=random.Random(1))

    proposal, _ = drive(ScriptedLLM(garbage={"mutation"}), body)
    assert [c.operator for c in proposal.candidates] == ["mutation-easy", "mutation-medium"]
    assert proposal.unparsable == 1
    assert proposal.notes == [f"mutation of {PARENT.id}: the harder variant: no usable section"]


def test_copies_are_not_candidates():
    other = scripted_problem("count_above", "copy").problem

    def copycat(body):
        return f"<easier>{PARENT.problem}</easier><equal>{other}</equal><harder>{other}</harder>"

    proposal, _ = drive(copycat, lambda e: e.mutate(PARENT, rng=random.Random(0)))
    assert [c.operator for c in proposal.candidates] == ["mutation-medium"]
    assert proposal.unparsable == 2
    assert "copy of the parent" in proposal.notes[0] and "another variant" in proposal.notes[1]


def test_crossover_makes_count_concurrent_distinct_calls():
    async def body(engine):
        return await engine.crossover([PARENT, *OTHERS], count=3, rng=random.Random(5))

    t0 = time.monotonic()
    proposal, server = drive(ScriptedLLM(), body, server_kw={"latency_s": 0.4})
    assert time.monotonic() - t0 < 3 * 0.4 + 1.0 and server.max_in_flight >= 2
    assert len(server.requests) == 3 and len({r["seed"] for r in server.requests}) == 3
    assert len({r["messages"][1]["content"] for r in server.requests}) == 3
    assert proposal.unparsable == 0 and len(proposal.candidates) == 3
    assert len({c.problem for c in proposal.candidates}) == 3
    for c in proposal.candidates:
        assert c.operator == "crossover" and c.parents == (PARENT.id, *(o.id for o in OTHERS))
    assert proposal.usage.calls == 3


def test_crossover_garbage_and_bad_arguments():
    async def body(engine):
        with pytest.raises(ConfigError, match="'count'"):
            await engine.crossover([PARENT], count=0, rng=random.Random(0))
        return await engine.crossover([PARENT, *OTHERS], count=2, rng=random.Random(0))

    proposal, _ = drive(ScriptedLLM(garbage={"crossover"}), body)
    assert proposal.candidates == [] and proposal.unparsable == 2
    assert all("names no function" in n for n in proposal.notes), proposal.notes


def test_wrong_solution_is_fixed_with_feedback(sandbox):
    candidate = Candidate(PARENT.problem, "mutation-easy", (PARENT.id,), PARENT.entry_point)

    async def body(engine):
        first = await engine.solve(candidate, [])
        r1 = run(sandbox, first, "wrong")
        second = await engine.solve(candidate, [Round(first, r1)])
        return first, r1, second

    (first, r1, second), server = drive(ScriptedLLM(wrong_first=True), body)
    assert r1.status == "failed" and "failed" in set(r1.tests.values())
    assert run(sandbox, second, "fixed").status == "passed"
    kinds = [prompts.kind_of(r["messages"]) for r in server.requests]
    assert kinds == ["solve", "feedback"]
    feedback = server.requests[1]["messages"][1]["content"]
    assert first.solution.strip() in feedback and "UNTRUSTED_OUTPUT" in feedback
    assert "status: failed" in feedback and "## Attempt 1" in feedback


def test_unparsable_solve_answer_then_feedback(sandbox):
    candidate = Candidate(PARENT.problem, "crossover", (PARENT.id,))

    async def both(engine):
        first = await engine.solve(candidate, [])
        second = await engine.solve(candidate, [Round(first, None)])
        return first, second

    (first, second), server = drive(ScriptedLLM(garbage={"solve"}), both)
    assert first.unparsable and first.solution is None and first.tests is None
    assert "no python code blocks" in first.note and first.usage.calls == 1
    assert not second.unparsable and second.entry_point == family_of(PARENT.problem)[1]
    assert "Nothing was run" in server.requests[1]["messages"][1]["content"]
    assert run(sandbox, second).status == "passed"


def test_identical_calls_are_answered_from_the_cache(tmp_path):
    store = Store(tmp_path / "cache.db")
    candidate = Candidate(PARENT.problem, "mutation-easy", (PARENT.id,), PARENT.entry_point)

    async def body(engine):
        a = await engine.mutate(PARENT, rng=random.Random(9))
        b = await engine.mutate(PARENT, rng=random.Random(9))  # same draw: same request
        c = await engine.mutate(PARENT, rng=random.Random(10))  # another draw: asked anew
        s1, s2 = await engine.solve(candidate, []), await engine.solve(candidate, [])
        t1, t2 = await engine.tag(PARENT.problem), await engine.tag(PARENT.problem)
        x = [await engine.answer(PARENT, sample=i) for i in (0, 1, 0)]
        return a, b, c, s1, s2, t1, t2, x

    try:
        (a, b, c, s1, s2, t1, t2, x), server = drive(ScriptedLLM(), body, store=store)
    finally:
        store.close()
    assert a.candidates == b.candidates and a.candidates != c.candidates
    assert (a.usage.calls, b.usage.calls, b.usage.cached_calls) == (1, 0, 1)
    assert dataclasses.replace(s2, usage=s1.usage) == s1 and s2.usage.cached_calls == 1
    assert t1[0] == t2[0] == ["Math"] and t2[1].cached_calls == 1
    assert x[0][0] == x[2][0] and x[2][1].cached_calls == 1 and x[1][1].calls == 1
    kinds = [prompts.kind_of(r["messages"]) for r in server.requests]
    assert kinds == ["mutation", "mutation", "solve", "tag", "answer", "answer"]


def test_rephrase_and_tag():
    async def body(engine):
        return await engine.rephrase(PARENT), await engine.tag(PARENT.problem)

    ((statement, usage), (topics, tag_usage)), server = drive(ScriptedLLM(messy=True), body)
    assert statement.startswith(PARENT.problem) and "smallest inputs" in statement
    assert usage.calls == 1 and tag_usage.calls == 1
    assert topics == ["Math"] and set(topics) <= set(topic_names())
    assert server.requests[1]["temperature"] == 0.0

    (none, _), _ = drive(ScriptedLLM(garbage={"rephrase"}), lambda e: e.rephrase(PARENT))
    assert none is None


def test_endpoint_failures_and_budget_propagate():
    async def mutate(engine):
        return await engine.mutate(PARENT, rng=random.Random(0))

    with pytest.raises(LLMError, match="failed 1 time"):
        drive(ScriptedLLM(), mutate, server_kw={"faults": ["500"]}, max_retries=0)

    async def crossover(engine):
        return await engine.crossover([PARENT, *OTHERS], count=3, rng=random.Random(0))

    with pytest.raises(LLMError):  # one of three calls fails: the step fails, none dangles
        drive(ScriptedLLM(), crossover, server_kw={"faults": [None, "500"]}, max_retries=0)

    async def two_calls(engine):
        await engine.solve(Candidate(PARENT.problem, "crossover", ()), [])
        return await engine.mutate(PARENT, rng=random.Random(0))

    with pytest.raises(BudgetExceededError):
        drive(ScriptedLLM(), two_calls, budget_tokens=10)
