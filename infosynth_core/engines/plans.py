"""What the offline engine may do with problems: the analysed parent (:class:`Parent`), the
plans of each mutation level (:func:`mutation_plans`), the ways two parents compose
(:func:`crossover_options`) and a generated parent's stored recipe (:func:`recipe_of`).

Plans are data; ``offline`` builds and probes them. Every plan changes what is computed:
another transform, a reduction of the answer (weight-0 transforms other than
``compose.REFORMATS``), or several values of one parameter at once; guarantees, fixed
parameters and encodings only come together with a reduction.
"""

from __future__ import annotations

import ast
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..problem import Problem
from ..topics import topic_names
from . import phrasing
from .compose import (
    BINOPS,
    ENCODINGS,
    GUARANTEES,
    REFORMATS,
    TRANSFORMS,
    function_name,
    matches,
    result_type,
    transforms_for,
)
from .harvest import Signature, is_known

__all__ = [  # for the offline engine; not part of the package's public API
    "Parent", "mutation_plans", "crossover_options", "liftable", "aggregate", "plural",
    "topics_of", "recipe_of", "POINTS", "MAX_POSTS",
]  # fmt: skip

POINTS = {"easy": 1, "medium": 2, "hard": 3}
MAX_POSTS = 3  # transforms chained onto one base problem
TYPE_TOPICS = (("list[list", "Matrix"), ("list", "Array"), ("str", "String"), ("int", "Math"))


@dataclass(frozen=True)
class Parent:
    """A problem analysed for composition (types refined from the harvested values)."""

    problem: Problem
    sig: Signature
    inputs: list[tuple[Any, ...]]
    specs: list[dict[str, Any]]
    recipe: dict[str, Any] | None
    desc: dict[str, Any]  # what its base computes, in words (phrasing)

    @property
    def points(self) -> int:
        return POINTS.get(self.problem.difficulty or "", 2)

    @property
    def topics(self) -> list[str]:
        bank = set(topic_names())
        topics = [t for t in self.problem.topics if t in bank]
        if not topics:  # untagged seeds (MBPP, HumanEval): what the input types suggest
            kinds = " ".join(self.sig.types)
            topics = [t for k, t in TYPE_TOPICS if k in kinds][:1]
        return topics

    @property
    def core(self) -> str:
        return (
            self.recipe["base"]["core"] if self.recipe else function_name(self.sig.func, limit=40)
        )

    @property
    def posts(self) -> list[str]:
        return list(self.recipe["posts"]) if self.recipe else []

    def answer_type(self, upto: int | None = None) -> str:
        t = self.recipe["base"]["ret"] if self.recipe else self.sig.returns
        for name in self.posts[:upto]:
            t = result_type(TRANSFORMS[name], t)
        return t

    def full_desc(self) -> dict[str, Any]:
        """What the whole problem computes (its base and its transforms)."""
        desc, taken = self.desc, set(self.sig.params)
        for name in self.posts:
            desc = phrasing.with_post(desc, TRANSFORMS[name], taken)
        return desc


def mutation_plans(p: Parent, level: str, rng: random.Random) -> list[tuple]:
    """What the variants of one level may change, in the order to try them (see
    ``offline``'s module docstring): ``("posts", names)``, ``("guarantee", i, guarantee,
    reduction)``, ``("fix", i, value, reduction)``, ``("encode", i, encoding, reduction)`` or
    ``("lift", i, reduction or None)``."""
    t, posts = p.answer_type(), p.posts
    room = len(posts) < MAX_POSTS and is_known(t)
    reduce = [
        tr.name for tr in transforms_for(t, (0,)) if tr.name not in REFORMATS | set(posts)
    ] if room else []  # fmt: skip
    first: list[tuple] = []
    later: list[tuple] = []
    last = TRANSFORMS[posts[-1]] if posts else None
    t_in = p.answer_type(-1) if posts else t
    if level == "hard" and room:
        pool = [tr for tr in transforms_for(t, (1, 2)) if tr.name not in posts]
        rng.shuffle(pool)
        if rng.random() < 0.5:
            pool.sort(key=lambda tr: tr.weight != 2)
        return [("posts", [*posts, tr.name]) for tr in pool]
    if level == "medium":
        if last is not None:
            first = [
                ("posts", [*posts[:-1], tr.name])
                for tr in transforms_for(t_in, (last.weight,))
                if tr.name not in posts and tr.name not in REFORMATS
                and result_type(tr, t_in) == result_type(last, t_in)
            ]  # fmt: skip
        later = [("posts", [*posts, name]) for name in reduce]
        later += [("lift", i, aggregate(t, rng)) for i in range(len(p.sig.params))
                  if liftable(p, i)]  # fmt: skip
        rng.shuffle(later)
        encode = [("encode", i, e, rng.choice(reduce)) for i, pt in enumerate(p.sig.types)
                  for e in ENCODINGS if e.source == pt and reduce]  # fmt: skip
        rng.shuffle(encode)
        later += encode  # another input notation only as a last resort
    elif level == "easy":
        if last is not None:
            first = [
                ("posts", [*posts[:-1], tr.name])
                for tr in transforms_for(t_in, tuple(range(last.weight)))
                if tr.name not in posts and tr.name not in REFORMATS
            ]
            if len(posts) >= 2:
                first.append(("posts", posts[:-1]))
        for i, pt in enumerate(p.sig.types):
            if not reduce:
                break
            later += [("guarantee", i, g, name) for g in GUARANTEES
                      if matches(g.source, pt) for name in reduce]  # fmt: skip
            if pt in ("int", "str", "bool") and len(p.sig.params) >= 2:
                counts = Counter(repr(a[i]) for a in p.inputs)
                value = ast.literal_eval(counts.most_common(1)[0][0])
                if "$" not in repr(value):
                    later += [("fix", i, value, name) for name in reduce]
        rng.shuffle(later)
    rng.shuffle(first)
    return first + later


def crossover_options(ps: list[Parent]) -> list[tuple]:
    """(weight, kind, i, j, detail) for every way two parents compose, in a fixed order:
    chains feed A's answer (or its len/sum/...) into one of B's parameters; binops combine the
    two answers."""
    options: list[tuple] = []
    for i, a in enumerate(ps):
        for j, b in enumerate(ps):
            if i == j or not is_known(a.sig.returns):
                continue
            for k, t in enumerate(b.sig.types):
                if a.sig.returns == t:
                    options.append((3.0, "chain", i, j, (k, None)))
                for ad in transforms_for(a.sig.returns, (0,)):
                    if is_known(t) and result_type(ad, a.sig.returns) == t != a.sig.returns:
                        options.append((1.0, "chain", i, j, (k, ad.name)))
            if i < j:
                for op in BINOPS.get((a.sig.returns, b.sig.returns), []):
                    options.append((2.0, "binop", i, j, (op.name,)))
    return options


def liftable(p: Parent, i: int) -> bool:
    """Whether asking for several values of parameter i at once makes sense: the only
    parameter, or a scalar next to others (``budget`` of a shop, not ``n`` of a graph)."""
    t, name = p.sig.types[i], p.sig.params[i]
    if not is_known(t):
        return False
    return len(p.sig.params) == 1 or (t in ("int", "str") and name not in ("n", "m"))


def aggregate(t: str, rng: random.Random) -> str | None:
    """How a lifted problem reduces its list of answers (None: it returns the list)."""
    options: list[str | None] = [None]
    if t == "bool":
        options = ["count_true"]
    elif t == "int":
        options += ["total", "largest"]
    return rng.choice(options)


def plural(name: str) -> str:
    if len(name) <= 2:
        return f"{name}_values"
    return f"{name}_list" if name.endswith("s") else f"{name}s"


def topics_of(*groups: Sequence[str]) -> tuple[str, ...]:
    """Up to 3 bank topics, taking the first of every group before the second of any."""
    bank, out = set(topic_names()), []
    for rank in range(3):
        for g in groups:
            if rank < len(g) and g[rank] in bank and g[rank] not in out:
                out.append(g[rank])
    return tuple(out[:3])


_BASE_KEYS = {"lines", "call", "ret", "params", "desc", "points", "topics", "core", "stages"}
_DESC_KEYS = {"settings", "lets", "answer", "rules", "promises", "glosses"}


def recipe_of(problem: Problem, sig: Signature, engine: str, version: int) -> dict[str, Any] | None:
    """A generated parent's composition, when its payload (of this engine and version) is in
    its metadata."""
    payload = problem.metadata.get("payload")
    if not isinstance(payload, dict) or payload.get("engine") != engine:
        return None
    if payload.get("version") != version:
        return None
    recipe = payload.get("recipe")
    base = recipe.get("base") if isinstance(recipe, dict) else None
    posts = recipe.get("posts") if isinstance(recipe, dict) else None
    if not isinstance(base, dict) or not _BASE_KEYS <= set(base) or not isinstance(posts, list):
        return None
    if not isinstance(base["desc"], dict) or not _DESC_KEYS <= set(base["desc"]):
        return None
    if any(p not in TRANSFORMS for p in posts) or [n for n, _ in base["params"]] != list(
        sig.params
    ):
        return None
    return recipe
