"""Degeneracy filter: verified problems that are not worth keeping (DESIGN.md, "Every generated
problem must be worth reading").

A problem can pass its tests and still be useless as a benchmark item. Four findings, each a
:class:`Degeneracy` with a ``kind`` and a sentence naming the evidence:

``constant_output``
    The reference answers (nearly) the same whatever the input: fewer than
    :data:`MIN_DISTINCT_OUTPUTS` distinct expected values over at least
    :data:`MIN_CASES_FOR_DISTINCT` test cases, or a single value over at least
    :data:`MIN_CASES_FOR_CONSTANT`. A test case is a distinct (call, expected) pair of the
    asserts, or one of the ``outputs`` the caller observed. Exempt: a decision problem with
    both of its two answers present (``True``/``False``, or two strings that the statement
    names as words, such as ``'YES'``/``'NO'``).
``ignored_argument``
    The entry point never reads one of its parameters (no load of the name anywhere in its
    body, nested functions, lambdas and comprehensions included; ``self``/``cls`` excluded;
    a nested parameter of the same name is not told apart, so the check errs towards silence).
    Bodies that call ``locals``, ``vars``, ``eval`` or ``exec`` are not judged.
``duplicate_tests``
    Two test functions with the same normalised source (``ast.dump``, no positions, docstrings
    dropped, decorators kept), or asserts repeating one (call, expected) pair so often that the
    distinct cases are fewer than :data:`MIN_DISTINCT_CASE_SHARE` of all cases.
``parent_copy``
    The statement is a near-copy of a parent's: word 3-gram Jaccard >= :data:`PARENT_JACCARD`,
    or a parent statement of at least :data:`PARENT_QUOTE_MIN_WORDS` words appears in it word
    for word (case and punctuation ignored). Not checked for the operators in
    :data:`SAME_TASK_OPERATORS`, which restate their parent's task on purpose.

Everything is read statically with :mod:`ast`; nothing is executed. Expected values come from
the asserts (see :func:`expected_values`) or, when the caller ran the reference itself (the
offline engine does, in the sandbox), from ``outputs``. Unparsable solutions or tests give no
finding from the checks that need them: the sandbox already reports those.
"""

from __future__ import annotations

import ast
import builtins
import copy
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .engines.harvest import parse_source as _parse  # quiet, never raises, never runs
from .problem import Problem

__all__ = [
    "KINDS",
    "MIN_CASES_FOR_CONSTANT",
    "MIN_CASES_FOR_DISTINCT",
    "MIN_DISTINCT_OUTPUTS",
    "MIN_DISTINCT_CASE_SHARE",
    "PARENT_SHINGLE_WORDS",
    "PARENT_JACCARD",
    "PARENT_QUOTE_MIN_WORDS",
    "SAME_TASK_OPERATORS",
    "Degeneracy",
    "expected_values",
    "find_degeneracies",
]

KINDS = ("constant_output", "ignored_argument", "duplicate_tests", "parent_copy")
#: test cases (distinct (call, expected) pairs, or given outputs) from which one value is constant
MIN_CASES_FOR_CONSTANT = 3
#: test cases from which fewer than MIN_DISTINCT_OUTPUTS distinct values are degenerate
MIN_CASES_FOR_DISTINCT = 5
MIN_DISTINCT_OUTPUTS = 3
#: repeated asserts are a finding when distinct cases < this share of all cases (and >= 4 cases)
MIN_DISTINCT_CASE_SHARE = 0.5
PARENT_SHINGLE_WORDS = 3  # word n-gram length of the statement shingles
PARENT_JACCARD = 0.8  # shingle-set Jaccard similarity (0..1) from which a child copies
PARENT_QUOTE_MIN_WORDS = 40  # a parent statement this long (words) quoted whole is a copy
SAME_TASK_OPERATORS = ("rephrase", "edit")

_MAX_ROWS = 500  # loop / parametrize rows expanded per problem (bounded cost)
_MAX_CASES = 5000
_DYNAMIC = frozenset({"locals", "vars", "eval", "exec"})
_WRAPPERS = frozenset({"sorted", "set", "list", "tuple", "frozenset", "round", "float", "int",
                       "str", "dict", "Counter", "abs"})  # fmt: skip
_CLOSE = re.compile(r"(?i)close|approx|almost")
_KNOWN_NAMES = frozenset(dir(builtins)) | {"math"}
_UNITTEST_EQ = frozenset({"assertEqual", "assertEquals", "assertAlmostEqual", "assertIs",
                          "assertListEqual", "assertDictEqual", "assertCountEqual"})  # fmt: skip
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Degeneracy:
    """One finding: ``kind`` (one of :data:`KINDS`) and a sentence naming the evidence."""

    kind: str
    detail: str


# ------------------------------------------------------------------------------ parsing
def _entry_parts(entry: str | None) -> tuple[str | None, str] | None:
    """``"f"`` -> (None, "f"); ``"Solution().f"`` -> ("Solution", "f"); else None."""
    entry = (entry or "").strip()
    if m := re.fullmatch(r"([A-Za-z_]\w*)\(\)\.([A-Za-z_]\w*)", entry):
        return m.group(1), m.group(2)
    return (None, entry) if re.fullmatch(r"[A-Za-z_]\w*", entry) else None


def _canon(value: Any) -> str:
    """A canonical text of a value: equal values (sets and dicts in any order), equal text."""
    t = type(value)
    if t in (list, tuple):
        inner = ", ".join(_canon(v) for v in value)
        return f"[{inner}]" if t is list else f"({inner}{',' if len(value) == 1 else ''})"
    if t in (set, frozenset):
        return f"{t.__name__}({{{', '.join(sorted(_canon(v) for v in value))}}})"
    if t is dict:
        return "{" + ", ".join(sorted(f"{_canon(k)}: {_canon(v)}" for k, v in value.items())) + "}"
    if t in (bool, int, float, complex, str, bytes, type(None)):
        return repr(value)
    try:
        return f"{t.__name__}:{value!r}"
    except Exception:  # noqa: BLE001  (a caller's object whose repr fails: still a value)
        return f"{t.__name__}:?"


def _nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes under ``node`` (itself included) except constants and load/store markers:
    :func:`ast.walk` without its cost on big literal inputs."""
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if not isinstance(n, ast.AST) or isinstance(n, (ast.Constant, ast.expr_context)):
            continue
        yield n
        for field in n._fields:
            v = getattr(n, field, None)
            if type(v) is list:
                stack.extend(v)
            elif isinstance(v, ast.AST):
                stack.append(v)


def _statements(stmts: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested blocks included (no expressions are visited)."""
    for s in stmts:
        yield s
        for field in ("body", "orelse", "finalbody"):
            block = getattr(s, field, None)
            if type(block) is list:
                yield from _statements(block)
        for h in getattr(s, "handlers", []):
            yield from _statements(h.body)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------ expected values
_UNKNOWN = object()


@dataclass(frozen=True)
class _Case:
    call: str  # normalised call side (unique per assert when it depends on unknown names)
    expected: str  # normalised expected value
    value: Any  # the literal value, or _UNKNOWN


class _Reader:
    """Walks a test module in source order, expanding literal loops and parametrize rows."""

    def __init__(self, tree: ast.Module, entry: str | None) -> None:
        self.cases: list[_Case] = []
        self.rows_left, self.serial = _MAX_ROWS, 0
        parts = _entry_parts(entry)
        self.cls, self.func = parts if parts else (None, None)
        stmts = list(_statements(tree.body))
        self.names = {"candidate"} | {
            n.args.args[0].arg
            for n in stmts
            if isinstance(n, ast.FunctionDef) and n.name == "check" and n.args.args
        }
        if self.func is None:  # no usable entry point: what the tests import from `solution`
            self.names |= {
                a.asname or a.name
                for n in stmts
                if isinstance(n, ast.ImportFrom) and n.module == "solution"
                for a in n.names
                if a.name != "*"
            }
        elif self.cls is None:
            self.names.add(self.func)

    # -- what is a call of the entry point
    def is_entry_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        if isinstance(f, ast.Name):
            return f.id in self.names
        if isinstance(f, ast.Attribute) and self.func is not None and f.attr == self.func:
            return self.cls is not None or isinstance(f.value, ast.Name)
        return False

    def is_call_side(self, node: ast.AST) -> bool:
        """The entry call, possibly inside value-preserving wrappers (``sorted(f(x))``)."""
        while (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _WRAPPERS
            and node.args
            and not self.is_entry_call(node)
        ):
            node = node.args[0]
        return self.is_entry_call(node)

    def has_entry_call(self, node: ast.AST) -> bool:
        return any(self.is_entry_call(n) for n in _nodes(node))

    def closed(self, node: ast.AST) -> bool:
        """No entry call and no names but builtins (and ``math``): a constant expression."""
        for n in _nodes(node):
            if isinstance(n, ast.Name) and n.id not in _KNOWN_NAMES:
                return False
            if self.is_entry_call(n) or isinstance(n, (ast.Lambda, ast.NamedExpr)):
                return False
        return True

    # -- walking
    def block(self, stmts: list[ast.stmt], env: dict[str, ast.expr]) -> None:
        for s in stmts:
            if len(self.cases) >= _MAX_CASES:
                return
            if isinstance(s, ast.Assign) and len(s.targets) == 1:
                self.assign(s.targets[0], s.value, env)
            elif isinstance(s, (ast.AnnAssign, ast.AugAssign)) and isinstance(s.target, ast.Name):
                value = s.value if isinstance(s, ast.AnnAssign) else None
                self.assign(s.target, value, env)
            elif isinstance(s, ast.Assert):
                self.check(s.test, env)
            elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
                self.unittest(s.value, env)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                rows = self.loop_rows(s, env)
                for row in rows if rows is not None else [{}]:
                    self.block(s.body, {**env, **row})
                self.block(s.orelse, env)
            elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for row in self.parametrize_rows(s, env):
                    self.block(s.body, {**env, **row})
            elif isinstance(s, ast.ClassDef):
                self.block(s.body, dict(env))
            elif isinstance(s, (ast.If, ast.While, ast.With, ast.AsyncWith, ast.Try)):
                for part in ("body", "orelse", "finalbody"):
                    self.block(getattr(s, part, []), env)
                for h in getattr(s, "handlers", []):
                    self.block(h.body, env)

    def assign(self, target: ast.expr, value: ast.expr | None, env: dict) -> None:
        names = [n.id for n in _nodes(target) if isinstance(n, ast.Name)]
        for name in names:
            env.pop(name, None)
        if isinstance(target, ast.Name) and value is not None:
            value = _subst(value, env)
            if self.closed(value) or self.is_call_side(value):
                env[target.id] = value

    def rows(self, node: ast.expr, env: dict) -> list[ast.expr] | None:
        """The elements of a literal list/tuple/set (or ``dict.items()``), else None."""
        node = _subst(node, env)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return list(node.elts)
        f = node.func if isinstance(node, ast.Call) else None
        if isinstance(f, ast.Attribute) and f.attr == "items" and isinstance(f.value, ast.Dict):
            d = f.value
            return [
                ast.Tuple([k, v], ast.Load()) for k, v in zip(d.keys, d.values, strict=True) if k
            ]
        return None

    def take(self, n: int) -> int:
        n = min(n, self.rows_left)
        self.rows_left -= n
        return n

    def loop_rows(self, loop: ast.For | ast.AsyncFor, env: dict) -> list[dict] | None:
        elts = self.rows(loop.iter, env)
        if elts is None:
            return None
        return [_bind(loop.target, e) or {} for e in elts[: self.take(len(elts))]]

    def parametrize_rows(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, env: dict) -> list:
        tables: list[list[dict]] = []
        for d in fn.decorator_list:
            if not (isinstance(d, ast.Call) and ast.unparse(d.func).endswith("parametrize")):
                continue
            args = list(d.args) + [
                k.value for k in d.keywords if k.arg in ("argnames", "argvalues")
            ]
            names = _argnames(args[0]) if args else None
            elts = self.rows(args[1], env) if len(args) > 1 else None
            if names is None or elts is None:
                continue
            table = []
            for e in elts[: self.take(len(elts))]:
                if isinstance(e, ast.Call) and ast.unparse(e.func).endswith("param"):
                    if len(names) == 1 and len(e.args) != 1:
                        table.append({})
                        continue
                    e = ast.Tuple(list(e.args), ast.Load()) if len(names) > 1 else e.args[0]
                target = ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())
                table.append(_bind(target if len(names) > 1 else target.elts[0], e) or {})
            tables.append(table)
        rows = [dict(itertools.chain.from_iterable(r.items() for r in combo))
                for combo in itertools.product(*tables)]  # fmt: skip
        return rows[: self.take(len(rows))] or [{}]

    # -- asserts
    def check(self, test: ast.expr, env: dict) -> None:
        test = _subst(test, env)
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            op, left, right = test.ops[0], test.left, test.comparators[0]
            if isinstance(op, (ast.Eq, ast.Is)):
                self.pair(left, right)
            elif isinstance(op, (ast.Lt, ast.LtE)) and isinstance(left, ast.Call):
                f, a = left.func, left.args  # abs(CALL - X) < eps
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                if name in ("abs", "fabs") and len(a) == 1 and isinstance(a[0], ast.BinOp):
                    if isinstance(a[0].op, ast.Sub):
                        self.pair(a[0].left, a[0].right)
        elif isinstance(test, ast.Call) and self.is_call_side(test):
            self.add(test, ast.Constant(True))
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            if self.is_call_side(test.operand):
                self.add(test.operand, ast.Constant(False))
        elif isinstance(test, ast.Call) and len(test.args) >= 2:
            f = test.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            if _CLOSE.search(name):  # math.isclose(CALL, X), _close(CALL, X), ...
                self.pair(test.args[0], test.args[1])

    def unittest(self, call: ast.Call, env: dict) -> None:
        name = getattr(call.func, "attr", "")
        call = _subst(call, env)
        if name in _UNITTEST_EQ and len(call.args) >= 2:
            self.pair(call.args[0], call.args[1])
        elif name in ("assertTrue", "assertFalse") and call.args:
            self.check(call.args[0] if name == "assertTrue" else
                       ast.UnaryOp(ast.Not(), call.args[0]), {})  # fmt: skip
        elif name == "assertIsNone" and call.args:
            self.pair(call.args[0], ast.Constant(None))

    def pair(self, a: ast.expr, b: ast.expr) -> None:
        for call, other in ((a, b), (b, a)):
            if self.is_call_side(call) and not self.has_entry_call(other):
                if isinstance(other, ast.Call) and _CLOSE.search(ast.unparse(other.func)):
                    other = other.args[0] if other.args else other  # pytest.approx(X)
                self.add(call, other)
                return

    def add(self, call: ast.expr, expected: ast.expr) -> None:
        try:
            value = ast.literal_eval(expected)
            text = _canon(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            if not self.closed(expected):
                return  # depends on names we cannot resolve: unknown, not a value
            value, text = _UNKNOWN, "expr:" + ast.unparse(expected)
        self.cases.append(_Case(self.call_key(call), text, value))

    def call_key(self, side: ast.expr) -> str:
        """Equal calls, equal keys: canonical literal arguments where they are literals (fast
        on big inputs), else the ``ast.dump``; a call whose arguments name variables we could
        not resolve gets a key of its own."""
        wrappers, call = [], side
        while not self.is_entry_call(call):
            wrappers.append(ast.dump(ast.Call(call.func, call.args[1:], call.keywords)))
            call = call.args[0]
        try:
            args = [ast.literal_eval(a) for a in call.args]
            kws = sorted((k.arg or "**", _canon(ast.literal_eval(k.value))) for k in call.keywords)
            return f"{wrappers}{ast.dump(call.func)}{_canon(args)}{kws}"
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        callee = {id(n) for c in _nodes(side) if isinstance(c, ast.Call) for n in _nodes(c.func)}
        if any(
            isinstance(n, ast.Name) and id(n) not in callee and n.id not in _KNOWN_NAMES
            for n in _nodes(side)
        ):
            self.serial += 1
            return f"#{self.serial}"
        return ast.dump(side)


def _argnames(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [n.strip() for n in node.value.split(",") if n.strip()]
    if isinstance(node, (ast.List, ast.Tuple)):
        names = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        return names if all(isinstance(n, str) for n in names) else None
    return None


def _bind(target: ast.expr, value: ast.expr) -> dict[str, ast.expr] | None:
    """Names bound by unpacking ``value`` into ``target``, or None when the shapes differ."""
    if isinstance(target, ast.Name):
        return {target.id: value}
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        if len(target.elts) != len(value.elts) or any(
            isinstance(e, ast.Starred) for e in (*target.elts, *value.elts)
        ):
            return None
        out: dict[str, ast.expr] = {}
        for t, v in zip(target.elts, value.elts, strict=True):
            sub = _bind(t, v)
            if sub is None:
                return None
            out.update(sub)
        return out
    return None


class _Substitute(ast.NodeTransformer):
    def __init__(self, env: dict[str, ast.expr]) -> None:
        self.env = env

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.env.get(node.id, node) if isinstance(node.ctx, ast.Load) else node


def _subst(node: ast.expr, env: dict[str, ast.expr]) -> ast.expr:
    used = env and any(isinstance(n, ast.Name) and n.id in env for n in _nodes(node))
    return _Substitute(env).visit(copy.deepcopy(node)) if used else node


def _cases(tree: ast.Module | None, entry_point: str | None) -> list[_Case]:
    if tree is None:
        return []
    reader = _Reader(tree, entry_point)
    reader.block(tree.body, {})
    return reader.cases


def expected_values(tests: str, entry_point: str | None) -> list[str]:
    """The expected values the tests state for the entry point, normalised, in source order.

    Read with :mod:`ast`, never executed. Recognised: ``assert CALL == X`` (either side),
    ``assert CALL is X``, ``assert CALL`` / ``assert not CALL`` (``True`` / ``False``),
    ``assert abs(CALL - X) < eps``, ``assert math.isclose(CALL, X)`` (any helper whose name
    holds "close", "approx" or "almost"), ``CALL == pytest.approx(X)``, unittest's
    ``assertEqual``-family, HumanEval's ``check(candidate)`` and LeetCode's
    ``Solution().f(...)``. ``CALL`` may be wrapped in ``sorted``/``set``/``list``/``round``/...
    or be a variable assigned from the call; loops over literal lists and
    ``pytest.mark.parametrize`` tables are expanded row by row (at most 500 rows).

    Parameters
    ----------
    tests : str
        pytest-style test source.
    entry_point : str or None
        ``"f"`` or ``"Solution().f"``; None: the names the tests import from ``solution``.

    Returns
    -------
    list of str
        One text per assert: a canonical literal (``repr``-like, sets and dicts sorted), or
        ``"expr:<source>"`` for constant expressions that are not literals (``float('inf')``).
        Asserts whose expected side depends on variables are left out. Unparsable tests: [].

    Examples
    --------
    >>> expected_values("def test():\\n    assert f(1) == 2\\n    assert f(2) is None", "f")
    ['2', 'None']
    """
    return [c.expected for c in _cases(_parse(tests), entry_point)]


# ------------------------------------------------------------------------------ checks
def _constant_output(
    problem: Problem, cases: list[_Case], outputs: Sequence[object] | None
) -> list[Degeneracy]:
    if outputs is not None:
        values = [(_canon(v), v) for v in outputs]
        source = "observed outputs"
    else:
        distinct_cases = {(c.call, c.expected): c for c in cases}
        values = [(c.expected, c.value) for c in distinct_cases.values()]
        source = "expected values"
    n, counts = len(values), Counter(text for text, _ in values)
    k = len(counts)
    if n < MIN_CASES_FOR_CONSTANT or k >= MIN_DISTINCT_OUTPUTS:
        return []
    if k > 1 and (n < MIN_CASES_FOR_DISTINCT or _decision(dict(values), problem.problem)):
        return []
    shown = ", ".join(_short(v) for v, _ in counts.most_common(3))
    only = "one value" if k == 1 else f"only {k} distinct values"
    return [Degeneracy("constant_output", f"{source} take {only} over {n} tests ({shown})")]


def _decision(values: dict[str, Any], statement: str) -> bool:
    """Two answers of a decision problem: True/False, or two strings the statement names."""
    vs = list(values.values())
    if all(type(v) is bool for v in vs):
        return True
    low = statement.lower()
    return all(
        type(v) is str
        and v.strip()
        and re.search(rf"(?<!\w){re.escape(v.strip().lower())}(?!\w)", low) is not None
        for v in vs
    )


def _entry(problem: Problem) -> str | None:
    if problem.entry_point:
        return problem.entry_point
    tree = _parse(problem.solution)
    funcs = [n.name for n in (tree.body if tree else []) if isinstance(n, ast.FunctionDef)]
    public = [f for f in funcs if not f.startswith("_")]
    return public[-1] if len(set(public)) == 1 else None


def _ignored_argument(problem: Problem) -> list[Degeneracy]:
    tree, parts = _parse(problem.solution), _entry_parts(_entry(problem))
    if tree is None or parts is None:
        return []
    cls, name = parts
    body: list[ast.stmt] = tree.body
    if cls is not None:
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
        body = classes[-1].body if classes else []
    defs = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    fn = next((d for d in reversed(defs) if d.name == name), None)
    if fn is None:
        return []
    a = fn.args
    params = [*a.posonlyargs, *a.args, *([a.vararg] if a.vararg else []), *a.kwonlyargs,
              *([a.kwarg] if a.kwarg else [])]  # fmt: skip
    static = any(ast.unparse(d) == "staticmethod" for d in fn.decorator_list)
    if cls is not None and not static and (a.posonlyargs or a.args):
        params = params[1:]  # self / cls
    read: set[str] = set()
    for node in itertools.chain.from_iterable(_nodes(s) for s in fn.body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            read.add(node.target.id)
    if read & _DYNAMIC:
        return []
    signature = f"{name}({', '.join(p.arg for p in params)})"
    return [
        Degeneracy(
            "ignored_argument", f"the entry point {signature} never reads its parameter '{p.arg}'"
        )  # fmt: skip
        for p in params
        if p.arg not in read
    ]


def _test_functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    fdefs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, fdefs) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from (n for n in node.body if isinstance(n, fdefs) and n.name.startswith("test"))


def _body(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The body without its docstring."""
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return fn.body[1:] if isinstance(first.value.value, str) else fn.body
    return fn.body


def _normalised(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """``ast.dump`` (no positions) of parameters, decorators and body (docstring dropped)."""
    return "|".join(ast.dump(p) for p in (fn.args, *fn.decorator_list, *_body(fn)))


def _shape(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple:
    """A cheap key that equal normalised functions share (numbers of decorators and
    parameters, statement types): only functions sharing it are dumped and compared."""
    body, sizes = _body(fn), []
    level: list[ast.AST] = list(body)
    for _ in range(6):  # lengths of the literals near the top: big inputs differ cheaply
        sizes += [len(n.elts) for n in level if isinstance(n, (ast.List, ast.Tuple, ast.Set))]
        level = [c for n in level for c in ast.iter_child_nodes(n) if not isinstance(
            n, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Constant))]  # fmt: skip
    return (len(fn.decorator_list), len(fn.args.args), *(type(s).__name__ for s in body), *sizes)


def _duplicate_tests(tree: ast.Module | None, cases: list[_Case]) -> list[Degeneracy]:
    if tree is None:
        return []
    found: list[Degeneracy] = []
    shapes: dict[tuple, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for fn in _test_functions(tree):
        shapes.setdefault(_shape(fn), []).append(fn)
    for same_shape in shapes.values():
        groups: dict[str, list[str]] = {}
        for fn in same_shape if len(same_shape) > 1 else []:
            groups.setdefault(_normalised(fn), []).append(fn.name)
        for names in groups.values():
            if len(names) > 1:
                found.append(Degeneracy("duplicate_tests", f"test functions {', '.join(names)} "
                                        "have identical bodies"))  # fmt: skip
    distinct = len({(c.call, c.expected) for c in cases})
    if len(cases) >= 4 and distinct < MIN_DISTINCT_CASE_SHARE * len(cases):
        found.append(Degeneracy("duplicate_tests", f"only {distinct} distinct (call, expected) "
                                f"cases among {len(cases)} asserts"))  # fmt: skip
    return found


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    n = PARENT_SHINGLE_WORDS
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))} if words else set()


def _parent_copy(problem: Problem, parents: Sequence[Problem | str]) -> list[Degeneracy]:
    if problem.origin.operator in SAME_TASK_OPERATORS:
        return []
    words = _WORD.findall(problem.problem.lower())
    own, text = _shingles(words), f" {' '.join(words)} "
    found = []
    for i, parent in enumerate(parents):
        if isinstance(parent, Problem):
            if parent.id == problem.id:
                continue
            label, statement = f"parent {parent.id}", parent.problem
        elif isinstance(parent, str):
            label, statement = f"parent #{i + 1}", parent
        else:
            raise TypeError(
                "The 'parents' parameter of find_degeneracies must hold Problem objects or "
                f"statement strings; got {type(parent).__name__} at position {i}."
            )
        pw = _WORD.findall(statement.lower())
        theirs = _shingles(pw)
        jaccard = len(own & theirs) / len(own | theirs) if own and theirs else 0.0
        if jaccard >= PARENT_JACCARD:
            found.append(Degeneracy("parent_copy", f"the statement shares {jaccard:.0%} of its "
                         f"word {PARENT_SHINGLE_WORDS}-grams with {label} (Jaccard {jaccard:.2f} "
                         f">= {PARENT_JACCARD})"))  # fmt: skip
        elif len(pw) >= PARENT_QUOTE_MIN_WORDS and f" {' '.join(pw)} " in text:
            found.append(Degeneracy("parent_copy", f"the statement quotes the whole statement "
                         f"of {label} ({len(pw)} words) word for word"))  # fmt: skip
    return found


def _guarded(check: Callable[[], list]) -> list:
    try:
        return check()
    except (RecursionError, MemoryError):  # absurdly deep or large source: no verdict
        return []


def find_degeneracies(
    problem: Problem,
    *,
    parents: Sequence[Problem | str] = (),
    outputs: Sequence[object] | None = None,
) -> list[Degeneracy]:
    """The degeneracies of one problem (empty when it is worth keeping).

    Pure reading of the statement, solution and tests with :mod:`ast`; nothing is executed and
    odd input (unparsable code, missing fields) never raises: it only removes the checks that
    need it. Typical cost: a few milliseconds.

    Parameters
    ----------
    problem : Problem
        The candidate, normally one that has just passed verification.
    parents : sequence of Problem or str
        Its parents (problems or bare statements) for the ``parent_copy`` check; a parent with
        the problem's own id is skipped.
    outputs : sequence, optional
        The reference's answers on the test inputs, when the caller has them (the offline
        engine runs the reference in the sandbox); they replace the expected values read from
        the tests for the ``constant_output`` check. Values are compared by canonical text.

    Returns
    -------
    list of Degeneracy
        In the order constant_output, ignored_argument, duplicate_tests, parent_copy.

    Examples
    --------
    >>> p = Problem(id="p", problem="Return 0.", solution="def f(x):\\n    return 0\\n",
    ...             tests="def test():\\n" + "".join(f"    assert f({i}) == 0\\n" for i in range(5)),
    ...             entry_point="f")
    >>> [d.kind for d in find_degeneracies(p)]
    ['constant_output', 'ignored_argument']
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"find_degeneracies needs a Problem; got {type(problem).__name__}.")
    if isinstance(parents, (str, Problem)):
        parents = [parents]
    tree = _parse(problem.tests)
    cases = _guarded(lambda: _cases(tree, _entry(problem)))
    return [
        *_guarded(lambda: _constant_output(problem, cases, outputs)),
        *_guarded(lambda: _ignored_argument(problem)),
        *_guarded(lambda: _duplicate_tests(tree, cases)),
        *_guarded(lambda: _parent_copy(problem, list(parents))),
    ]
