"""LLM access: the OpenAI-compatible client (``client``), rate limits (``ratelimit``), usage
accounting (``meter``), prompts (``prompts``) and answer parsers (``parsers``).

The client names are imported lazily so that ``infosynth_core.llm.parsers`` and ``prompts``
load without the ``openai`` package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLMClient", "Completion", "UsageMeter", "cache_key"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
