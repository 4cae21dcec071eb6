"""LLMClient: the real ``openai`` client against a local OpenAI-compatible server
(``tests/openai_server.py``). Everything stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest
from openai_server import FakeOpenAIServer

from infosynth_core.config import LLMConfig, Prices
from infosynth_core.engines.base import Usage
from infosynth_core.errors import BudgetExceededError, ConfigError, LLMError
from infosynth_core.llm.client import Completion, LLMClient, cache_key
from infosynth_core.llm.ratelimit import TokenBucket, per_minute
from infosynth_core.llm.wire import MalformedResponse, read_completion, retry_after_s
from infosynth_core.store import Store

MSG = [{"role": "user", "content": "hello world"}]
KEY = "sk-test-SECRET-0123456789"


def cfg(server: FakeOpenAIServer, **kw) -> LLMConfig:
    base = {"model": "m", "base_url": server.base_url, "timeout_s": 0.5, "backoff_s": 0.01}
    return LLMConfig(**{**base, **kw})


def ask(client: LLMClient, messages=MSG, **kw) -> Completion:
    kw.setdefault("purpose", "solve")
    kw.setdefault("prompt_version", "v1")
    return asyncio.run(client.complete(messages, **kw))


def run_all(config: LLMConfig, calls, **client_kw):
    """Run ``calls`` (list of complete() kwargs) concurrently on one fresh client."""

    async def go():
        async with LLMClient(config, api_key=KEY, **client_kw) as client:
            outs = await asyncio.gather(
                *(
                    client.complete(**{"purpose": "solve", "prompt_version": "v1", **c})
                    for c in calls
                ),
                return_exceptions=True,
            )
            return client, outs

    return asyncio.run(go())


def one(config: LLMConfig, **client_kw):
    client, (out,) = run_all(config, [{"messages": MSG}], **client_kw)
    return client, out


# ----------------------------------------------------------------------------- normal call
def test_normal_call_returns_text_and_token_counts():
    with FakeOpenAIServer() as server:
        client, c = one(cfg(server, temperature=0.3, max_tokens=64))
    assert isinstance(c, Completion)
    assert c.text == "echo: hello world"
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (2, 3)
    assert (c.usage.calls, c.usage.cached_calls, c.usage.cost_usd) == (1, 0, 0.0)
    assert (c.cached, c.attempts, c.finish_reason, c.tokens_estimated) == (False, 1, "stop", False)
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("m", 0.3, 64)
    assert "seed" not in body
    params = {"temperature": 0.3, "max_tokens": 64, "seed": None, "prompt_version": "v1"}
    assert c.cache_key == cache_key("m", MSG, **params)
    assert client.meter.total == c.usage
    assert client.meter.by_purpose == {"solve": c.usage}
    snap = client.meter.snapshot()
    assert snap["total"]["prompt_tokens"] == 2 and snap["requests"] == 1 and snap["errors"] == {}


def test_missing_usage_is_estimated_from_characters():
    with FakeOpenAIServer(usage=False) as server:
        client, c = one(cfg(server))
    assert c.tokens_estimated
    assert c.usage.prompt_tokens == math.ceil(len("hello world") / 4)
    assert c.usage.completion_tokens == math.ceil(len("echo: hello world") / 4)
    assert client.meter.estimated_calls == 1


def test_garbage_content_is_returned_as_text():
    with FakeOpenAIServer(faults=["garbage_content"]) as server:
        _, c = one(cfg(server))
    assert c.attempts == 1 and c.text and not c.text.startswith("echo")


# ----------------------------------------------------------------------------- retries
def test_transient_failures_are_retried_counted_and_logged(tmp_path: Path):
    faults = ["429", "500", "503", "timeout", "garbage", "drop"]
    store = Store(tmp_path / "s.db")
    store.create_run(run_id="r1", seed_set=None, config={})
    with FakeOpenAIServer(faults=faults, hang_s=2.0) as server:
        client, c = one(cfg(server, max_retries=6), store=store, run_id="r1")
    assert isinstance(c, Completion), c
    assert c.text == "echo: hello world" and c.attempts == 7
    assert len(server.requests) == 7
    assert dict(client.meter.errors) == {
        "429": 1,
        "5xx": 2,
        "timeout": 1,
        "malformed": 1,
        "connection": 1,
    }
    assert client.meter.retries == 6
    events = store.events("r1")
    assert [e["data"]["kind"] for e in events] == [
        "429",
        "5xx",
        "5xx",
        "timeout",
        "malformed",
        "connection",
    ]
    assert all(e["level"] == "warning" and e["kind"] == "api_error" for e in events)
    assert [e["data"]["attempt"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[1]["data"]["status"] == 500 and events[1]["data"]["purpose"] == "solve"
    assert all(KEY not in e["message"] for e in events)


def test_401_fails_at_once_and_never_shows_the_key(tmp_path: Path):
    store = Store(tmp_path / "s.db")
    store.create_run(run_id="r1", seed_set=None, config={})
    with FakeOpenAIServer(faults=["401"]) as server:
        config = cfg(server, api_key_env="MY_LLM_KEY", max_retries=5)

        async def go():
            async with LLMClient(
                config, store=store, run_id="r1", environ={"MY_LLM_KEY": KEY}
            ) as c:
                with pytest.raises(LLMError) as err:
                    await c.complete(MSG, purpose="solve", prompt_version="v1")
                return c, err.value

        client, exc = asyncio.run(go())
    assert len(server.requests) == 1  # no retry
    text = str(exc)
    assert KEY not in text and "***" in text  # the server echoed the key; it was redacted
    assert "HTTP 401" in text and server.base_url in text and "'m'" in text
    assert "MY_LLM_KEY" in text
    assert dict(client.meter.errors) == {"401": 1}
    assert KEY not in repr(client)
    assert all(KEY not in str(e) for e in store.events("r1"))


def test_retries_exhausted_raise_llm_error_naming_the_last_failure():
    with FakeOpenAIServer(faults=["500", "429", "503"]) as server:
        client, exc = one(cfg(server, max_retries=2))
    assert isinstance(exc, LLMError)
    assert len(server.requests) == 3
    assert "3 time(s)" in str(exc) and "HTTP 503" in str(exc) and server.base_url in str(exc)
    assert client.meter.retries == 2 and sum(client.meter.errors.values()) == 3


def test_random_faults_are_all_absorbed_by_retries():
    with FakeOpenAIServer(fault_rate=0.4, fault_kinds=("429", "500", "garbage"), seed=3) as server:
        calls = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(20)]
        client, outs = run_all(cfg(server, max_retries=10, concurrency=4), calls)
    assert all(isinstance(o, Completion) for o in outs)
    assert [o.text for o in outs] == [f"echo: q{i}" for i in range(20)]
    injected = sum(server.fault_counts.values())
    assert injected > 0 and sum(client.meter.errors.values()) == injected
    assert client.meter.errors["malformed"] == server.fault_counts["garbage"]
    assert len(server.requests) == 20 + injected


# ----------------------------------------------------------------------------- cache
def test_cache_hit_across_restarted_clients_sends_nothing_and_costs_nothing(tmp_path: Path):
    prices = Prices(prompt_usd_per_mtok=1.0, completion_usd_per_mtok=2.0)
    with FakeOpenAIServer() as server:
        config = cfg(server, prices=prices)
        _, first = one(config, store=Store(tmp_path / "s.db"))
        assert first.usage.cost_usd > 0 and len(server.requests) == 1
        # a "restarted process": a new Store object and a new client on the same file
        client, again = one(config, store=Store(tmp_path / "s.db"))
        assert len(server.requests) == 1
        assert again.cached and again.attempts == 0 and again.text == first.text
        assert again.usage == Usage(cached_calls=1) and again.cache_key == first.cache_key
        assert client.meter.total == Usage(cached_calls=1)
        # another seed is another request
        client2, other = run_all(
            config, [{"messages": MSG, "seed": 7}], store=Store(tmp_path / "s.db")
        )
        assert not other[0].cached and len(server.requests) == 2
        assert server.requests[1]["seed"] == 7


def test_no_store_means_no_cache():
    with FakeOpenAIServer() as server:
        one(cfg(server))
        one(cfg(server))
    assert len(server.requests) == 2


def test_cache_key_depends_on_every_part():
    base = {"temperature": 0.7, "max_tokens": 100, "seed": None, "prompt_version": "v1"}
    k = cache_key("m", MSG, **base)
    assert k == cache_key("m", [dict(reversed(list(MSG[0].items())))], **base)  # key order
    assert k == cache_key("m", MSG, **{**base, "temperature": 0.70})
    assert len(k) == 64 and int(k, 16) >= 0
    variants = [
        cache_key("m2", MSG, **base),
        cache_key("m", [{"role": "user", "content": "hello world!"}], **base),
        cache_key("m", [{"role": "system", "content": "hello world"}], **base),
        cache_key("m", MSG, **{**base, "temperature": 0.0}),
        cache_key("m", MSG, **{**base, "max_tokens": 101}),
        cache_key("m", MSG, **{**base, "seed": 0}),
        cache_key("m", MSG, **{**base, "prompt_version": "v2"}),
    ]
    assert len({k, *variants}) == len(variants) + 1


# ----------------------------------------------------------------------------- limits
def test_concurrency_limit_is_respected():
    with FakeOpenAIServer(latency_s=0.1) as server:
        calls = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(9)]
        _, outs = run_all(cfg(server, concurrency=3), calls)
    assert all(isinstance(o, Completion) for o in outs)
    assert server.max_in_flight == 3


def test_server_sustains_64_concurrent_requests():
    with FakeOpenAIServer(latency_s=0.2) as server:
        calls = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(64)]
        start = time.monotonic()
        _, outs = run_all(cfg(server, concurrency=64, timeout_s=10), calls)
        elapsed = time.monotonic() - start
    assert all(isinstance(o, Completion) for o in outs)
    assert server.max_in_flight > 32
    assert elapsed < 3.0  # serial would take 12.8 s


def test_rpm_limit_spaces_requests():
    # rpm=120: a burst of 2, then one request every 0.5 s
    with FakeOpenAIServer() as server:
        calls = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(4)]
        _, outs = run_all(cfg(server, rpm=120, concurrency=8), calls)
    assert all(isinstance(o, Completion) for o in outs)
    t = sorted(server.request_times)
    assert t[-1] - t[0] >= 0.9
    assert all(b - a >= 0.4 for a, b in zip(t[1:], t[2:], strict=False))


def test_token_bucket_waits_refunds_and_lets_large_requests_through():
    async def go():
        bucket = TokenBucket(rate=20.0, burst=2.0)
        start = time.monotonic()
        for _ in range(4):
            await bucket.acquire(1)
        spaced = time.monotonic() - start  # 2 at once, then 2 more at 20/s
        await bucket.acquire(50)  # larger than the burst: waits for a full bucket, goes into debt
        debt = bucket.level
        bucket.refund(100)
        return spaced, debt, bucket.level

    spaced, debt, level = asyncio.run(go())
    assert 0.08 <= spaced < 0.5
    assert debt < 0
    assert level == 2.0  # refunds never exceed the burst
    assert per_minute(120).burst == 2.0 and per_minute(30).burst == 1.0
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0, 1)


def test_tpm_limit_charges_an_estimate_and_corrects_it():
    # tpm=600 -> 10 tokens/s, burst 10. Each call is charged prompt/4 + max_tokens = 3 + 16
    # tokens up front and refunded down to its real 5 tokens after: ~0.5 s apart.
    with FakeOpenAIServer() as server:
        calls = [{"messages": MSG, "seed": i, "max_tokens": 16} for i in range(3)]
        client, outs = run_all(cfg(server, tpm=600, concurrency=1), calls)
    assert all(isinstance(o, Completion) for o in outs)
    t = server.request_times
    assert 0.7 <= t[-1] - t[0] < 2.5


# ----------------------------------------------------------------------------- budget, prices
def test_token_budget_stops_new_requests_but_serves_cached_answers(tmp_path: Path):
    store = Store(tmp_path / "s.db")
    with FakeOpenAIServer() as server:
        config = cfg(server, budget_tokens=10)
        calls = [{"messages": MSG, "seed": i} for i in range(3)]

        async def go():
            async with LLMClient(config, store=store) as client:
                outs = [
                    await client.complete(**c, purpose="solve", prompt_version="v1")
                    for c in calls[:2]
                ]
                with pytest.raises(BudgetExceededError) as err:
                    await client.complete(**calls[2], purpose="solve", prompt_version="v1")
                cached = await client.complete(**calls[0], purpose="solve", prompt_version="v1")
                return client, outs, err.value, cached

        client, outs, exc, cached = asyncio.run(go())
    assert [o.usage.tokens for o in outs] == [5, 5]
    assert len(server.requests) == 2  # nothing sent once the budget was spent
    assert "10 of 10 tokens" in str(exc) and "budget_tokens" in str(exc)
    assert cached.cached and cached.usage.cost_usd == 0


def test_prior_spend_counts_against_the_budget():
    with FakeOpenAIServer() as server:
        _, exc = one(cfg(server, budget_tokens=50), spent=Usage(calls=9, prompt_tokens=60))
    assert isinstance(exc, BudgetExceededError) and "60 of 50" in str(exc)
    assert server.requests == []



# ----------------------------------------------------------------------------- spend ledger
def _store_with_run(tmp_path: Path, run_id: str = "r1") -> Store:
    from infosynth_core.seeds import ensure_bundled_seed_set

    store = Store(tmp_path / "s.db")
    ensure_bundled_seed_set(store)
    store.create_run(run_id=run_id, seed_set="bundled", config={}, name="")
    return store


def test_every_billed_answer_is_in_the_run_ledger_with_its_cache_row(tmp_path: Path):
    prices = Prices(prompt_usd_per_mtok=1.0, completion_usd_per_mtok=2.0)
    store = _store_with_run(tmp_path)
    with FakeOpenAIServer() as server:
        config = cfg(server, prices=prices)
        calls = [{"messages": MSG, "seed": i} for i in range(5)]
        client, outs = run_all(config, calls, store=store, run_id="r1")
        run_all(config, calls[:2], store=store, run_id="r1")  # cache hits: not billed again
        billed = list(server.billed)
    spend = store.llm_spend("r1")
    assert spend["calls"] == len(billed) == 5
    assert spend["prompt_tokens"] == sum(p for p, _ in billed)
    assert spend["completion_tokens"] == sum(c for _, c in billed)
    assert spend["cost_usd"] == pytest.approx(sum(o.usage.cost_usd for o in outs))
    assert spend["paid_twice"] == 0 and spend["by_purpose"]["solve"]["calls"] == 5
    keys = {r["key"] for r in store._query("SELECT key FROM llm_spend")}
    cached = {r["key"] for r in store._query("SELECT key FROM llm_cache")}
    assert keys == cached  # each ledger row answered a cached request
    # evaluation answers go to their own ledger, not the run's budget
    with FakeOpenAIServer() as server:
        run_all(cfg(server), [{"messages": MSG, "seed": 99}], store=store, run_id="r1",
                ledger_scope="evaluation")  # fmt: skip
    assert store.llm_spend("r1")["calls"] == 5 and store.llm_spend("r1", "evaluation")["calls"] == 1


def test_a_new_client_of_the_run_counts_the_ledger_against_the_budget(tmp_path: Path):
    store = _store_with_run(tmp_path)
    with FakeOpenAIServer() as server:
        config = cfg(server, budget_tokens=12, concurrency=1)
        run_all(config, [{"messages": MSG, "seed": i} for i in range(2)], store=store,
                run_id="r1")  # fmt: skip  # 2 x 5 tokens
        client, outs = run_all(config, [{"messages": MSG, "seed": i} for i in range(2, 5)],
                               store=store, run_id="r1")  # fmt: skip
        sent = len(server.requests)
    assert client.meter.prior.tokens == 10  # read from the ledger, not given
    assert sum(isinstance(o, BudgetExceededError) for o in outs) >= 2
    assert store.llm_spend("r1")["calls"] == sent


def test_identical_requests_in_flight_share_one_http_call(tmp_path: Path):
    store = _store_with_run(tmp_path)
    with FakeOpenAIServer(latency_s=0.3) as server:
        config = cfg(server, timeout_s=30, concurrency=8)
        client, outs = run_all(config, [{"messages": MSG}] * 8, store=store, run_id="r1")
        assert len(server.requests) == 1
        # without a store too: the sharing is in the client, not the cache
        client2, outs2 = run_all(config, [{"messages": MSG, "seed": 3}] * 8)
        assert len(server.requests) == 2
    assert all(isinstance(o, Completion) for o in outs + outs2)
    assert len({o.text for o in outs}) == 1
    assert sum(not o.cached for o in outs) == 1 and client.meter.shared == 7
    assert client.meter.total.calls == 1 and client.meter.total.cached_calls == 7
    assert store.llm_spend("r1")["calls"] == 1


def test_a_failed_shared_call_fails_every_caller_the_same_way():
    with FakeOpenAIServer(faults=["401"]) as server:
        client, outs = run_all(cfg(server, timeout_s=30), [{"messages": MSG}] * 4)
    assert len(server.requests) == 1
    assert all(isinstance(o, LLMError) and "401" in str(o) for o in outs)
    assert KEY not in " ".join(str(o) for o in outs)


def test_prices_give_exact_cost_and_usd_budget():
    prices = Prices(prompt_usd_per_mtok=1.5, completion_usd_per_mtok=6.0)
    with FakeOpenAIServer() as server:
        config = cfg(server, prices=prices, budget_usd=2e-5)
        calls = [{"messages": MSG, "seed": i} for i in range(2)]

        async def go():
            async with LLMClient(config) as client:
                first = await client.complete(**calls[0], purpose="mutation", prompt_version="v")
                with pytest.raises(BudgetExceededError, match=r"budget_usd"):
                    await client.complete(**calls[1], purpose="crossover", prompt_version="v")
                return client, first

        client, first = asyncio.run(go())
    # 2 prompt tokens at $1.5/M + 3 completion tokens at $6/M
    assert first.usage.cost_usd == pytest.approx((2 * 1.5 + 3 * 6.0) / 1e6, rel=1e-12)
    assert client.meter.by_purpose["mutation"].cost_usd == first.usage.cost_usd
    assert "crossover" not in client.meter.by_purpose
    assert len(server.requests) == 1


# ----------------------------------------------------------------------------- input checks
def test_bad_inputs_raise_clear_errors():
    with FakeOpenAIServer() as server:
        config = cfg(server)
        with pytest.raises(ConfigError, match="base_url"):
            LLMClient(config.model_copy(update={"base_url": "127.0.0.1:8000/v1"}))
        client = LLMClient(config)
        with pytest.raises(ConfigError, match="non-empty list of messages"):
            ask(client, messages=[])
        with pytest.raises(ConfigError, match="'role' and 'content'"):
            ask(client, messages=[{"text": "hi"}])
        with pytest.raises(ConfigError, match="temperature"):
            ask(client, temperature=3.0)
        with pytest.raises(ConfigError, match="purpose"):
            ask(client, purpose="")
    assert server.requests == []


def test_response_reading_and_retry_after_parsing():
    with pytest.raises(MalformedResponse):
        read_completion(
            "<html>not a completion</html>"
        )  # what the SDK returns for a text/plain body
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait
    assert retry_after_s({"retry-after": date}) == 0.0
