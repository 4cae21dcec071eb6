"""What a problem offers the offline engine, read without running it, and its answers, run
in the sandbox.

Reading: signatures, literal test inputs, value types, input guards and deterministic input
variations. Solutions and tests are parsed with :mod:`ast`; a call to the entry point counts
only when every argument is a literal (``ast.literal_eval``). Three test styles are recognised:
plain asserts (``assert f(1, [2]) == 3``, MBPP and the bundled seeds), HumanEval's
``def check(candidate): assert candidate(...) == ...`` and LeetCode's ``Solution().f(...)``
(keyword arguments are mapped to positions by the signature).

Answers: :func:`answers` runs a reference solution on literal inputs **inside the sandbox**
and reads the ``repr`` of each answer back with ``ast.literal_eval`` on the host;
:func:`tests_source` turns them into pytest tests.

Types are strings that are also valid Python annotations: ``int``, ``list[int]``,
``tuple[int, int]``, ... ``any`` marks an unknown (conflicting) type and ``never`` the element
type of a list that was always empty.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import json
import random
import re
import secrets
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [  # for the offline engine; not part of the package's public API
    "MISSING", "Signature", "Example", "parse_source", "entry_parts", "read_signature",
    "harvest_examples", "infer_type", "refine", "is_known", "guard_spec", "guard_ok",
    "vary_inputs", "answers", "literal_inputs", "read_literal", "valid_stage", "tests_source",
    "passing_tests", "MAX_INPUT_CHARS",
]  # fmt: skip

ANY = "any"
NEVER = "never"
MAX_INPUT_CHARS = 3000  # longest argument tuple (repr) we keep
_BUILTINS = frozenset(dir(builtins))


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def parse_source(source: str | None) -> ast.Module | None:
    """The module, or None when the source is empty or not valid Python (never executed)."""
    if not source or not source.strip():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None


def entry_parts(entry: str) -> tuple[str | None, str] | None:
    """``"f"`` -> (None, "f"); ``"Solution().f"`` -> ("Solution", "f"); else None."""
    entry = entry.strip()
    if m := re.fullmatch(r"([A-Za-z_]\w*)\(\)\.([A-Za-z_]\w*)", entry):
        return m.group(1), m.group(2)
    if re.fullmatch(r"[A-Za-z_]\w*", entry):
        return None, entry
    return None


def find_function(module: ast.Module, entry: str) -> ast.FunctionDef | None:
    """The entry point's definition (a method for ``Cls().f``; the last one, as at run time)."""
    cls, func = entry_parts(entry) or ("", "")
    body = module.body
    for node in module.body if cls else []:
        body = node.body if isinstance(node, ast.ClassDef) and node.name == cls else body
    if cls and body is module.body:
        return None
    found = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == func]
    return found[-1] if found else None


# ---------------------------------------------------------------------------------- types
def split_type(t: str) -> tuple[str, list[str]]:
    """``"dict[str, list[int]]"`` -> ("dict", ["str", "list[int]"])."""
    if "[" not in t or not t.endswith("]"):
        return t, []
    head, inner = t[: t.index("[")], t[t.index("[") + 1 : -1]
    args, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(inner[start:i].strip())
            start = i + 1
    args.append(inner[start:].strip())
    return head, [a for a in args if a]


def is_known(t: str) -> bool:
    return not re.search(rf"\b({ANY}|{NEVER})\b", t)


def unify(a: str, b: str) -> str:
    """The least type that covers both (``int`` and ``float`` give ``float``)."""
    if a == b or b == NEVER:
        return a
    if a == NEVER:
        return b
    if {a, b} in ({"int", "float"}, {"int", "bool"}):
        return "float" if "float" in (a, b) else "int"
    ha, aa = split_type(a)
    hb, ab = split_type(b)
    if ha == hb and aa and len(aa) == len(ab) and ha in ("list", "set", "dict", "tuple"):
        return f"{ha}[{', '.join(unify(x, y) for x, y in zip(aa, ab, strict=True))}]"
    return ANY


def value_type(v: Any) -> str:
    if v is None:
        return "None"
    for t in (bool, int, float, str):
        if type(v) is t:
            return t.__name__
    if type(v) in (list, set):
        elem = NEVER
        for x in v:
            elem = unify(elem, value_type(x))
        return f"{type(v).__name__}[{elem}]"
    if type(v) is tuple:
        return f"tuple[{', '.join(value_type(x) for x in v)}]" if v else ANY
    if type(v) is dict:
        k = val = NEVER
        for key, value in v.items():
            k, val = unify(k, value_type(key)), unify(val, value_type(value))
        return f"dict[{k}, {val}]"
    return ANY


def infer_type(values: Sequence[Any]) -> str:
    t = NEVER
    for v in values:
        t = unify(t, value_type(v))
    return ANY if t == NEVER else t


def refine(annotated: str, observed: str) -> str:
    """An annotation where it is complete, else what the values show (when they fit it)."""
    if is_known(annotated):
        return annotated
    if annotated == ANY:
        return observed
    merged = unify(annotated, observed)
    return merged if merged != ANY else annotated


_ALIASES = {"List": "list", "Tuple": "tuple", "Dict": "dict", "Set": "set", "NoneType": "None"}


def annotation_type(node: ast.expr | None) -> str:
    """The canonical type of an annotation (``List[int]`` -> ``list[int]``), ``any`` else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "list[int]"
        tree = parse_source(node.value)
        node = tree.body[0].value if tree and isinstance(tree.body[0], ast.Expr) else None
    if node is None:
        return ANY
    text = re.sub(r"\btyping\.", "", ast.unparse(node))
    text = re.sub(r"\b(List|Tuple|Dict|Set)\b", lambda m: _ALIASES[m.group(1)], text)
    text = {"list": "list[any]", "set": "set[any]"}.get(text, text)
    ok = re.fullmatch(r"(int|float|str|bool|None|any|list|set|dict|tuple|\[|\]|, )+", text)
    if not ok or "..." in text or "[]" in text:
        return ANY
    head, args = split_type(text)
    sizes = {"list": 1, "set": 1, "dict": 2}
    if args and (sizes.get(head, len(args)) != len(args)) or (not args and head not in _SIMPLE):
        return ANY
    return text


_SIMPLE = ("int", "float", "str", "bool", "None")


# ------------------------------------------------------------------------------ signatures
@dataclass(frozen=True)
class Signature:
    """How to call a problem's entry point, and its parameter and return types."""

    entry: str  # "f" or "Solution().f"
    func: str
    params: tuple[str, ...]
    types: tuple[str, ...]
    returns: str
    defaults: tuple[Any, ...] = ()  # literal defaults of the trailing parameters (or MISSING)

    def call(self, args: Sequence[str] | None = None) -> str:
        return f"{self.entry}({', '.join(self.params if args is None else args)})"

    def text(self, name: str | None = None) -> str:
        """``f(a: int, b: list[int]) -> int`` (unknown types are left out)."""
        params = ", ".join(
            f"{p}: {t}" if is_known(t) else p for p, t in zip(self.params, self.types, strict=True)
        )
        ret = f" -> {self.returns}" if is_known(self.returns) else ""
        return f"{name or self.func}({params}){ret}"


def read_signature(module: ast.Module, entry: str) -> Signature | str:
    """The entry point's signature, or why it cannot be used."""
    fn = find_function(module, entry)
    if fn is None:
        return f"the entry point {entry!r} is not defined in the solution"
    a = fn.args
    if a.vararg or a.kwarg:
        return f"the entry point {entry!r} takes *args or **kwargs"
    if any(d is None for d in a.kw_defaults):
        return f"the entry point {entry!r} has keyword-only parameters without defaults"
    positional = list(a.posonlyargs) + list(a.args)
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
    if entry_parts(entry)[0] is not None and not is_static:  # type: ignore[index]
        positional = positional[1:]  # self
    if not positional:
        return f"the entry point {entry!r} takes no parameters"
    defaults: list[Any] = []
    for d in a.defaults[-len(positional) :] if a.defaults else []:
        try:
            defaults.append(ast.literal_eval(d))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            defaults.append(MISSING)
    return Signature(
        entry=entry.strip(),
        func=fn.name,
        params=tuple(p.arg for p in positional),
        types=tuple(annotation_type(p.annotation) for p in positional),
        returns=annotation_type(fn.returns),
        defaults=tuple(defaults),
    )


# ------------------------------------------------------------------------------ harvesting
@dataclass(frozen=True)
class Example:
    """Literal arguments of one call found in the tests, and the expected value if stated."""

    args: tuple[Any, ...]
    expected: Any = MISSING


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return MISSING


def _matches(call: ast.Call, sig: Signature, names: set[str]) -> bool:
    """A call of the entry point: ``f(...)``, ``candidate(...)``, ``Solution().f(...)``,
    ``solution.f(...)``."""
    f, cls = call.func, (entry_parts(sig.entry) or ("", ""))[0]
    if isinstance(f, ast.Name):
        return f.id in names or (f.id == sig.func and cls is None)
    if not (isinstance(f, ast.Attribute) and f.attr == sig.func):
        return False
    v = f.value
    if cls is not None:
        return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == cls
    return isinstance(v, ast.Name) and v.id in ("solution", "_solution")


def _arguments(call: ast.Call, sig: Signature) -> tuple[Any, ...] | None:
    n = len(sig.params)
    values: list[Any] = [MISSING] * n
    if len(call.args) > n or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    for i, node in enumerate(call.args):
        values[i] = _literal(node)
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in sig.params:
            return None
        values[sig.params.index(kw.arg)] = _literal(kw.value)
    for i, d in enumerate(sig.defaults):  # defaults belong to the trailing parameters
        j = n - len(sig.defaults) + i
        if values[j] is MISSING:
            values[j] = d
    if any(v is MISSING for v in values):
        return None
    return tuple(values)


def harvest_examples(tests: str, sig: Signature, *, limit: int = 200) -> list[Example]:
    """Every call to the entry point in ``tests`` whose arguments are all literals, in source
    order and without duplicates, with the expected value of ``assert call == literal``."""
    tree = parse_source(tests) or ast.Module(body=[], type_ignores=[])
    names = {"candidate"} | {  # def check(candidate): ... -> the name of its first parameter
        n.args.args[0].arg
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name == "check" and n.args.args
    }
    expected: dict[int, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.Eq, ast.Is)):
            pair = (node.left, node.comparators[0])
            for call, other in (pair, pair[::-1]):
                value = _literal(other) if isinstance(call, ast.Call) else MISSING
                if value is not MISSING and (isinstance(node.ops[0], ast.Eq) or value is None):
                    expected[id(call)] = value
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _matches(n, sig, names)]
    out: dict[str, Example] = {}
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        args = _arguments(call, sig)
        if args is not None and len(repr(args)) <= MAX_INPUT_CHARS and len(out) < limit:
            out.setdefault(repr(args), Example(args, expected.get(id(call), MISSING)))
    return list(out.values())


# ---------------------------------------------------------------------------------- guards
def _bound(values: list[int]) -> dict[str, int]:
    lo, hi = min(values), max(values)
    out = {"hi": max(2 * hi, hi + 10)}
    if lo >= 0:
        out["lo"] = 1 if lo >= 1 else 0
    return out


_CHARSETS = {  # tried in this order; the first that holds every character is kept
    "lower": lambda c: "a" <= c <= "z",
    "upper": lambda c: "A" <= c <= "Z",
    "digits": lambda c: "0" <= c <= "9",
    "alpha": lambda c: c.isascii() and c.isalpha(),
    "alnum": lambda c: c.isascii() and c.isalnum(),
    "ascii": lambda c: c.isascii() and c.isprintable(),
}


def _alphabet(values: list[str]) -> dict[str, Any]:
    chars = sorted({c for v in values for c in v})
    if chars and len(chars) <= 12 and sum(map(len, values)) >= 3 * len(chars):
        return {"alphabet": "".join(chars)}  # a small alphabet: "01", "()[]", "LR", ...
    name = next((n for n, test in _CHARSETS.items() if chars and all(map(test, chars))), None)
    return {"chars": name} if name else {}


def _sorted(v: list) -> bool:
    try:
        return all(v[i] <= v[i + 1] for i in range(len(v) - 1))
    except TypeError:
        return False


def _distinct(v: list) -> bool:
    return len({repr(x) for x in v}) == len(v)


def guard_spec(values: Sequence[Any], t: str) -> dict[str, Any]:
    """What the observed values of one parameter have in common, as a JSON-able spec that
    :func:`guard_ok` checks new values against (ranges, sortedness, alphabets, shapes)."""
    head, args = split_type(t)
    kind = {"list": list, "str": str, "int": int, "tuple": tuple}.get(head)
    seen = [v for v in values if kind is not None and type(v) is kind]
    if head in ("float", "bool") or not seen:
        return {"k": head if head in ("float", "bool", "int", "str", "list", "tuple") else ANY}
    if head == "int":
        return {"k": "int", **_bound(seen)}
    if head == "tuple":
        items = [
            guard_spec([v[i] for v in seen if len(v) == len(args)], a) for i, a in enumerate(args)
        ]
        return {"k": "tuple", "items": items}
    longest = max(map(len, seen))
    spec = {"k": head, "nonempty": all(seen), "maxlen": max(2 * longest, longest + 10)}
    if head == "str":
        return {**spec, **_alphabet(seen)}
    informative = [v for v in seen if len(v) >= 3]
    for name, test in (("sorted", _sorted), ("distinct", _distinct)):
        if len(informative) >= 2 and all(map(test, informative)):
            spec[name] = True
    elems = [x for v in seen for x in v]
    if elems and args:
        spec["elem"] = guard_spec(elems, args[0])
        lengths = {len(x) for x in elems if type(x) is list}
        if len(elems) >= 3 and all(type(x) is list for x in elems) and len(lengths) == 1:
            spec["inner"] = lengths.pop()  # pairs such as edges [u, v]
        elif all(type(x) is list and len(x) == len(v) for v in seen for x in v) and longest > 1:
            spec["square"] = True
    return spec


def guard_ok(spec: dict[str, Any], v: Any) -> bool:
    """Whether ``v`` looks like the values the spec was made from (host-side, literals only)."""
    k = spec.get("k", ANY)
    if k == ANY:
        return True
    if k in ("float", "bool"):
        return type(v) is bool if k == "bool" else type(v) in (int, float)
    if type(v) is not {"int": int, "str": str, "list": list, "tuple": tuple}[k]:
        return False
    if k == "int":
        return spec.get("lo", v) <= v <= spec.get("hi", v)
    if k == "tuple":
        items = spec.get("items", [])
        return len(v) == len(items) and all(map(guard_ok, items, v))
    if (spec.get("nonempty") and not v) or len(v) > spec.get("maxlen", len(v)):
        return False
    if k == "str":
        test = _CHARSETS.get(spec.get("chars", ""), lambda c: True)
        return all(c in spec.get("alphabet", c) and test(c) for c in v)
    checks = [
        not spec.get("sorted") or _sorted(v),
        not spec.get("distinct") or _distinct(v),
        "inner" not in spec or all(type(x) is list and len(x) == spec["inner"] for x in v),
        not spec.get("square") or all(type(x) is list and len(x) == len(v) for x in v),
    ]
    return all(checks) and ("elem" not in spec or all(guard_ok(spec["elem"], x) for x in v))


# ------------------------------------------------------------------------------ variation
def _vary_scalar(v: Any, rng: random.Random) -> Any:
    if type(v) is bool:
        return not v
    if type(v) is int:
        return rng.choice([v + 1, v - 1, 2 * v, v // 2, -v, v + rng.randint(2, 9)])
    if type(v) is float:
        return rng.choice([v * 2, v / 2, v + 1.5, -v, round(v + 0.25, 2)])
    if type(v) is str and v:
        ops = [v[::-1], v.swapcase(), v[1:], v + v[:1], v[-1:] + v, "".join(sorted(v))]
        if len(v) <= 40:
            ops.append(v + v)
        return rng.choice(ops)
    return v


def vary_value(v: Any, rng: random.Random) -> Any:
    """One small random change of a literal value (same type and shape)."""
    if type(v) is list:
        if not v:
            return v
        out = list(v)
        op = rng.randrange(7)
        if op == 0:
            rng.shuffle(out)
        elif op == 1:
            out.reverse()
        elif op == 2:
            del out[rng.randrange(len(out))]
        elif op == 3:
            out.insert(rng.randrange(len(out) + 1), out[rng.randrange(len(out))])
        elif op == 4:
            try:
                out.sort()
            except TypeError:
                out.sort(key=repr)
        else:
            i = rng.randrange(len(out))
            out[i] = vary_value(out[i], rng)
        return out
    if type(v) is tuple and v:
        i = rng.randrange(len(v))
        return v[:i] + (vary_value(v[i], rng),) + v[i + 1 :]
    if type(v) is dict and v:
        out, keys = dict(v), list(v)
        key = keys[rng.randrange(len(keys))]
        op = rng.randrange(3)
        if op == 0:
            del out[key]
        elif op == 1:
            out[key] = vary_value(out[key], rng)
        else:
            out.setdefault(vary_value(key, rng), out[key])
        return out
    return _vary_scalar(v, rng)


def _spread(items: list, n: int) -> list:
    """At most n items, evenly spread over the list (first and last kept)."""
    if len(items) <= n:
        return list(items)
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def vary_inputs(
    inputs: Sequence[tuple[Any, ...]],
    specs: Sequence[dict[str, Any]],
    rng: random.Random,
    *,
    want: int = 14,
    originals: int = 8,
) -> list[tuple[Any, ...]]:
    """Up to ``want`` argument tuples: up to ``originals`` of the given ones (spread over
    them), then variations of one argument at a time that still pass every parameter's guard.
    """
    out: list[tuple[Any, ...]] = []
    seen: set[str] = set()

    def add(args: tuple[Any, ...]) -> None:
        key = repr(args)
        if key not in seen and len(key) <= MAX_INPUT_CHARS:
            seen.add(key)
            out.append(args)

    valid = [
        a for a in inputs if all(guard_ok(s, x) for s, x in zip(specs, a, strict=True))
    ] or list(inputs)
    for args in _spread(valid, originals):
        add(args)
    if not valid:
        return out
    for attempt in range(want * 10):
        if len(out) >= want:
            break
        base = valid[attempt % len(valid)] if attempt % 3 else rng.choice(valid)
        i = rng.randrange(len(base))
        new = base[:i] + (vary_value(base[i], rng),) + base[i + 1 :]
        if all(guard_ok(s, x) for s, x in zip(specs, new, strict=True)):
            add(new)
    return out


# ------------------------------------------------------------------- answers, in the sandbox
MAX_ANSWER_CHARS = 2000

_PROBE = """\
import copy
import json
import signal
import time

{imports}

_INPUTS = [
{inputs}
]


class _SlowInput(BaseException):
    pass


def _alarm(signum, frame):
    raise _SlowInput()


{stage_defs}


def _stages({params}):
    return [{stage_calls}]


def test_probe():
    signal.signal(signal.SIGALRM, _alarm)
    start = time.monotonic()
    for i, args in enumerate(_INPUTS):
        rec = {{"i": i}}
        if time.monotonic() - start > {budget}:
            rec["e"] = "skipped"
        else:
            try:
                signal.setitimer(signal.ITIMER_REAL, {per_input})
                try:
                    rec["s"] = [repr(v)[:{cap}] for v in _stages(*copy.deepcopy(args))]
                    rec["r"] = repr({call_args})[:{cap}]
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _SlowInput:
                rec["e"] = "timeout"
            except BaseException as exc:
                rec["e"] = type(exc).__name__
            if "e" in rec:
                rec.pop("r", None)
        print("\\n{marker}" + json.dumps(rec), flush=True)
"""
_FAILURES = {"skipped": "not run (time budget)", "timeout": "too slow", "missing": "no report"}


def _names(code: str) -> set[str]:
    tree = parse_source(code)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()


async def answers(
    sandbox: Any,
    solution: str,
    call: str,
    params: Sequence[str],
    inputs: Sequence[tuple[Any, ...]],
    stages: Sequence[dict[str, Any]],
) -> tuple[list[tuple[tuple[Any, ...], Any]], Counter] | str:
    """Run ``call`` (an expression over ``params``) on every input **inside the sandbox**.

    Returns the (arguments, answer) pairs whose answer is a literal of at most
    ``MAX_ANSWER_CHARS`` characters that ``ast.literal_eval`` reads back and whose stage values
    pass their guards, with a count of the reasons others were dropped; or a note when nothing
    came back. Each input has its own time limit (SIGALRM in the sandboxed child) and the whole
    probe stops starting new inputs after 40% of the sandbox's timeout.
    """
    marker = "@@" + secrets.token_hex(8) + "@@"
    targets = {n for st in stages for line in st["lines"] for n in _names(line.split("=")[0])}
    code = [call] + [line for st in stages for line in st["lines"]]
    names = set().union(*map(_names, code)) - set(params) - _BUILTINS - targets
    limits = sandbox.limits
    limits = limits.model_copy(update={"output_cap_kb": max(limits.output_cap_kb, 512)})
    sig = ", ".join(params)
    stage_defs = "\n\n".join(
        f"def _stage_{n}({sig}):\n"
        + "".join(f"    {line}\n" for line in st["lines"])
        + f"    return {st['var']}\n"
        for n, st in enumerate(stages)
    )
    source = _PROBE.format(
        imports=f"from solution import {', '.join(sorted(names))}" if names else "",
        inputs="\n".join(f"    {a!r}," for a in inputs),
        stage_defs=stage_defs,
        params=sig,
        stage_calls=", ".join(f"_stage_{n}({sig})" for n in range(len(stages))),
        call_args=f"(lambda {sig}: {call})(*copy.deepcopy(args))",
        budget=round(0.4 * limits.timeout_s, 2),
        per_input=round(min(2.0, 0.2 * limits.timeout_s), 2),
        cap=MAX_ANSWER_CHARS + 1,
        marker=marker,
    )
    sandbox.start()  # on this thread: bwrap's --die-with-parent follows the starting thread
    result = await asyncio.to_thread(
        sandbox.run, solution, source, id="offline-probe", limits=limits
    )
    records: dict[int, dict] = {}
    for line in result.stdout.splitlines():
        if (at := line.find(marker)) >= 0:
            try:
                rec = json.loads(line[at + len(marker) :])
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("i"), int):
                records.setdefault(rec["i"], rec)
    if not records:
        detail = "; ".join(result.notes + list(result.errors.values()))[:600]
        return f"the reference solution could not be probed ({result.status}: {detail})"
    cases, dropped = [], Counter()
    for i, args in enumerate(inputs):
        reason, value = _accept(records.get(i, {"e": "missing"}), stages)
        if reason:
            dropped[reason] += 1
        else:
            cases.append((args, value))
    return cases, dropped


def _accept(rec: dict[str, Any], stages: Sequence[dict[str, Any]]) -> tuple[str, Any]:
    if "e" in rec or not isinstance(rec.get("r"), str):
        e = str(rec.get("e", "missing"))
        return _FAILURES.get(e, f"raised {e}"), MISSING
    value = read_literal(rec["r"])
    if value is MISSING:
        return "answer not a literal or too long", MISSING
    for stage, text in zip(stages, rec.get("s") or [], strict=False):
        inner = read_literal(text) if isinstance(text, str) else MISSING
        if inner is MISSING or not guard_ok(stage["guard"], inner):
            return "intermediate value outside task B's inputs", MISSING
    return "", value


def read_literal(text: str, limit: int = MAX_ANSWER_CHARS) -> Any:
    """The literal ``text`` stands for, when it reads back to the same value; else MISSING."""
    if len(text) > limit:
        return MISSING
    value = _literal_text(text)
    if value is MISSING or _literal_text(repr(value)) != value:
        return MISSING
    return value


def _literal_text(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return MISSING


def literal_inputs(items: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The argument tuples of a payload's ``inputs`` (Python literals), invalid ones skipped."""
    values = [_literal_text(t) if isinstance(t, str) and len(t) <= 20_000 else None for t in items]
    return [v for v in values if type(v) is tuple]


def valid_stage(stage: Any) -> bool:
    """A payload stage: assignment lines (valid Python), the variable to check, its guard."""
    if not isinstance(stage, dict) or not isinstance(stage.get("guard"), dict):
        return False
    lines, var = stage.get("lines"), stage.get("var")
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        return False
    tree = parse_source("\n".join(lines))
    return (
        tree is not None
        and bool(tree.body)
        and all(isinstance(n, ast.Assign) for n in tree.body)
        and isinstance(var, str)
        and var.isidentifier()
    )


_CLOSE = '''

def _close(a, b):
    """Equal, floats compared to a relative tolerance of 1e-6 (pytest is not needed)."""
    if isinstance(b, float):
        return isinstance(a, (int, float)) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in b)
    return a == b
'''


def _has_float(v: Any) -> bool:
    if isinstance(v, float):
        return True
    if isinstance(v, (list, tuple, set)):
        return any(map(_has_float, v))
    return isinstance(v, dict) and any(map(_has_float, v.values()))


def tests_source(entry: str, cases: Sequence[tuple[tuple[Any, ...], Any]]) -> str:
    """pytest tests ``test_case_1``, ... with one assert of a literal answer each."""
    head = f"from solution import {entry}\n"
    if any(_has_float(v) for _, v in cases):
        head = "import math\n\n" + head + _CLOSE
    blocks = [head.rstrip("\n")]
    for n, (args, expected) in enumerate(cases, 1):
        call = f"{entry}({', '.join(repr(a) for a in args)})"
        if _has_float(expected):
            check = f"assert _close({call}, {expected!r})"
        elif expected is None:
            check = f"assert {call} is None"
        else:
            check = f"assert {call} == {expected!r}"
        blocks.append(f"def test_case_{n}():\n    {check}")
    return "\n\n\n".join(blocks) + "\n"


def passing_tests(tests: str, outcomes: dict[str, str]) -> tuple[str, list[str], int] | None:
    """``tests`` with only the test functions whose outcome was "passed": (source, names of
    the dropped tests, number kept); None when the tests do not parse."""
    tree = parse_source(tests)
    if tree is None:
        return None
    lines, keep, dropped, kept = tests.splitlines(), [], [], 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            if outcomes.get(node.name) != "passed":
                dropped.append(node.name)
                continue
            kept += 1
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        keep.append("\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n\n".join(keep) + "\n", dropped, kept
