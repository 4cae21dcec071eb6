"""Small helpers shared by the store modules: timestamps and canonical JSON columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["utc_now", "_dumps"]


def utc_now() -> str:
    """Current UTC time as ISO-8601 with microseconds and a 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(obj: Any) -> str:
    if not obj and isinstance(obj, (list, dict)):  # the common case: no topics/parents/metadata
        return "[]" if isinstance(obj, list) else "{}"
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, allow_nan=False)
