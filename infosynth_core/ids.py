"""Identifiers that are safe everywhere they travel: file names, URLs, SQL, markdown.

Problem ids and run ids end up in file names (run logs, exports), in the dashboard's tables
and links, and in messages. An id therefore holds only ASCII letters, digits, ``.``, ``_`` and
``-``; it starts with a letter or digit, has no ``..`` (no path parts), and is at most
:data:`ID_MAX_CHARS` characters long.

>>> check_id("mbpp-12")
'mbpp-12'
>>> check_id("../x")
Traceback (most recent call last):
...
ValueError: must hold only letters, digits, '.', '_' and '-', start with a letter or digit and have no '..' (got '../x')
"""

from __future__ import annotations

import re

__all__ = ["ID_MAX_CHARS", "ID_RULE", "check_id", "is_safe_id", "safe_id_from"]

ID_MAX_CHARS = 200
ID_RULE = (
    "must hold only letters, digits, '.', '_' and '-', start with a letter or digit and have "
    "no '..'"
)
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def is_safe_id(value: object) -> bool:
    """True when ``value`` is a string that :func:`check_id` accepts."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= ID_MAX_CHARS
        and _SAFE.fullmatch(value) is not None
        and ".." not in value
    )


def check_id(value: str) -> str:
    """Return ``value`` if it is a safe id; raise ValueError saying what is wrong otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {type(value).__name__})")
    if not value:
        raise ValueError("must not be empty")
    if len(value) > ID_MAX_CHARS:
        raise ValueError(f"must be at most {ID_MAX_CHARS} characters (got {len(value):,})")
    if not is_safe_id(value):
        shown = value if len(value) <= 60 else value[:59] + "…"
        raise ValueError(f"{ID_RULE} (got {shown!r})")
    return value


def safe_id_from(value: str) -> str:
    """A safe id made from a foreign one (``HumanEval/0`` → ``HumanEval-0``).

    Runs of other characters become one ``-``; ``..`` becomes ``.``; leading and trailing
    ``.``/``-`` are dropped. Used only by format adapters, whose source ids are well known;
    user-given canonical ids are checked, never rewritten.
    """
    out = _UNSAFE_RUN.sub("-", value)
    while ".." in out:
        out = out.replace("..", ".")
    return out.strip(".-_")[:ID_MAX_CHARS] or "id"
