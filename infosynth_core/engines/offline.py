"""The offline engine: new coding problems by program composition, without any model.

A problem is treated as a typed Python function: its reference solution plus its statement.

- **Mutation** makes an easier, an equal and a harder variant of one problem. Harder appends a
  typed transform from ``compose.CATALOG`` to the answer (int -> digit sum, list[int] ->
  prefix sums, str -> run-length encoding, ...). Easier adds a guarantee that simplifies one
  input (sorted, non-negative, short, ...; the test inputs are mapped to satisfy it) or fixes
  one parameter; for a composed problem it lightens or drops its last transform. Equal passes
  one input in another encoding (a list as a comma-separated string, ...), re-formats the
  answer, or swaps the last transform for a sibling of the same types.
- **Crossover** composes two problems whose types fit: ``g(f(x), rest)`` when f's answer is
  (or, through a light adapter such as ``len``, becomes) a parameter of g; ``f(a) + g(b)``,
  max, comparison for int answers; and/or/xor for predicates; concatenation or common values
  for lists.

The new solution is real source: the parents' modules merged by ``compose.ModuleBuilder`` plus a
typed entry function with a fresh, descriptive name. The statement says what to write, quotes
each parent's task (its examples dropped) as a sub-task and states the added step with its edge
cases. :meth:`OfflineEngine.solve` runs the reference on inputs harvested from the parents'
tests (``harvest``) **inside the sandbox** and turns the answers into pytest tests.

Everything ``solve`` needs is in the candidate's JSON ``payload`` (inputs and the composition
recipe), so a resumed run can continue. When a generated problem carries that payload as
``metadata["payload"]``, its mutations edit the recipe instead of nesting the statement.
"""

from __future__ import annotations

import ast
import inspect
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..problem import Problem
from ..sandbox import Sandbox
from ..topics import topic_names
from .base import MUTATION_LEVELS, Candidate, Draft, Proposal, Round, Usage
from .compose import (
    BINOPS,
    ENCODINGS,
    GUARANTEES,
    TRANSFORMS,
    ModuleBuilder,
    function_name,
    matches,
    result_type,
    snake_words,
    transforms_for,
)
from .harvest import (
    MISSING,
    Example,
    Signature,
    answers,
    entry_parts,
    guard_ok,
    guard_spec,
    harvest_examples,
    infer_type,
    is_known,
    literal_inputs,
    parse_source,
    passing_tests,
    read_signature,
    refine,
    tests_source,
    valid_stage,
    vary_inputs,
)

__all__ = ["OfflineEngine"]

POINTS = {"easy": 1, "medium": 2, "hard": 3}
MIN_INPUTS = 5  # a candidate needs this many inputs at proposal time
MIN_TESTS = 3
MAX_POSTS = 3  # transforms chained onto one base problem
_STOP = frozenset("a an the of for with to in on by after and or from".split())
_TYPE_TOPICS = (("list[list", "Matrix"), ("list", "Array"), ("str", "String"), ("int", "Math"))


@dataclass(frozen=True)
class _Parent:
    """A problem analysed for composition (types refined from the harvested values)."""

    problem: Problem
    sig: Signature
    inputs: list[tuple[Any, ...]]
    specs: list[dict[str, Any]]
    recipe: dict[str, Any] | None

    @property
    def points(self) -> int:
        return POINTS.get(self.problem.difficulty or "", 2)

    @property
    def topics(self) -> list[str]:
        bank = set(topic_names())
        topics = [t for t in self.problem.topics if t in bank]
        if not topics:  # untagged seeds (MBPP, HumanEval): what the input types suggest
            kinds = " ".join(self.sig.types)
            topics = [t for k, t in _TYPE_TOPICS if k in kinds][:1]
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


class OfflineEngine:
    """Candidate generator by program composition (no model, no tokens).

    Parameters
    ----------
    sandbox
        Where reference solutions run: the answers the tests expect are computed there; the
        host never executes candidate or seed code.
    random_state
        Mixed into every operator's random choices, with the ``rng`` the loop passes.

    Examples
    --------
    >>> engine = OfflineEngine(Sandbox(workers=2))                          # doctest: +SKIP
    >>> proposal = asyncio.run(engine.mutate(seed, rng=random.Random(0)))   # doctest: +SKIP
    >>> draft = asyncio.run(engine.solve(proposal.candidates[0], []))       # doctest: +SKIP
    """

    name = "offline"
    model = "offline-composer-v1"

    def __init__(self, sandbox: Sandbox, *, random_state: int = 0):
        self.sandbox = sandbox
        self.random_state = random_state
        self._returns: dict[tuple[str, str], str] = {}  # answer types found by probing

    # ------------------------------------------------------------------ protocol
    async def mutate(self, parent: Problem, *, rng: random.Random) -> Proposal:
        p = await self._analyse(parent)
        if isinstance(p, str):
            return Proposal([], unparsable=1, notes=[f"{parent.id}: {p}"])
        sub = random.Random(rng.getrandbits(64) ^ self.random_state)
        candidates, notes = [], []
        for level in ("easy", "medium", "hard"):
            cand = self._mutation(p, level, sub)
            if cand is None:
                notes.append(
                    f"{parent.id}: no {level} variant fits (answer type {p.answer_type()})"
                )
            else:
                candidates.append(cand)
        return Proposal(candidates, notes=notes)

    async def crossover(
        self, parents: Sequence[Problem], *, count: int, rng: random.Random
    ) -> Proposal:
        usable, notes = [], []
        for parent in parents:
            p = await self._analyse(parent)
            if isinstance(p, str):
                notes.append(f"{parent.id}: {p}")
            else:
                usable.append(p)
        bad = len(parents) - len(usable)
        if len(usable) < 2:
            notes.append("crossover needs at least two usable parents")
            return Proposal([], unparsable=bad, notes=notes)
        sub = random.Random(rng.getrandbits(64) ^ self.random_state)
        options = _crossover_options(usable)
        keys = [sub.random() ** (1.0 / o[0]) for o in options]  # weighted order, no replacement
        ranked = [o for _, o in sorted(zip(keys, options, strict=True), key=lambda x: -x[0])]
        made: list[tuple[tuple, Candidate]] = []
        for strict in (True, False):  # distinct parent pairs first
            for option in ranked:
                pair = option[2:4]
                if len(made) >= count or (strict and pair in [o[2:4] for o, _ in made]):
                    continue
                if option not in [o for o, _ in made]:
                    cand = self._crossover(usable, option, sub)
                    if cand is not None:
                        made.append((option, cand))
        if not made:
            notes.append("no two of the parents have answer and input types that compose")
        return Proposal([c for _, c in made], unparsable=bad, notes=notes)

    async def solve(self, candidate: Candidate, history: Sequence[Round]) -> Draft:
        if history:
            return await self._refine(candidate, history)
        entry, solution = candidate.entry_point, candidate.solution
        if not solution or not entry or entry_parts(entry) is None:
            return _unparsable("the candidate has no reference solution")
        payload = candidate.payload or {}
        base = (payload.get("recipe") or {}).get("base") or {}
        params = [p for p, _ in base.get("params") or []]
        inputs = literal_inputs(payload.get("inputs") or [])
        if not params and inputs:
            params = [f"arg{i}" for i in range(len(inputs[0]))]
        inputs = [a for a in inputs if len(a) == len(params)]
        if len(inputs) < MIN_TESTS:
            return _unparsable("the payload holds too few test inputs")
        stages = [s for s in base.get("stages") or [] if valid_stage(s)]
        call = f"{entry}({', '.join(params)})"
        found = await answers(self.sandbox, solution, call, params, inputs, stages)
        if isinstance(found, str):
            return _unparsable(found)
        cases, dropped = _balanced(found[0]), found[1]
        why = ", ".join(f"{n} {r}" for r, n in sorted(dropped.items()))
        if len(cases) < MIN_TESTS:
            return _unparsable(
                f"only {len(cases)} of {len(inputs)} inputs gave a usable answer ({why})"
            )
        if len({repr(v) for _, v in cases}) < 2:
            return _unparsable(
                f"every input gives the same answer: the problem is degenerate ({why})"
            )
        note = f"{len(cases)} of {len(inputs)} probed inputs became tests" + (
            f"; dropped: {why}" if why else ""
        )
        return Draft(solution, tests_source(entry, cases[:16]), entry_point=entry, note=note)

    async def rephrase(self, problem: Problem) -> tuple[str | None, Usage]:
        return None, Usage()

    async def aclose(self) -> None:
        return None

    async def _refine(self, candidate: Candidate, history: Sequence[Round]) -> Draft:
        """Later rounds: keep the tests that passed (answers that were not reproducible, e.g.
        from random or time-dependent code, are dropped)."""
        last = history[-1]
        if last.draft.unparsable and not any(w in last.draft.note for w in ("slow", "time")):
            return last.draft  # probing again would give the same answers
        if last.result is None or not last.draft.tests or not last.draft.solution:
            return await self.solve(candidate, ())
        kept = passing_tests(last.draft.tests, last.result.tests)
        if kept is None:
            return await self.solve(candidate, ())
        source, dropped, n = kept
        if n < MIN_TESTS:
            return _unparsable(
                f"only {n} test(s) passed in round {len(history)} ({last.result.status})"
            )
        note = f"dropped {len(dropped)} test(s) that did not pass: {', '.join(dropped)}"
        return Draft(last.draft.solution, source, entry_point=candidate.entry_point, note=note)

    # ------------------------------------------------------------------ analysis
    async def _analyse(self, problem: Problem) -> _Parent | str:
        """The problem ready for composition, or why it cannot be used."""
        payload = problem.metadata.get("payload")
        stored = payload.get("inputs", []) if isinstance(payload, dict) else []
        if not problem.solution:
            return "no reference solution"
        if not problem.tests and not stored:
            return "no tests"
        module = parse_source(problem.solution)
        if module is None:
            return "the solution is not valid Python"
        entry = problem.entry_point or _guess_entry(module, problem.tests)
        if not entry or entry_parts(entry) is None:
            return f"no usable entry point ({entry!r})"
        sig = read_signature(module, entry)
        if isinstance(sig, str):
            return sig
        # A generated problem's own inputs come first: they are fixed when it is proposed,
        # while its tests depend on how verification went (timeouts under load drop some),
        # and a run must be the same under the same random_state.
        examples = [
            Example(a) for a in literal_inputs(stored) if len(a) == len(sig.params)
        ] or harvest_examples(problem.tests or "", sig)
        if not examples:
            return "the tests never call the entry point with literal arguments"
        inputs = [e.args for e in examples]
        types = tuple(
            refine(t, infer_type([a[i] for a in inputs])) for i, t in enumerate(sig.types)
        )
        expected = [e.expected for e in examples if e.expected is not MISSING]
        returns = refine(sig.returns, infer_type(expected)) if expected else sig.returns
        if not is_known(returns):  # probe the reference in the sandbox
            key = (problem.id, problem.content_hash)
            if key not in self._returns:
                found = await answers(
                    self.sandbox, problem.solution, sig.call(), list(sig.params), inputs[:12], []
                )
                values = [v for _, v in found[0]] if not isinstance(found, str) else []
                self._returns[key] = infer_type(values)
            returns = refine(returns, self._returns[key])
        sig = replace(sig, types=types, returns=returns)
        specs = [guard_spec([a[i] for a in inputs], t) for i, t in enumerate(types)]
        return _Parent(problem, sig, inputs, specs, _recipe_of(problem, sig))

    # ------------------------------------------------------------------ mutation
    def _mutation(self, p: _Parent, level: str, rng: random.Random) -> Candidate | None:
        """The first plan for this level that yields a candidate (plans in random order)."""
        t, posts = p.answer_type(), p.posts
        plans: list[tuple] = []
        if level == "hard" and len(posts) < MAX_POSTS and is_known(t):
            pool = [tr for tr in transforms_for(t, (1, 2)) if tr.name not in posts]
            rng.shuffle(pool)
            if rng.random() < 0.5:
                pool.sort(key=lambda tr: tr.weight != 2)
            plans = [("posts", [*posts, tr.name]) for tr in pool]
        elif level in ("medium", "easy"):
            if posts:  # a sibling of the last transform, or a lighter one
                t_in = p.answer_type(-1)
                last = TRANSFORMS[posts[-1]]
                weights = (last.weight,) if level == "medium" else tuple(range(last.weight))
                pool = [
                    tr
                    for tr in transforms_for(t_in, weights)
                    if tr.name not in posts
                    and (level == "easy" or result_type(tr, t_in) == result_type(last, t_in))
                ]
                rng.shuffle(pool)
                plans = [("posts", [*posts[:-1], tr.name]) for tr in pool]
                if level == "easy" and len(posts) >= 2:
                    plans.append(("posts", posts[:-1]))
            extra = self._input_plans(p, level)
            if level == "medium" and is_known(t) and len(posts) < MAX_POSTS:
                extra += [("posts", [*posts, tr.name]) for tr in transforms_for(t, (0,))]
            rng.shuffle(extra)
            plans += extra
        inputs = vary_inputs(p.inputs, p.specs, rng)
        for plan in plans:
            if plan[0] == "posts":
                builder, base, _ = self._start(p)
                name = function_name(plan[1][-1] if plan[1] else "solve", "of", base["core"])
                cand = self._candidate(
                    builder, base, plan[1], inputs, MUTATION_LEVELS[level], [p], name
                )
            else:
                cand = self._input_variant(p, plan, inputs, MUTATION_LEVELS[level], rng)
            if cand is not None:
                return cand
        return None

    def _input_plans(self, p: _Parent, level: str) -> list[tuple]:
        """Guarantees and fixed parameters (easy), encodings (medium) of the inputs."""
        plans: list[tuple] = []
        for i, t in enumerate(p.sig.types):
            if level == "medium":
                plans += [("encode", i, e) for e in ENCODINGS if e.source == t]
                continue
            plans += [("guarantee", i, g) for g in GUARANTEES if matches(g.source, t)]
            if t in ("int", "str", "bool") and len(p.sig.params) >= 2:
                counts = Counter(repr(a[i]) for a in p.inputs)
                plans.append(("fix", i, ast.literal_eval(counts.most_common(1)[0][0])))
        return plans

    def _start(self, p: _Parent) -> tuple[ModuleBuilder, dict[str, Any], str]:
        """A builder holding the parent's module, the parent as a base to extend (its recipe's
        base for a composed parent) and the call of its entry point in the merged module."""
        builder = ModuleBuilder()
        mapping = builder.add(p.problem.solution or "")
        entry = _rename_entry(p.sig.entry, mapping)
        if p.recipe:
            return builder, json.loads(json.dumps(p.recipe["base"])), entry
        args = ", ".join(p.sig.params)
        base = {
            "lines": [],
            "call": f"{entry}({args})",
            "ret": p.sig.returns,
            "params": [[n, t] for n, t in zip(p.sig.params, p.sig.types, strict=True)],
            "describe": "the answer to the base task below for the same arguments "
            f"(what {p.sig.func}({args}) returns)",
            "notes": [],
            "blocks": "Base task:\n" + _quote(task_text(p.problem.problem, p.sig)),
            "helpers": "the base task's function",
            "points": p.points,
            "topics": p.topics,
            "core": p.core,
            "stages": [],
        }
        return builder, base, entry

    def _input_variant(self, p, plan, inputs, operator, rng) -> Candidate | None:
        """One input guaranteed, fixed or encoded. The new function prepares the parameter in
        its first line (``budget = 0``, ``temps = parse_int_list(temps)``), so this works for
        composed parents too, their recipe kept."""
        kind, i, obj = plan
        builder, base, _ = self._start(p)
        pname, first = base["params"][i][0], []
        if kind == "guarantee":
            mapped = [a[:i] + (obj.apply(a[i]),) + a[i + 1 :] for a in inputs]
            if mapped == list(inputs):
                return None  # the parent already guarantees it
            inputs = list({repr(a): a for a in mapped if _fits(a, p.specs)}.values())
            note = f"Extra guarantee: {obj.phrase.replace('{p}', pname)}. Every test input "
            note += "satisfies it, so your solution may rely on it."
            tag = obj.tag
        elif kind == "fix":
            rest = [a[:i] + a[i + 1 :] for a in p.inputs if repr(a[i]) == repr(obj)]
            inputs = vary_inputs(rest, p.specs[:i] + p.specs[i + 1 :], rng)
            first, tag = [f"{pname} = {obj!r}"], f"with_{pname}_{_slug(obj)}"
            del base["params"][i]
            fixed = f"with {pname} fixed to {obj!r}"
            note = "" if "for the same arguments" in base["describe"] else f"Here {fixed}."
            base["describe"] = base["describe"].replace("for the same arguments", fixed)
        else:
            encoded = [a[:i] + (obj.encode(a[i]),) + a[i + 1 :] for a in inputs]
            inputs = [a for a in encoded if a[i] is not MISSING]
            decoder = builder.add(obj.code).get(obj.decoder, obj.decoder)
            first, tag = [f"{pname} = {decoder}({pname})"], obj.tag
            base["params"][i] = [pname, obj.target]
            note = f"Here {pname} is given as {obj.phrase}."
        base["lines"] = first + base["lines"]
        for stage in base["stages"]:
            stage["lines"] = first + stage["lines"]
        base["notes"] = base["notes"] + ([note] if note else [])
        base["points"] = base["points"] if kind == "encode" else max(1, base["points"] - 1)
        base["core"] = function_name(base["core"], tag)
        posts = p.posts
        name = function_name(posts[-1], "of", base["core"]) if posts else base["core"]
        return self._candidate(builder, base, posts, inputs, operator, [p], name)

    # ------------------------------------------------------------------ crossover
    def _crossover(self, ps: list[_Parent], option: tuple, rng: random.Random) -> Candidate | None:
        _, kind, i, j, detail = option
        a, b = ps[i], ps[j]
        builder = ModuleBuilder()
        ea = _rename_entry(a.sig.entry, builder.add(a.problem.solution or ""))
        eb = _rename_entry(b.sig.entry, builder.add(b.problem.solution or ""))
        a_in = vary_inputs(a.inputs, a.specs, rng, want=16)
        b_in = vary_inputs(b.inputs, b.specs, rng, want=16)
        shared = kind == "binop" and (a.sig.params, a.sig.types) == (b.sig.params, b.sig.types)
        skip = detail[0] if kind == "chain" else None
        b_names, taken = {}, set(a.sig.params)
        for k, new in enumerate(b.sig.params):
            while not shared and new in taken:
                new += "_2"
            if k != skip:
                taken.add(new)
                b_names[k] = new
        params = [[n, t] for n, t in zip(a.sig.params, a.sig.types, strict=True)]
        if not shared:
            params += [[b_names[k], b.sig.types[k]] for k in sorted(b_names)]
        avoid = set(builder.owner) | {n for n, _ in params}
        x, y = [v for v in "abcdefgh" if v not in avoid][:2]
        a_args = ", ".join(a.sig.params)
        lines = [f"{x} = {ea}({a_args})"]
        extra_points, extra_topics, notes, stages = 0, [], [], []
        if kind == "chain":
            k, adapter = detail
            b_args = [b_names.get(m, "") for m in range(len(b.sig.params))]
            b_args[k] = x
            where = f"where {x} is the answer to task A below for ({a_args})"
            if adapter:
                ad = TRANSFORMS[adapter]
                lines.append(f"{y} = {builder.add(ad.code).get(ad.name, ad.name)}({x})")
                b_args[k] = y
                where += f" and {y} is {ad.phrase.replace('{v}', x)}"
                extra_topics = list(ad.topics)
            stages = [{"lines": list(lines), "var": b_args[k], "guard": b.specs[k]}]
            call, ret, extra_points = f"{eb}({', '.join(b_args)})", b.sig.returns, 1
            fed = f"{b.sig.params[k]} = {b_args[k]}"
            shown = [fed if m == k else arg for m, arg in enumerate(b_args)]
            describe = f"the answer to task B below for ({', '.join(shown)}), {where}"
            notes = [f"The tests only use arguments for which {fed} is a valid input of task B."]
            name = function_name(_short(b.core), "after", _short(a.core))
            inputs = _pair(a_in, [t[:k] + t[k + 1 :] for t in b_in], rng)
        else:
            op = next(o for o in BINOPS[(a.sig.returns, b.sig.returns)] if o.name == detail[0])
            b_args = list(b.sig.params) if shared else [b_names[m] for m in sorted(b_names)]
            lines.append(f"{y} = {eb}({', '.join(b_args)})")
            call, ret = op.code.format(a=x, b=y), op.result
            if shared:
                where = f"where {x} and {y} are the answers to tasks A and B below for the same arguments"
                both = [t for t in a_in + b_in if _fits(t, a.specs) and _fits(t, b.specs)]
                inputs = list({repr(t): t for t in both}.values())[:20]
            else:
                where = (
                    f"where {x} is the answer to task A below for ({a_args}) and {y} is the "
                    f"answer to task B below for ({', '.join(b_args)})"
                )
                inputs = _pair(a_in, b_in, rng)
            describe = f"{op.phrase.format(a=x, b=y)}, {where}"
            extra_topics = ["Hash Table"] if op.name == "common" else []
            name = function_name(op.words, _short(a.core), "and", _short(b.core))
        base = {
            "lines": lines,
            "call": call,
            "ret": ret,
            "params": params,
            "describe": describe,
            "notes": notes,
            "blocks": f"Task A:\n{_quote(task_text(a.problem.problem, a.sig))}\n\n"
            f"Task B:\n{_quote(task_text(b.problem.problem, b.sig))}",
            "helpers": "the functions of tasks A and B",
            "points": max(a.points, b.points) + extra_points,
            "topics": list(_topics(a.topics, b.topics, extra_topics)),
            "core": name,
            "stages": stages,
        }
        return self._candidate(builder, base, [], inputs, "crossover", [a, b], name)

    # ------------------------------------------------------------------ assembly
    def _candidate(self, builder, base, posts, inputs, operator, parents, name) -> Candidate | None:
        """Source, statement, topics, difficulty and payload of ``base`` with ``posts``
        applied to its answer; None when the pieces do not fit."""
        if len(inputs) < MIN_INPUTS:
            return None
        t, helpers = base["ret"], []
        for post in posts:
            tr = TRANSFORMS[post]
            if not matches(tr.source, t):
                return None
            helpers.append((tr, builder.add(tr.code).get(tr.name, tr.name)))
            t = result_type(tr, t)
        params, name = base["params"], builder.fresh(name)
        assigned = {n for line in base["lines"] for n in _names(line.split("=", 1)[0])}
        avoid = set(builder.owner) | {n for n, _ in params} | assigned
        letters = [v for v in "rstuwz" if v not in avoid][: len(posts)]
        lines = list(base["lines"])
        if posts:
            lines.append(f"{letters[0]} = {base['call']}")
            lines += [
                f"{letters[k + 1]} = {fn}({letters[k]})" for k, (_, fn) in enumerate(helpers[:-1])
            ]
            lines.append(f"return {helpers[-1][1]}({letters[-1]})")
        else:
            lines.append(f"return {base['call']}")
        called = {
            n.func.id
            for n in ast.walk(
                parse_source("\n".join(lines).replace("return ", "_ = "))
                or ast.Module(body=[], type_ignores=[])
            )
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        if len(letters) < len(posts) or called & {n for n, _ in params}:
            return None  # a parameter would shadow a function the entry calls
        signature = ", ".join(f"{n}: {t_}" if is_known(t_) else n for n, t_ in params)
        ret = f" -> {t}" if is_known(t) else ""
        entry = f"def {name}({signature}){ret}:\n" + "".join(f"    {line}\n" for line in lines)
        solution = builder.source(entry)
        if parse_source(solution) is None:
            return None
        head = f"Write {name}({signature}){ret}"
        if not posts:
            first = f"{head} that returns {base['describe']}."
        else:
            parts = [f"{head}.", f"Let {letters[0]} be {base['describe']}."]
            for k, (tr, _) in enumerate(helpers):
                text = " ".join(x for x in (tr.phrase, tr.detail) if x).replace("{v}", letters[k])
                last = k == len(helpers) - 1
                parts.append(f"Return {text}." if last else f"Let {letters[k + 1]} be {text}.")
            first = " ".join(parts)
        statement = "\n\n".join(
            [first, *([" ".join(base["notes"])] if base["notes"] else []), base["blocks"]]
            + [
                f"Only {name} is tested; {base['helpers']} may be written under any name, or inlined."
            ]
        )
        points = base["points"] + sum(tr.weight for tr, _ in helpers)
        payload = {
            "engine": self.name,
            "version": 1,
            "inputs": [repr(tuple(a)) for a in inputs[:20]],
            "recipe": {"base": base, "posts": list(posts)},
        }
        return Candidate(
            problem=statement,
            operator=operator,
            parents=tuple(x.problem.id for x in parents),
            entry_point=name,
            solution=solution,
            topics=_topics(base["topics"], *[tr.topics for tr, _ in reversed(helpers)]),
            difficulty="easy" if points <= 1 else "medium" if points == 2 else "hard",
            payload=payload,
        )


# ---------------------------------------------------------------------------- statements
_EXAMPLE = re.compile(
    r"(?i)(\bexamples?(\s+\d+)?\s*:|\bfor examples?\s*:|\bsample\s+(input|output)\b|>>>)"
)
_RESUME = re.compile(r"(?i)^\s*(constraints?|notes?|follow[- ]up)\b")


def _docstring_task(statement: str, sig: Signature) -> str | None:
    """For a HumanEval-style statement (code with a docstring): the docstring."""
    tree = parse_source(statement)
    if tree is None:
        return None
    fn = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == sig.func), None
    )
    for node in fn.body[:3] if fn is not None else []:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, str):
                return inspect.cleandoc(node.value.value)
    return ""  # code without a docstring: the signature is all there is


def _drop_examples(text: str) -> str:
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if skipping:
            if not _RESUME.match(line):
                continue
            skipping = False
        m = _EXAMPLE.search(line)
        if m:
            head = line[: m.start()].rstrip()
            if head:
                out.append(head)
            skipping = True
            continue
        out.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def task_text(statement: str, sig: Signature) -> str:
    """A parent's statement as a sub-task: its own examples dropped ("Example:", doctests,
    LeetCode's "Example 1:" blocks up to "Constraints:") and "Write f(...)" turned into
    "Consider a function f(...)", so the reader is not asked to write it under that name."""
    doc = _docstring_task(statement, sig)
    text = statement if doc is None else doc
    text = _drop_examples(text)
    func = re.escape(sig.func)
    pattern = re.compile(
        rf"\b([Ww])rite(\s+)(?:(?:a|the)\s+(?:python\s+)?function\s+)?(?=`?{func}\s*\()"
    )
    if pattern.search(text):
        text = pattern.sub(
            lambda m: ("C" if m.group(1) == "W" else "c") + "onsider a function" + m.group(2),
            text,
            count=1,
        )
    elif not re.search(rf"\b{func}\s*\(", text):
        lead = f"Consider a function {sig.text()} for the following task."
        text = f"{lead}\n{text}" if text else lead
    return text


# ---------------------------------------------------------------------------- helpers
def _unparsable(note: str) -> Draft:
    return Draft(None, None, unparsable=True, note=note)


def _balanced(cases: list[tuple]) -> list[tuple]:
    """At most half of the tests (and at least 3) may expect one and the same answer."""
    limit, seen = max(3, (len(cases) + 1) // 2), Counter()
    out = []
    for args, value in cases:
        seen[repr(value)] += 1
        if seen[repr(value)] <= limit:
            out.append((args, value))
    return out


def _crossover_options(ps: list[_Parent]) -> list[tuple]:
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
                    if is_known(t) and result_type(ad, a.sig.returns) == t:
                        options.append((1.0, "chain", i, j, (k, ad.name)))
            if i < j:
                for op in BINOPS.get((a.sig.returns, b.sig.returns), []):
                    options.append((2.0, "binop", i, j, (op.name,)))
    return options


def _topics(*groups: Sequence[str]) -> tuple[str, ...]:
    """Up to 3 bank topics, taking the first of every group before the second of any."""
    bank, out = set(topic_names()), []
    for rank in range(3):
        for g in groups:
            if rank < len(g) and g[rank] in bank and g[rank] not in out:
                out.append(g[rank])
    return tuple(out[:3])


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


def _short(core: str) -> str:
    words = snake_words(core)[:3]
    while len(words) > 1 and words[-1] in _STOP:
        words.pop()
    return "_".join(words)


def _slug(value: Any) -> str:
    text = f"minus_{-value}" if type(value) is int and value < 0 else str(value)
    return "_".join(snake_words(text)[:3]) or "empty"


def _rename_entry(entry: str, mapping: dict[str, str]) -> str:
    cls, func = entry_parts(entry)  # type: ignore[misc]
    return f"{mapping.get(cls, cls)}().{func}" if cls is not None else mapping.get(func, func)


def _names(code: str) -> set[str]:
    tree = parse_source(code)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()


def _fits(args: tuple, specs: list[dict[str, Any]]) -> bool:
    return len(args) == len(specs) and all(guard_ok(s, x) for s, x in zip(specs, args, strict=True))


def _pair(a_in: list[tuple], b_in: list[tuple], rng: random.Random) -> list[tuple]:
    """Up to 20 argument tuples joining inputs of A with inputs of B, each used about equally."""
    if not a_in or not b_in:
        return []
    order = list(range(len(b_in)))
    rng.shuffle(order)
    joined = [
        a_in[n % len(a_in)] + b_in[order[n % len(b_in)]]
        for n in range(max(len(a_in), len(b_in), 16))
    ]
    return list({repr(t): t for t in joined}.values())[:20]


def _guess_entry(module: ast.Module, tests: str) -> str | None:
    defined = [n.name for n in module.body if isinstance(n, ast.FunctionDef)]
    tree = parse_source(tests) or ast.Module(body=[], type_ignores=[])
    called = [
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]
    return next((c for c in called if c in defined), defined[0] if len(defined) == 1 else None)


_BASE_KEYS = {"lines", "call", "ret", "params", "describe", "notes", "blocks", "helpers", "points",
              "topics", "core", "stages"}  # fmt: skip


def _recipe_of(problem: Problem, sig: Signature) -> dict[str, Any] | None:
    """A generated parent's composition, when its payload is stored in its metadata."""
    payload = problem.metadata.get("payload")
    if not isinstance(payload, dict) or payload.get("engine") != OfflineEngine.name:
        return None
    recipe = payload.get("recipe")
    base = recipe.get("base") if isinstance(recipe, dict) else None
    posts = recipe.get("posts") if isinstance(recipe, dict) else None
    if not isinstance(base, dict) or not _BASE_KEYS <= set(base) or not isinstance(posts, list):
        return None
    if any(p not in TRANSFORMS for p in posts) or [n for n, _ in base["params"]] != list(
        sig.params
    ):
        return None
    return recipe
