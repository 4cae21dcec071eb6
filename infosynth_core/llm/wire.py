"""What goes over the wire: the canonical request and its cache key, reading a chat
completion out of a response, and the ``Retry-After`` header."""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from ..errors import ConfigError

__all__ = [
    "Failure",
    "FAILURES",
    "ADVICE",
    "classify",
    "canonical_request",
    "cache_key",
    "MalformedResponse",
    "estimate_tokens",
    "prompt_chars",
    "retry_after_s",
    "check_messages",
    "read_completion",
]


#: what to tell the user for HTTP statuses that are not retried
ADVICE = {
    400: "the server rejected the request as invalid; check llm.model and that llm.max_tokens "
    "fits the model's context length",
    401: "authentication failed; check that the environment variable named by llm.api_key_env "
    "({env}) holds a valid key for this endpoint",
    403: "the key has no access to this model; check llm.api_key_env ({env}) and the "
    "account's permissions",
    404: "not found; check llm.base_url (it usually ends in /v1) and that the server serves "
    "model '{model}'",
}


def canonical_request(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    prompt_version: str,
) -> str:
    """Canonical JSON (sorted keys, compact separators, UTF-8) of what determines an answer."""
    body = {
        "model": model,
        "messages": [dict(m) for m in messages],
        "params": {"temperature": float(temperature), "max_tokens": int(max_tokens), "seed": seed},
        "prompt_version": prompt_version,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    prompt_version: str,
) -> str:
    """The response-cache key: hex sha256 of :func:`canonical_request`."""
    text = canonical_request(
        model,
        messages,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        prompt_version=prompt_version,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MalformedResponse(Exception):
    """The response arrived but holds no usable chat completion."""


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / 4)


def prompt_chars(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "")) for m in messages)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date), or None."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, OverflowError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def check_messages(messages: object) -> None:
    ok = isinstance(messages, list) and messages
    for m in messages if ok else ():  # type: ignore[union-attr]
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or "content" not in m:
            ok = False
            break
    if not ok:
        raise ConfigError(
            "complete() needs a non-empty list of messages, each a dict with 'role' and "
            f"'content'; got {str(messages)[:200]!r}."
        )


def read_completion(response: object) -> tuple[str, str | None, tuple[int, int] | None]:
    """Text, finish reason and (prompt, completion) token counts (None when not reported)."""
    if not isinstance(response, ChatCompletion):
        raise MalformedResponse(f"expected a chat.completion object; got {str(response)[:120]!r}")
    try:
        choice = response.choices[0]
        text = choice.message.content
        finish = choice.finish_reason
    except (AttributeError, IndexError, TypeError) as exc:
        raise MalformedResponse(f"no choices[0].message in the answer ({exc})") from None
    if not isinstance(text, str):
        raise MalformedResponse("choices[0].message.content is missing")
    usage = getattr(response, "usage", None)
    p = getattr(usage, "prompt_tokens", None)
    c = getattr(usage, "completion_tokens", None)
    if isinstance(p, int) and isinstance(c, int) and p >= 0 and c >= 0:
        return text, finish, (p, c)
    return text, finish, None


@dataclass(frozen=True)
class Failure:
    """One failed HTTP try. ``kind`` is "429", "5xx", "timeout", "connection", "malformed"
    (all retried) or the HTTP status of a non-retryable error ("400", "401", ...; ``fatal``).
    ``retry_after_s`` is the server's ``Retry-After`` in seconds, if it sent one."""

    kind: str
    status: int | None
    detail: str
    retry_after_s: float | None = None
    fatal: bool = False


#: what a try may raise that :func:`classify` turns into a :class:`Failure`
FAILURES = (openai.APIError, MalformedResponse, json.JSONDecodeError, UnicodeDecodeError)


def classify(exc: BaseException, timeout_s: float) -> Failure:
    """The :class:`Failure` for an exception in :data:`FAILURES` (``timeout_s`` for the text)."""
    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", None, f"no answer within {timeout_s} s")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failure("connection", None, f"{type(cause).__name__}: {cause}")
    if isinstance(exc, openai.APIStatusError):
        status, detail = exc.status_code, str(exc.message)
        retry_after = retry_after_s(exc.response.headers)
        if status == 429:
            return Failure("429", status, detail, retry_after)
        if status >= 500:
            return Failure("5xx", status, detail, retry_after)
        if status == 408:
            return Failure("timeout", status, detail, retry_after)
        return Failure(str(status), status, detail, fatal=True)
    # APIResponseValidationError, a body that is not JSON, no usable choices[0].message
    return Failure("malformed", None, f"{type(exc).__name__}: {exc}")
