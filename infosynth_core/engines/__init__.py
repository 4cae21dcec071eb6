"""Candidate generators: ``OfflineEngine`` (program composition, no model) and ``LLMEngine``
(any OpenAI-compatible endpoint). Imported lazily so that ``engines.base`` stays light."""

from __future__ import annotations

from typing import Any

__all__ = ["OfflineEngine", "LLMEngine"]


def __getattr__(name: str) -> Any:
    if name == "OfflineEngine":
        from .offline import OfflineEngine

        return OfflineEngine
    if name == "LLMEngine":
        from .llm import LLMEngine

        return LLMEngine
    raise AttributeError(name)
