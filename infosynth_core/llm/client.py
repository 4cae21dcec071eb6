"""The one LLM client: any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp
server, LiteLLM) through the ``openai`` package.

:class:`LLMClient` adds what a long synthesis run needs around ``chat.completions.create``:

* a concurrency limit (``llm.concurrency`` requests in flight) and optional requests-per-minute
  and tokens-per-minute limits (``llm.rpm``, ``llm.tpm``; token buckets, see ``ratelimit``);
* retries with exponential backoff and full jitter on HTTP 429, 5xx, timeouts, refused or
  dropped connections and malformed bodies; other 4xx fail at once with an :class:`LLMError`
  that says what to check;
* token and cost accounting per purpose (:class:`UsageMeter`), priced in US dollars per million
  tokens from ``llm.prices``;
* a spend ledger in the store: every billed answer is written with its usage the moment it
  arrives, in the transaction that caches it, so a run's spend (the sum of its ledger rows)
  survives any crash and nothing is charged twice or forgotten;
* a token / dollar budget checked against that spend: :class:`BudgetExceededError` before a
  request once the spend has reached the cap;
* a response cache in the store, keyed on the sha256 of canonical JSON of (model, messages,
  sampling parameters, prompt version): a resumed run repeats no call it already paid for;
* single flight: identical requests in flight at the same time share one HTTP call (the
  others wait for it and are counted as cache hits).

The API key is read once (argument, else the environment variable named ``llm.api_key_env``,
else "EMPTY" for local servers that need none) and never written to errors, events or the
cache. One client belongs to one event loop (the ``openai`` HTTP pool binds to it).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai

from ..apikeys import get_key
from ..engines.base import Usage
from ..errors import BudgetExceededError, ConfigError, LLMError
from .meter import UsageMeter
from .ratelimit import TokenBucket, per_minute
from .wire import (
    ADVICE,
    FAILURES,
    Failure,
    cache_key,
    canonical_request,
    check_messages,
    classify,
    estimate_tokens,
    prompt_chars,
    read_completion,
)

if TYPE_CHECKING:
    from ..config import LLMConfig
    from ..store import Store

__all__ = [
    "LLMClient",
    "Completion",
    "UsageMeter",
    "cache_key",
    "canonical_request",
    "ledger_usage",
]


def ledger_usage(spend: Mapping[str, Any]) -> Usage:
    """A ledger sum (:meth:`Store.llm_spend`) as :class:`Usage`."""
    return Usage(
        calls=int(spend.get("calls", 0)),
        prompt_tokens=int(spend.get("prompt_tokens", 0)),
        completion_tokens=int(spend.get("completion_tokens", 0)),
        cost_usd=float(spend.get("cost_usd", 0.0)),
    )


def _retrieve(future: asyncio.Future) -> None:
    """Mark a shared call's exception as seen (nobody else may be waiting for it)."""
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True)
class Completion:
    """One answer. ``usage`` is what this call cost (``Usage(cached_calls=1)`` for a cache
    hit); ``attempts`` counts HTTP tries (0 for a cache hit); ``tokens_estimated`` is True when
    the server reported no token counts and they were estimated as characters / 4."""

    text: str
    usage: Usage
    cached: bool
    attempts: int
    finish_reason: str | None
    tokens_estimated: bool
    cache_key: str = ""


class LLMClient:
    """Chat completions from an OpenAI-compatible endpoint, with limits, retries, accounting,
    a budget and a response cache.

    Parameters
    ----------
    config
        The validated ``[llm]`` section (:class:`~infosynth_core.config.LLMConfig`); times in
        seconds, prices in USD per million tokens.
    store
        Where answers are cached and failed tries recorded; None = no cache, no events.
    run_id
        The run whose event log receives one ``api_error`` event per failed try and whose
        spend ledger receives every billed answer (needs ``store``).
    ledger_scope
        The ledger the answers are billed to: ``"run"`` (synthesis; its budget) or
        ``"evaluation"`` (answers of a model under evaluation; not the run's budget).
    api_key
        The key; default: the environment variable named ``config.api_key_env``, else "EMPTY".
    environ
        The environment to read the key from (default ``os.environ``).
    spent
        Usage already spent by earlier sessions of the same run; counts against the budget.
        Default: the run's ledger (``store.llm_spend``) when ``store`` and ``run_id`` are
        given, else nothing.
    random_state
        Seed of the backoff jitter (timing only; answers do not depend on it).

    Notes
    -----
    The budget (``budget_tokens``, ``budget_usd``) is checked before each HTTP try, after the
    try has a concurrency slot: once the spend reaches the cap, no new request is sent and
    :class:`BudgetExceededError` is raised. Requests already in flight still finish and are
    counted, so the overshoot is bounded by ``concurrency`` calls, i.e. at most
    ``concurrency * (prompt tokens + max_tokens)`` tokens. Cached answers cost nothing and are
    served even after the budget is spent.

    Example
    -------
    ::

        async with LLMClient(LLMConfig(model="m"), store=store, run_id=run_id) as client:
            c = await client.complete([{"role": "user", "content": "hi"}],
                                      purpose="solve", prompt_version="solve-v1")
            c.text, c.usage.tokens, client.meter.snapshot()
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        store: Store | None = None,
        run_id: str | None = None,
        api_key: str | None = None,
        environ: Mapping[str, str] | None = None,
        spent: Usage | None = None,
        random_state: int | None = None,
        ledger_scope: str = "run",
    ) -> None:
        if not config.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"llm.base_url must start with http:// or https://; got {config.base_url!r}."
            )
        self.config = config
        self.store = store
        self.run_id = run_id
        if api_key is None:  # held in memory (apikeys), else the environment
            api_key = (
                get_key(config.api_key_env) if environ is None else environ.get(config.api_key_env)
            )
        key = api_key or ""
        self._api_key = key.strip() or "EMPTY"
        self.ledger_scope = ledger_scope
        if spent is None and store is not None and run_id is not None:
            spent = ledger_usage(store.llm_spend(run_id, ledger_scope))
        self.meter = UsageMeter(prior=spent or Usage())
        self._flights: dict[str, asyncio.Future[Completion]] = {}
        self._rng = random.Random(random_state)
        self._slots = asyncio.Semaphore(config.concurrency)
        self._rpm: TokenBucket | None = per_minute(config.rpm) if config.rpm else None
        self._tpm: TokenBucket | None = per_minute(config.tpm) if config.tpm else None
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=self._api_key,
            timeout=config.timeout_s,
            max_retries=0,
        )

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.config.base_url!r}, model={self.config.model!r})"

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    # ------------------------------------------------------------------ public call
    async def complete(
        self,
        messages: list[dict],
        *,
        purpose: str,
        prompt_version: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> Completion:
        """One chat completion (from the cache when the same request was answered before).

        ``purpose`` labels the spend in the meter ("mutation", "crossover", "solve", ...);
        ``prompt_version`` is part of the cache key so that changed prompts are asked anew.
        ``temperature`` and ``max_tokens`` (completion tokens) default to the config's.

        Raises :class:`BudgetExceededError` when the budget is spent and the answer is not
        cached, and :class:`LLMError` on a non-retryable HTTP error or after the last retry.
        """
        check_messages(messages)
        cfg = self.config
        temp = cfg.temperature if temperature is None else float(temperature)
        mtok = cfg.max_tokens if max_tokens is None else int(max_tokens)
        if not 0 <= temp <= 2 or mtok < 1 or not purpose or not prompt_version:
            raise ConfigError(
                "complete() needs 0 <= temperature <= 2, max_tokens >= 1 and a non-empty purpose "
                f"and prompt_version; got {temp}, {mtok}, {purpose!r}, {prompt_version!r}."
            )
        request = canonical_request(
            cfg.model,
            messages,
            temperature=temp,
            max_tokens=mtok,
            seed=seed,
            prompt_version=prompt_version,
        )
        key = hashlib.sha256(request.encode("utf-8")).hexdigest()
        while True:
            if self.store is not None:
                hit = self.store.llm_cache_get(key)
                if hit is not None:
                    return self._free(
                        purpose,
                        key,
                        hit["text"],
                        hit.get("finish_reason"),
                        bool(hit.get("tokens_estimated", False)),
                    )
            flight = self._flights.get(key)
            if flight is None:
                break
            try:  # the same request is in flight: share its answer
                first = await asyncio.shield(flight)
            except asyncio.CancelledError:
                if not flight.cancelled():
                    raise  # this caller was cancelled
                continue  # the first caller was cancelled: ask again
            self.meter.shared += 1
            return self._free(purpose, key, first.text, first.finish_reason, first.tokens_estimated)
        flight = asyncio.get_running_loop().create_future()
        flight.add_done_callback(_retrieve)
        self._flights[key] = flight
        try:
            completion = await self._fetch(key, request, messages, purpose, temp, mtok, seed)
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(completion)
            return completion
        finally:
            del self._flights[key]

    def _free(
        self, purpose: str, key: str, text: str, finish: str | None, estimated: bool
    ) -> Completion:
        """An answer that costs nothing: from the cache or shared with an identical call."""
        usage = Usage(cached_calls=1)
        self.meter.add(purpose, usage)
        return Completion(
            text=text,
            usage=usage,
            cached=True,
            attempts=0,
            finish_reason=finish,
            tokens_estimated=estimated,
            cache_key=key,
        )

    async def _fetch(
        self,
        key: str,
        request: str,
        messages: list[dict],
        purpose: str,
        temp: float,
        mtok: int,
        seed: int | None,
    ) -> Completion:
        """Ask the endpoint (with retries), bill the answer to the ledger and cache it."""
        cfg = self.config
        self._check_budget()
        params: dict[str, Any] = {"model": cfg.model, "messages": messages}
        params.update(temperature=temp, max_tokens=mtok)
        if seed is not None:
            params["seed"] = seed
        tpm_charge = estimate_tokens(prompt_chars(messages)) + mtok
        tries = cfg.max_retries + 1
        for attempt in range(1, tries + 1):
            async with self._slots:
                self._check_budget()
                if self._rpm is not None:
                    await self._rpm.acquire(1)
                if self._tpm is not None:
                    await self._tpm.acquire(tpm_charge)
                result = await self._try(params, purpose, tpm_charge)
            if isinstance(result, Completion):
                completion = Completion(
                    text=result.text,
                    usage=result.usage,
                    cached=False,
                    attempts=attempt,
                    finish_reason=result.finish_reason,
                    tokens_estimated=result.tokens_estimated,
                    cache_key=key,
                )
                self._cache_put(key, request, completion, purpose)
                return completion
            failure = result
            last = attempt == tries or failure.fatal
            delay = 0.0 if last else self._delay(attempt, failure.retry_after_s)
            self._record_failure(failure, purpose, attempt, tries, delay)
            if failure.fatal:
                raise LLMError(self._fatal_message(failure))
            if last:
                raise LLMError(self._exhausted_message(failure, purpose, tries))
            self.meter.retries += 1
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ one HTTP try
    async def _try(
        self, params: dict[str, Any], purpose: str, tpm_charge: int
    ) -> Completion | Failure:
        self.meter.requests += 1
        self.meter.in_flight += 1
        start = time.monotonic()
        try:
            response = await self._client.chat.completions.create(**params)
            text, finish, usage_counts = read_completion(response)
        except FAILURES as exc:
            failure = classify(exc, self.config.timeout_s)
            if failure.kind in ("429", "connection"):  # nothing was processed
                self._refund(tpm_charge)
            return failure
        finally:
            self.meter.in_flight -= 1
        self.meter.seconds += time.monotonic() - start
        estimated = usage_counts is None
        if usage_counts is None:
            prompt = estimate_tokens(prompt_chars(params["messages"]))
            usage_counts = (prompt, estimate_tokens(len(text)))
        prompt_tokens, completion_tokens = usage_counts
        self._refund(tpm_charge - prompt_tokens - completion_tokens)
        usage = Usage(
            calls=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self._cost(prompt_tokens, completion_tokens),
        )
        self.meter.add(purpose, usage, estimated=estimated)
        return Completion(text, usage, False, 0, finish, estimated)

    # ------------------------------------------------------------------ helpers
    def _refund(self, tokens: float) -> None:
        if self._tpm is not None:
            self._tpm.refund(tokens)

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        prices = self.config.prices
        if prices is None:
            return 0.0
        return (
            prompt_tokens * prices.prompt_usd_per_mtok
            + completion_tokens * prices.completion_usd_per_mtok
        ) / 1_000_000

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Seconds to wait before try ``attempt + 1``: the server's Retry-After when given,
        else full jitter over ``backoff_s * 2**(attempt-1)``; never above ``backoff_max_s``."""
        cap = self.config.backoff_max_s
        if retry_after_s is not None:
            return min(retry_after_s, cap)
        return self._rng.uniform(0.0, min(cap, self.config.backoff_s * 2 ** (attempt - 1)))

    def _check_budget(self) -> None:
        cfg = self.config
        spent = self.meter.spent
        if cfg.budget_tokens is not None and spent.tokens >= cfg.budget_tokens:
            raise BudgetExceededError(
                f"The token budget is spent: {spent.tokens:,} of {cfg.budget_tokens:,} tokens "
                "(llm.budget_tokens). Raise llm.budget_tokens (`infosynth control RUN_ID set "
                "llm.budget_tokens=…`) and resume the run to go on; cached answers stay free."
            )
        if cfg.budget_usd is not None and spent.cost_usd >= cfg.budget_usd:
            raise BudgetExceededError(
                f"The cost budget is spent: ${spent.cost_usd:.4f} of ${cfg.budget_usd:.4f} "
                "(llm.budget_usd). Raise llm.budget_usd (`infosynth control RUN_ID set "
                "llm.budget_usd=…`) and resume the run to go on; cached answers stay free."
            )

    def _cache_put(self, key: str, request: str, c: Completion, purpose: str) -> None:
        """Cache the answer and bill it to the run's ledger, in one transaction."""
        if self.store is None:
            return
        self.store.llm_answer_put(
            key,
            model=self.config.model,
            request=request,
            response={
                "text": c.text,
                "finish_reason": c.finish_reason,
                "prompt_tokens": c.usage.prompt_tokens,
                "completion_tokens": c.usage.completion_tokens,
                "tokens_estimated": c.tokens_estimated,
            },
            run_id=self.run_id,
            scope=self.ledger_scope,
            purpose=purpose,
            prompt_tokens=c.usage.prompt_tokens,
            completion_tokens=c.usage.completion_tokens,
            cost_usd=c.usage.cost_usd,
            estimated=c.tokens_estimated,
        )

    def _redact(self, text: str, limit: int = 300) -> str:
        if self._api_key != "EMPTY":
            text = text.replace(self._api_key, "***")
        return text if len(text) <= limit else text[:limit] + "…"

    def _describe(self, f: Failure) -> str:
        what = f"HTTP {f.status}" if f.status is not None else f.kind
        return f"{what}: {self._redact(f.detail)}"

    def _record_failure(
        self, f: Failure, purpose: str, attempt: int, tries: int, delay: float
    ) -> None:
        self.meter.errors[f.kind] += 1
        if self.store is None or self.run_id is None:
            return
        then = "giving up" if f.fatal or attempt == tries else f"retrying in {delay:.2f} s"
        self.store.add_event(
            self.run_id,
            "warning",
            "api_error",
            f"LLM {purpose} call, try {attempt}/{tries}, failed ({self._describe(f)}); {then}",
            {
                "purpose": purpose,
                "attempt": attempt,
                "kind": f.kind,
                "status": f.status,
                "model": self.config.model,
                "retry_in_s": None if then == "giving up" else round(delay, 3),
            },
        )

    def _fatal_message(self, f: Failure) -> str:
        cfg = self.config
        advice = ADVICE.get(f.status or 0, "the server refused the request; see its message")
        advice = advice.format(env=cfg.api_key_env, model=cfg.model)
        return (
            f"The model endpoint {cfg.base_url} answered HTTP {f.status} for model "
            f"'{cfg.model}' ({self._redact(f.detail)}): {advice}. Not retried."
        )

    def _exhausted_message(self, f: Failure, purpose: str, tries: int) -> str:
        cfg = self.config
        return (
            f"The LLM {purpose} call to {cfg.base_url} (model '{cfg.model}') failed {tries} "
            f"time(s); last failure: {self._describe(f)}. Check that the server is up and not "
            "overloaded, or raise llm.max_retries / llm.timeout_s."
        )
