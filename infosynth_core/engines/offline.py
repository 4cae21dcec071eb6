"""The offline engine: new coding problems by program composition, without any model.

A problem is treated as a typed Python function: its reference solution plus a description of
what it computes (``phrasing``). Every variant computes something different from its parent:

- **Harder** appends a typed transform from ``compose.CATALOG`` of weight 1 or 2 to the answer
  (int -> digit sum, list[int] -> prefix sums, str -> run-length encoding, ...).
- **Equal** swaps the last transform for a sibling of the same types and weight, reduces the
  answer by a weight-0 transform (the list's length, the number of True values, ...), asks
  for the answer for several values of one parameter at once (a list of them), or passes one
  input in another encoding together with such a reduction.
- **Easier** replaces the last transform by a lighter one or drops it, or, for a plain
  problem, adds a guarantee on an input (sorted, short, ...) or fixes a parameter, together
  with a weight-0 reduction of the answer.

Re-formatting the answer or re-encoding an input alone never counts as a variant, and a variant
whose answers equal its parent's on every test input is discarded.

- **Crossover** composes two problems whose types fit: ``g(f(x), rest)`` when f's answer is
  (or, through a light adapter such as ``len``, becomes) a parameter of g; ``f(a) + g(b)``,
  max, comparison for int answers; and/or/xor for predicates; concatenation or common values
  for lists.

The new solution is real source: the parents' modules merged by ``compose.ModuleBuilder`` plus a
typed entry function with a fresh, descriptive name. Before a candidate is proposed its
reference runs **inside the sandbox** on inputs harvested from the parents' tests
(``harvest``): degenerate candidates are dropped, one answer becomes the statement's example,
and :meth:`OfflineEngine.solve` turns the answers into pytest tests.

The statement is written afresh from the descriptions of the parts (``phrasing``): a setting,
what to write and what it returns, the rules, constraints that the test inputs satisfy and one
example. Everything ``solve`` needs is in the candidate's JSON ``payload`` (inputs, answers and
the composition recipe with its description), so a resumed run can continue. When a generated
problem carries that payload as ``metadata["payload"]``, its mutations edit the recipe and
describe it anew instead of nesting statements.
"""

from __future__ import annotations

import ast
import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..problem import Problem
from ..sandbox import Sandbox
from . import phrasing
from .base import MUTATION_LEVELS, Candidate, Draft, Proposal, Round, Usage
from .compose import (
    BINOPS,
    TRANSFORMS,
    ModuleBuilder,
    function_name,
    matches,
    result_type,
    snake_words,
)
from .harvest import (
    MAX_INPUT_CHARS,
    MISSING,
    Example,
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
    read_literal,
    read_signature,
    refine,
    tests_source,
    valid_stage,
    vary_inputs,
)
from .plans import (
    Parent,
    crossover_options,
    mutation_plans,
    plural,
    recipe_of,
    topics_of,
)

__all__ = ["OfflineEngine"]

MIN_INPUTS = 5  # a candidate needs this many inputs at proposal time
MIN_TESTS = 3
MIN_DISTINCT_ANSWERS = 3  # fewer over the tests is a constant answer (True/False excepted)
MAX_PROBES = 4  # candidates probed in the sandbox per mutation level before giving up
EXAMPLE_CHARS = 100  # an example's arguments and answer should fit in this many characters
MAX_STATEMENT = 850  # about the seeds' longest (95th percentile 744): longer candidates are dropped
PAYLOAD_VERSION = 2
_STOP = frozenset("a an the of for with to in on by after and or from".split())
_TRIVIAL = frozenset({"0", "1", "-1", "[]", "''", "False", "True", "()", "(0, 0)", "(-1, -1)"})


@dataclass
class _Pending:
    """A composed candidate before its reference has run in the sandbox."""

    name: str
    solution: str
    probe: str  # the solution plus a function giving the parent's answer (mutations)
    old: str | None  # name of that function
    base: dict[str, Any]
    posts: list[str]
    ret: str
    inputs: list[tuple[Any, ...]]
    operator: str
    parents: list[Parent]
    points: int
    topics: tuple[str, ...]
    desc: dict[str, Any]  # what it computes, transforms included
    limits: list[str]  # its constraints


class OfflineEngine:
    """Candidate generator by program composition (no model, no tokens).

    Parameters
    ----------
    sandbox
        Where reference solutions run: the answers the tests expect (and the statement's
        example) are computed there; the host never executes candidate or seed code.
    random_state
        Mixed into every operator's random choices, with the ``rng`` the loop passes, and into
        the choice of paraphrases.

    Examples
    --------
    >>> engine = OfflineEngine(Sandbox(workers=2))                          # doctest: +SKIP
    >>> proposal = asyncio.run(engine.mutate(seed, rng=random.Random(0)))   # doctest: +SKIP
    >>> draft = asyncio.run(engine.solve(proposal.candidates[0], []))       # doctest: +SKIP
    """

    name = "offline"
    model = "offline-composer-v2"

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
        levels = ("easy", "medium", "hard")
        seeds = [sub.getrandbits(64) for _ in levels]  # one generator per level: order-free
        found = await asyncio.gather(
            *(self._mutation(p, lv, random.Random(s)) for lv, s in zip(levels, seeds, strict=True))
        )
        candidates, notes = [], []
        for level, cand in zip(levels, found, strict=True):
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
        options = crossover_options(usable)
        keys = [sub.random() ** (1.0 / o[0]) for o in options]  # weighted order, no replacement
        ranked = [o for _, o in sorted(zip(keys, options, strict=True), key=lambda x: -x[0])]
        made: list[tuple[tuple, Candidate]] = []
        tried: set[tuple] = set()
        probed = 0  # options run in the sandbox; those refused before (too long, ...) are free
        for strict in (True, False):  # distinct parent pairs first
            for option in ranked:
                pair = option[2:4]
                if len(made) >= count or (strict and pair in [o[2:4] for o, _ in made]):
                    continue
                if option in tried or probed >= 4 * count or len(tried) >= 32 * count:
                    continue
                tried.add(option)
                pending = self._crossover(usable, option, sub)
                if pending is None:
                    continue
                probed += 1
                cand = await self._complete(pending)
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
        found = _stored_cases(payload, len(params))
        if found is None:  # a payload without answers: run the reference now
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
    async def _analyse(self, problem: Problem) -> Parent | str:
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
        recipe = recipe_of(problem, sig, self.name, PAYLOAD_VERSION)
        if recipe is not None:
            desc = recipe["base"]["desc"]
        else:
            desc = phrasing.seed_desc(problem.problem, problem.metadata, sig)
        return Parent(problem, sig, inputs, specs, recipe, desc)

    # ------------------------------------------------------------------ mutation
    async def _mutation(self, p: Parent, level: str, rng: random.Random) -> Candidate | None:
        """The first plan for this level whose candidate runs and differs from the parent
        (plans in random order; at most ``MAX_PROBES`` sandbox runs)."""
        plans = mutation_plans(p, level, rng)
        inputs = vary_inputs(p.inputs, p.specs, rng)
        probes = 0
        for plan in plans:
            pending = self._variant(p, plan, inputs, MUTATION_LEVELS[level], rng)
            if pending is None:
                continue
            cand = await self._complete(pending)
            if cand is not None:
                return cand
            probes += 1
            if probes >= MAX_PROBES:
                break
        return None

    def _start(self, p: Parent) -> tuple[ModuleBuilder, dict[str, Any], str]:
        """A builder holding the parent's module, the parent as a base to extend (its recipe's
        base for a composed parent) and the call of its entry point in the merged module."""
        builder = ModuleBuilder()
        mapping = builder.add(p.problem.solution or "")
        entry = _rename_entry(p.sig.entry, mapping)
        if p.recipe:
            return builder, json.loads(json.dumps(p.recipe["base"])), entry
        base = {
            "lines": [],
            "call": f"{entry}({', '.join(p.sig.params)})",
            "ret": p.sig.returns,
            "params": [[n, t] for n, t in zip(p.sig.params, p.sig.types, strict=True)],
            "desc": json.loads(json.dumps(p.desc)),
            "points": p.points,
            "topics": p.topics,
            "core": p.core,
            "stages": [],
        }
        return builder, base, entry

    def _variant(self, p, plan, inputs, operator, rng) -> _Pending | None:
        """The candidate of one plan: new transforms, or one input guaranteed, fixed, encoded
        or given several times, together with a reduction of the answer. The new function
        prepares the parameter in its first line (``budget = 0``, ``temps = parse(temps)``), so
        this works for composed parents too, their recipe kept."""
        kind = plan[0]
        builder, base, entry = self._start(p)
        args = list(p.sig.params)
        if kind == "posts":
            name = function_name(plan[1][-1] if plan[1] else "solve", "of", base["core"])
            old = f"{entry}({', '.join(args)})"
            return self._assemble(builder, base, plan[1], inputs, operator, [p], name, p.specs, old)
        if kind == "lift":
            return self._lift(p, plan, inputs, operator, rng)
        _, i, obj, post = plan
        pname, first, specs = base["params"][i][0], [], list(p.specs)
        desc = base["desc"]
        if kind == "guarantee":
            mapped = [a[:i] + (obj.apply(a[i]),) + a[i + 1 :] for a in inputs]
            if mapped == list(inputs):
                return None  # the parent already guarantees it
            inputs = list({repr(a): a for a in mapped if _fits(a, p.specs)}.values())
            base["desc"], tag = phrasing.guaranteed(desc, pname, obj), obj.tag
        elif kind == "fix":
            rest = [a[:i] + a[i + 1 :] for a in p.inputs if repr(a[i]) == repr(obj)]
            inputs = vary_inputs(rest, p.specs[:i] + p.specs[i + 1 :], rng)
            first, tag = [f"{pname} = {obj!r}"], f"with_{pname}_{_slug(obj)}"
            del base["params"][i]
            del specs[i]
            args[i] = repr(obj)
            base["desc"] = phrasing.fixed(desc, pname, obj)
        else:  # encode
            encoded = [a[:i] + (obj.encode(a[i]),) + a[i + 1 :] for a in inputs]
            inputs = [a for a in encoded if a[i] is not MISSING]
            decoder = builder.add(obj.code).get(obj.decoder, obj.decoder)
            first, tag = [f"{pname} = {decoder}({pname})"], obj.tag
            args[i] = f"{decoder}({pname})"
            base["params"][i] = [pname, obj.target]
            specs[i] = {"k": "any"}
            base["desc"] = phrasing.encoded(desc, pname, obj)
        base["lines"] = first + base["lines"]
        for stage in base["stages"]:
            stage["lines"] = first + stage["lines"]
        if kind != "encode":
            base["points"] = max(1, base["points"] - 1)
        base["core"] = function_name(base["core"], tag)
        posts = [*p.posts, post]
        name = function_name(post, "of", base["core"])
        old = f"{entry}({', '.join(args)})"
        return self._assemble(builder, base, posts, inputs, operator, [p], name, specs, old)

    def _lift(self, p: Parent, plan: tuple, inputs, operator, rng) -> _Pending | None:
        """The parent's answer for each of several values of parameter i, given as a list."""
        _, i, agg = plan
        param = p.sig.params[i]
        taken = set(p.sig.params)
        many = phrasing.fresh(plural(param), taken)
        desc = phrasing.lifted(p.full_desc(), param, many)
        if desc is None:
            return None
        builder = ModuleBuilder()
        entry = _rename_entry(p.sig.entry, builder.add(p.problem.solution or ""))
        item = phrasing.fresh("item", taken | set(builder.owner))
        call_args = ", ".join(item if k == i else n for k, n in enumerate(p.sig.params))
        params = [[n, t] for n, t in zip(p.sig.params, p.sig.types, strict=True)]
        params[i] = [many, f"list[{p.sig.types[i]}]" if is_known(p.sig.types[i]) else "list"]
        core = function_name(_short(p.sig.func), "for_each", param)
        base = {
            "lines": [],
            "call": f"[{entry}({call_args}) for {item} in {many}]",
            "ret": f"list[{p.answer_type()}]" if is_known(p.answer_type()) else "list",
            "params": params,
            "desc": desc,
            "points": p.points,
            "topics": list(topics_of(p.topics, ["Array"])),
            "core": core,
            "stages": [],
        }
        pool = list({repr(a[i]): a[i] for a in p.inputs + list(inputs)}.values())
        lifted = {}
        for a in inputs:
            others = rng.sample(pool, min(rng.randint(1, 3), len(pool)))
            new = a[:i] + ([a[i], *others],) + a[i + 1 :]
            if len(repr(new)) <= MAX_INPUT_CHARS:
                lifted.setdefault(repr(new), new)
        posts = [agg] if agg else []
        name = function_name(agg, "of", core) if agg else core
        specs = p.specs[:i] + [{"k": "list"}] + p.specs[i + 1 :]
        return self._assemble(
            builder, base, posts, list(lifted.values()), operator, [p], name, specs
        )

    # ------------------------------------------------------------------ crossover
    def _crossover(self, ps: list[Parent], option: tuple, rng: random.Random) -> _Pending | None:
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
        specs = list(a.specs)
        if not shared:
            params += [[b_names[k], b.sig.types[k]] for k in sorted(b_names)]
            specs += [b.specs[k] for k in sorted(b_names)]
        avoid = set(builder.owner) | {n for n, _ in params}
        x, y = [v for v in "abcdefgh" if v not in avoid][:2]
        a_args = ", ".join(a.sig.params)
        lines = [f"{x} = {ea}({a_args})"]
        renames = {
            b.sig.params[m]: "$" + new for m, new in b_names.items() if new != b.sig.params[m]
        }
        a_desc, b_desc = a.full_desc(), phrasing.rename(b.full_desc(), renames)
        names = {n for n, _ in params}
        extra_points, extra_topics, stages = 0, [], []
        if kind == "chain":
            k, adapter = detail
            b_args = [b_names.get(m, "") for m in range(len(b.sig.params))]
            b_args[k] = x
            ad = TRANSFORMS[adapter] if adapter else None
            if ad is not None:
                lines.append(f"{y} = {builder.add(ad.code).get(ad.name, ad.name)}({x})")
                b_args[k] = y
                extra_topics = list(ad.topics)
            stages = [{"lines": list(lines), "var": b_args[k], "guard": b.specs[k]}]
            call, ret, extra_points = f"{eb}({', '.join(b_args)})", b.sig.returns, 1
            desc = phrasing.chained(a_desc, b_desc, b.sig.params[k], ad, names)
            name = function_name(_short(b.core), "after", _short(a.core))
            inputs = _pair(a_in, [t[:k] + t[k + 1 :] for t in b_in], rng)
        else:
            op = next(o for o in BINOPS[(a.sig.returns, b.sig.returns)] if o.name == detail[0])
            b_args = list(b.sig.params) if shared else [b_names[m] for m in sorted(b_names)]
            lines.append(f"{y} = {eb}({', '.join(b_args)})")
            call, ret = op.code.format(a=x, b=y), op.result
            if shared:
                both = [t for t in a_in + b_in if _fits(t, a.specs) and _fits(t, b.specs)]
                inputs = list({repr(t): t for t in both}.values())[:20]
            else:
                inputs = _pair(a_in, b_in, rng)
            desc = phrasing.combined(a_desc, b_desc, op, names)
            extra_topics = ["Hash Table"] if op.name == "common" else []
            name = function_name(op.words, _short(a.core), "and", _short(b.core))
        base = {
            "lines": lines,
            "call": call,
            "ret": ret,
            "params": params,
            "desc": desc,
            "points": max(a.points, b.points) + extra_points,
            "topics": list(topics_of(a.topics, b.topics, extra_topics)),
            "core": name,
            "stages": stages,
        }
        return self._assemble(builder, base, [], inputs, "crossover", [a, b], name, specs)

    # ------------------------------------------------------------------ assembly
    def _assemble(
        self, builder, base, posts, inputs, operator, parents, name, specs, old_call=None
    ) -> _Pending | None:
        """Source, topics and difficulty of ``base`` with ``posts`` applied to its answer;
        None when the pieces do not fit. ``specs`` guard the new parameters (for shortened
        inputs, to show as the example); ``old_call`` (over the new parameters) gives the
        parent's answer, to check that the variant changes it."""
        if len(inputs) < MIN_INPUTS:
            return None
        inputs = _with_short(list(inputs), specs)
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
        head = phrasing.head_text(name, params, t)
        entry = f"def {head}:\n" + "".join(f"    {line}\n" for line in lines)
        solution = builder.source(entry)
        if parse_source(solution) is None:
            return None
        probe, old = solution, None
        if old_call is not None:
            old = builder.fresh("parent_answer")
            signature = ", ".join(n for n, _ in params)
            probe = builder.source(f"{entry}\n\ndef {old}({signature}):\n    return {old_call}\n")
        desc = base["desc"]
        for tr, _ in helpers:
            desc = phrasing.with_post(desc, tr, {n for n, _ in params})
        limits = phrasing.constraints(params, inputs, desc["promises"])
        rng = phrasing.statement_rng(
            self.random_state, operator, name, *(x.problem.id for x in parents)
        )
        text = phrasing.render(desc, head, limits, None, rng)
        if len(text) > MAX_STATEMENT - EXAMPLE_CHARS:
            return None  # too much to read: a part's description is already long
        points = base["points"] + sum(tr.weight for tr, _ in helpers)
        topics = topics_of(base["topics"], *[tr.topics for tr, _ in reversed(helpers)])
        return _Pending(name, solution, probe, old, base, list(posts), t, inputs, operator,
                        parents, points, topics, desc, limits)  # fmt: skip

    async def _complete(self, c: _Pending) -> Candidate | None:
        """Run the reference on the inputs in the sandbox; None when it is degenerate or (a
        mutation) answers exactly like its parent. Else the candidate, with a statement
        composed from the descriptions, whose example is one of these answers."""
        params = [n for n, _ in c.base["params"]]
        args = ", ".join(params)
        call = f"{c.name}({args})"
        if c.old is not None:
            call = f"({call}, {c.old}({args}))"
        stages = [s for s in c.base["stages"] if valid_stage(s)]
        found = await answers(self.sandbox, c.probe, call, params, c.inputs, stages)
        if isinstance(found, str):
            return None
        cases, dropped = found
        if c.old is not None:
            if not any(repr(v[0]) != repr(v[1]) for _, v in cases):
                return None  # the same answers as the parent: not a new problem
            cases = [(a, v[0]) for a, v in cases]
        usable = _balanced(cases)
        distinct = {repr(v) for _, v in usable}
        decision = all(type(v) is bool for _, v in usable)
        if len(usable) < MIN_TESTS or len(distinct) < (2 if decision else MIN_DISTINCT_ANSWERS):
            return None  # (nearly) the same answer whatever the input
        shown = _example(usable, [x.problem.problem for x in c.parents])
        rng = phrasing.statement_rng(
            self.random_state, c.operator, c.name, *(x.problem.id for x in c.parents)
        )
        head = phrasing.head_text(c.name, c.base["params"], c.ret)
        statement = phrasing.render(c.desc, head, c.limits, phrasing.example(c.name, *shown), rng)
        payload = {
            "engine": self.name,
            "version": PAYLOAD_VERSION,
            "inputs": [repr(tuple(a)) for a in c.inputs],
            "cases": [[repr(tuple(a)), repr(v)] for a, v in cases],
            "dropped": dict(dropped),
            "recipe": {"base": c.base, "posts": c.posts},
        }
        return Candidate(
            problem=statement,
            operator=c.operator,
            parents=tuple(x.problem.id for x in c.parents),
            entry_point=c.name,
            solution=c.solution,
            topics=c.topics,
            difficulty="easy" if c.points <= 1 else "medium" if c.points == 2 else "hard",
            payload=payload,
        )


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


def _stored_cases(payload: dict[str, Any], arity: int) -> tuple[list[tuple], Counter] | None:
    """The answers the sandbox gave at proposal time, read back from the payload."""
    stored = payload.get("cases")
    if not isinstance(stored, list) or payload.get("version") != PAYLOAD_VERSION:
        return None
    cases = []
    for item in stored:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            return None
        args, value = literal_inputs([item[0]]), read_literal(item[1], limit=20_000)
        if not args or len(args[0]) != arity or value is MISSING:
            return None
        cases.append((args[0], value))
    dropped = payload.get("dropped") if isinstance(payload.get("dropped"), dict) else {}
    return cases, Counter({str(k): int(v) for k, v in dropped.items() if isinstance(v, int)})


def _with_short(inputs: list[tuple], specs: list[dict[str, Any]]) -> list[tuple]:
    """Up to 20 inputs; when none is short enough to show as an example, shortened copies
    (every list cut to its first 4 elements, inner lists and strings kept) of the shortest
    ones are added, if they still pass the parameters' guards."""
    if any(len(repr(a)) <= EXAMPLE_CHARS // 2 for a in inputs):
        return inputs[:20]
    short: dict[str, tuple] = {}
    for args in sorted(inputs, key=lambda a: len(repr(a)))[:6]:
        cut = tuple(v[:4] if type(v) is list else v for v in args)
        if cut != args and _fits(cut, specs) and repr(cut) not in map(repr, inputs):
            short.setdefault(repr(cut), cut)
    extra = list(short.values())[:3]
    return inputs[: 20 - len(extra)] + extra


def _example(cases: list[tuple], statements: list[str]) -> tuple[tuple, Any]:
    """The case to show: an informative answer on a short input that no parent shows."""

    def key(case):
        args, value = case
        text = ", ".join(repr(a) for a in args)
        quoted = len(text) > 12 and any(text in s for s in statements)
        size = len(text) + len(repr(value))
        return (size > EXAMPLE_CHARS, repr(value) in _TRIVIAL, quoted, size)

    return min(cases, key=key)


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
