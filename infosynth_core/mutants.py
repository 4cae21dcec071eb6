"""Mutants of a reference solution: one small syntactic change each, for mutation analysis.

Mutation analysis (DeMillo, Lipton, Sayward 1978, "Hints on test data selection") judges tests
by changing the reference solution in one small place and seeing whether the tests notice.
This module makes the mutants; :mod:`infosynth_core.mutation_score` runs the tests against
them in the sandbox and scores the tests. Its public names (:class:`MutationScore`,
:func:`mutation_score`, :func:`mutation_scores`) stay importable from here.

Operators (one syntactic change per mutant; AST-based, ``ast`` + source splicing). The set
follows the five "sufficient" operators of Offutt, Lee, Rothermel, Untch and Zapf (1996, "An
experimental determination of sufficient mutant operators", ACM TOSEM 5(2)) — ABS is left out,
as an absolute-value insertion rarely means anything in Python — completed with the
statement-level and constant operators that Python tools use (mutmut, cosmic-ray; PIT's
"return values" and "remove conditionals"):

==================  =====================================================  ==========
operator            change                                                 Offutt '96
==================  =====================================================  ==========
arithmetic          ``+ ↔ -``, ``* → //``, ``/ → *``, ``// → *``, ``% → //``,  AOR
                    ``** → *``, ``<< ↔ >>``, ``& ↔ |``, ``^ → &`` (also in
                    ``+=``-style assignments)
comparison          ``< ↔ <=``, ``> ↔ >=``, ``== ↔ !=``, ``is ↔ is not``,    ROR
                    ``in ↔ not in``
boolean             ``and ↔ or``                                           LCR
unary-delete        ``not x → x``, ``-x → x``, ``~x → x``                   UOI (dual)
negate-condition    ``if c`` / ``while c`` → ``not (c)``                   UOI
off-by-one          ±1 on an integer literal compared against, on a slice   (CRP)
                    bound and on a ``range()`` argument
constant            ``0 ↔ 1``, ``n → n+1``, ``True ↔ False``, ``'' → 'x'``,   (CRP)
                    ``'abc' → ''``
drop-branch         the body of an ``if`` or its ``else`` → ``pass``       (SDL)
return-none         ``return e`` → ``return None``                         (RVR)
==================  =====================================================  ==========

Docstrings (any bare string statement), type annotations, decorators, f-strings and the
``if __name__ == "__main__":`` block are never mutated. A mutant that does not compile, or
whose syntax tree equals the original's, or equals another mutant, is never produced.

Sampling: all candidate sites are listed in source order; when there are more than
``max_mutants``, a seeded *stratified* sample takes them round-robin across operators
(Zhang, Gligoric, Marinov, Khurshid 2013, "Operator-based and random mutant selection:
better together", ASE), so a small sample still covers most operator kinds.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:  # re-exported lazily by __getattr__ at the bottom (no import cycle)
    from .mutation_score import MutationScore, mutation_score, mutation_scores

__all__ = [
    "MUTATION_OPERATORS",
    "Mutant",
    "MutationScore",
    "make_mutants",
    "mutation_score",
    "mutation_scores",
]

MUTATION_OPERATORS = (
    "arithmetic",
    "comparison",
    "boolean",
    "unary-delete",
    "negate-condition",
    "off-by-one",
    "constant",
    "drop-branch",
    "return-none",
)

#: Default cap on mutants per problem: with it, verification + mutation score (batched, given
#: the verification results) costs ~1.8x verification alone in wall time and ~1.9x in CPU time
#: on the bundled seeds (bench/mutation_cost.py); 12 costs ~2.2x. Most of the cost is the
#: mutants' own test runs: survivors run every test, and loops run into their time limit.
DEFAULT_MAX_MUTANTS = 8


# ============================================================================ mutants
@dataclass(frozen=True)
class Mutant:
    """One mutant of a solution: ``source`` differs from the original in one place.

    ``line`` is the 1-based line of the change in the original source; ``description``
    reads like ``"line 4: < → <="``.
    """

    id: str
    operator: str
    line: int
    description: str
    source: str


_AOR = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.LShift: ast.RShift,
    ast.RShift: ast.LShift, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd,
}  # fmt: skip
_ROR = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}  # fmt: skip
_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
    ast.BitXor: "^", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
    ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    ast.And: "and", ast.Or: "or",
}  # fmt: skip
_SKIP_FIELDS = {"annotation", "returns", "decorator_list", "type_params", "type_comment"}


@dataclass(frozen=True)
class _Site:
    """A place and a change, located by the node's position in :func:`_nodes`' order."""

    node: int
    kind: str
    arg: Any
    operator: str
    line: int


def _skipped(node: ast.AST) -> bool:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)  # docstrings and other bare strings
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
        t = node.test
        names = [t.left, *t.comparators]
        return (
            len(t.ops) == 1
            and isinstance(t.ops[0], ast.Eq)
            and any(isinstance(n, ast.Name) and n.id == "__name__" for n in names)
            and any(isinstance(n, ast.Constant) and n.value == "__main__" for n in names)
        )
    return False


def _nodes(tree: ast.AST) -> list[tuple[ast.AST, ast.AST | None, str | None, int | None]]:
    """Every mutable node as (node, parent, field, index), pre-order, without recursion."""
    out = []
    stack: list[tuple[ast.AST, ast.AST | None, str | None, int | None]] = [(tree, None, None, None)]
    while stack:
        node, parent, fname, idx = stack.pop()
        if _skipped(node):
            continue
        out.append((node, parent, fname, idx))
        children = []
        for name, value in ast.iter_fields(node):
            if name in _SKIP_FIELDS or (
                isinstance(node, ast.ClassDef) and name in ("bases", "keywords")
            ):
                continue
            if isinstance(value, list):
                children += [
                    (v, node, name, i) for i, v in enumerate(value) if isinstance(v, ast.AST)
                ]
            elif isinstance(value, ast.AST):
                children.append((value, node, name, None))
        stack.extend(reversed(children))
    return out


def _int_literal(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    return None


_OTHER = {ast.Add: ast.Sub, ast.Sub: ast.Add}


def _int_node(value: int) -> ast.expr:
    """An int literal as the parser writes it (``-1`` is ``-`` applied to ``1``)."""
    if value < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


def _shift(expr: ast.expr, delta: int) -> ast.expr:
    """``expr`` plus ``delta`` (±1), written the short way (``n + 1 - 1`` becomes ``n``)."""
    value = _int_literal(expr)
    if value is not None:
        return _int_node(value + delta)
    if isinstance(expr, ast.BinOp) and type(expr.op) in (ast.Add, ast.Sub):
        c = _int_literal(expr.right)
        if c is not None:
            c = c + delta if isinstance(expr.op, ast.Add) else c - delta
            if c == 0:
                return expr.left
            if c < 0:  # n + 0 - 1 is n - 1, not n + -1
                return ast.BinOp(expr.left, _OTHER[type(expr.op)](), ast.Constant(-c))
            return ast.BinOp(expr.left, type(expr.op)(), ast.Constant(c))
    op = ast.Add() if delta > 0 else ast.Sub()
    return ast.BinOp(expr, op, ast.Constant(abs(delta)))


def _short(node: ast.AST, limit: int = 40) -> str:
    try:
        text = " ".join(ast.unparse(node).split())
    except (ValueError, RecursionError):  # pragma: no cover - unparse of a parsed tree
        text = type(node).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sites(nodes: list) -> list[_Site]:
    """Every candidate change, in source order (deterministic)."""
    sites: list[_Site] = []

    def add(i: int, node: ast.AST, kind: str, arg: Any, operator: str) -> None:
        sites.append(_Site(i, kind, arg, operator, getattr(node, "lineno", 1)))

    for i, (node, _parent, _f, _j) in enumerate(nodes):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _AOR:
            add(i, node, "op", None, "arithmetic")
        elif isinstance(node, ast.BoolOp):
            add(i, node, "op", None, "boolean")
        elif isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.UAdd):
            if not (isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)):
                add(i, node, "unary", None, "unary-delete")
        elif isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                if type(op) in _ROR:
                    add(i, node, "cmpop", j, "comparison")
            for j, operand in enumerate([node.left, *node.comparators]):
                if _int_literal(operand) is not None:
                    add(i, node, "cmpconst", (j, -1), "off-by-one")
                    add(i, node, "cmpconst", (j, +1), "off-by-one")
        elif isinstance(node, (ast.If, ast.While)):
            add(i, node, "negate", None, "negate-condition")
            if isinstance(node, ast.If):
                if not (len(node.body) == 1 and isinstance(node.body[0], ast.Pass)):
                    add(i, node.body[0], "drop-body", None, "drop-branch")
                if node.orelse and not (
                    len(node.orelse) == 1 and isinstance(node.orelse[0], ast.Pass)
                ):
                    add(i, node.orelse[0], "drop-else", None, "drop-branch")
        elif isinstance(node, ast.Return):
            if node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None
            ):
                add(i, node, "return-none", None, "return-none")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id == "range":
                for j, a in enumerate(node.args[:3]):
                    if not isinstance(a, ast.Starred):
                        add(i, node, "range", (j, -1), "off-by-one")
                        add(i, node, "range", (j, +1), "off-by-one")
        elif isinstance(node, ast.Slice):
            for bound in ("lower", "upper"):
                if getattr(node, bound) is not None:
                    add(i, node, "slice", (bound, -1), "off-by-one")
                    add(i, node, "slice", (bound, +1), "off-by-one")
        elif isinstance(node, ast.Constant):
            v = node.value
            if type(v) is bool:
                add(i, node, "const", not v, "constant")
            elif type(v) is int:
                add(i, node, "const", {0: 1, 1: 0}.get(v, v + 1), "constant")
            elif type(v) is str:
                add(i, node, "const", "x" if v == "" else "", "constant")
    return sites


_Entry = tuple  # (node, parent, field, index) as made by _nodes


def _apply(entry: _Entry, site: _Site) -> tuple[Any, Any, tuple, str, Any]:
    """Apply ``site`` in place to the tree that ``entry`` belongs to.

    Returns the original node (or statement list) whose source text changes, what takes its
    place, the slot it sits in (parent, field), a description, and a function that undoes
    the change.
    """
    node, parent, fname, idx = entry
    if site.kind in ("op", "cmpop", "const"):
        attr, key = {"op": ("op", None), "cmpop": ("ops", site.arg), "const": ("value", None)}[
            site.kind
        ]
        old = getattr(node, attr) if key is None else node.ops[key]
        if site.kind == "op":
            new = ({ast.And: ast.Or, ast.Or: ast.And}.get(type(old)) or _AOR[type(old)])()
            eq = "=" if isinstance(node, ast.AugAssign) else ""
            what = f"{_SYMBOL[type(old)]}{eq} → {_SYMBOL[type(new)]}{eq}"
        elif site.kind == "cmpop":
            new = _ROR[type(old)]()
            what = f"{_SYMBOL[type(old)]} → {_SYMBOL[type(new)]}"
        else:
            new = site.arg
            what = f"{old!r} → {new!r}"

        def put(value: Any) -> None:
            if key is None:
                setattr(node, attr, value)
            else:
                node.ops[key] = value

        put(new)
        return node, node, (parent, fname), what, lambda: put(old)
    if site.kind in ("drop-body", "drop-else"):
        which = "body" if site.kind == "drop-body" else "orelse"
        stmts = getattr(node, which)
        setattr(node, which, [ast.Pass()])
        label = "body" if which == "body" else "else branch"
        what = f"{label} of the if at line {node.lineno} → pass"
        return stmts, None, (node, which), what, lambda: setattr(node, which, stmts)
    # the remaining kinds put a new expression in the place of an old one
    if site.kind == "unary":
        span, new = node, node.operand
        what = f"{_short(node)} → {_short(new)}"
    elif site.kind == "negate":
        span = node.test
        negated = isinstance(span, ast.UnaryOp) and isinstance(span.op, ast.Not)
        new = span.operand if negated else ast.UnaryOp(ast.Not(), span)
        word = "while" if isinstance(node, ast.While) else "if"
        what = f"{word} {_short(span)} → {word} {_short(new)}"
        parent, fname, idx = node, "test", None
    elif site.kind == "return-none":
        span, new = node.value, ast.Constant(None)
        what = f"return {_short(span)} → return None"
        parent, fname, idx = node, "value", None
    elif site.kind == "cmpconst":
        j, delta = site.arg
        fname, idx = ("left", None) if j == 0 else ("comparators", j - 1)
        parent, span = node, node.left if j == 0 else node.comparators[j - 1]
        value = _int_literal(span)
        new = _int_node(value + delta)
        what = f"{value} → {value + delta} in {_short(node)}"
    elif site.kind == "range":
        j, delta = site.arg
        span = node.args[j]
        new = _shift(span, delta)
        what = f"range argument {_short(span)} → {_short(new)}"
        parent, fname, idx = node, "args", j
    elif site.kind == "slice":
        bound, delta = site.arg
        span = getattr(node, bound)
        new = _shift(span, delta)
        what = f"slice {bound} bound {_short(span)} → {_short(new)}"
        parent, fname, idx = node, bound, None
    else:  # pragma: no cover - every kind made by _sites is handled above
        raise AssertionError(site.kind)

    def put(value: Any) -> None:
        if idx is None:
            setattr(parent, fname, value)
        else:
            getattr(parent, fname)[idx] = value

    put(new)
    return span, new, (parent, fname), what, lambda: put(span)


# How tightly an expression binds (Python's precedence, loosest first) and how tightly an
# expression must bind to sit unparenthesised in a slot of its parent.
_BINOP_STRENGTH = {
    ast.BitOr: 7, ast.BitXor: 8, ast.BitAnd: 9, ast.LShift: 10, ast.RShift: 10, ast.Add: 11,
    ast.Sub: 11, ast.Mult: 12, ast.MatMult: 12, ast.Div: 12, ast.FloorDiv: 12, ast.Mod: 12,
    ast.Pow: 14,
}  # fmt: skip
_ATOM = 16
_ANY = 2  # slots that take any expression but a bare walrus or yield
_FREE_SLOTS = {
    (ast.Call, "args"), (ast.keyword, "value"), (ast.Slice, "lower"), (ast.Slice, "upper"),
    (ast.Slice, "step"), (ast.Subscript, "slice"), (ast.If, "test"), (ast.While, "test"),
    (ast.Return, "value"), (ast.Assign, "value"), (ast.AugAssign, "value"),
    (ast.AnnAssign, "value"), (ast.Expr, "value"), (ast.Assert, "test"), (ast.Assert, "msg"),
    (ast.List, "elts"), (ast.Tuple, "elts"), (ast.Set, "elts"), (ast.Dict, "values"),
    (ast.Lambda, "body"), (ast.ListComp, "elt"), (ast.SetComp, "elt"),
    (ast.GeneratorExp, "elt"), (ast.DictComp, "value"),
}  # fmt: skip


def _strength(node: ast.AST) -> int:
    if isinstance(node, ast.BinOp):
        return _BINOP_STRENGTH[type(node.op)]
    if isinstance(node, ast.BoolOp):
        return 3 if isinstance(node.op, ast.Or) else 4
    if isinstance(node, ast.UnaryOp):
        return 5 if isinstance(node.op, ast.Not) else 13
    if isinstance(node, ast.Compare):
        return 6
    if isinstance(node, (ast.IfExp, ast.Lambda)):
        return 2
    if isinstance(node, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Starred, ast.Tuple)):
        return 1
    if isinstance(node, ast.Await):
        return 15
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, complex)):
        return 13 if str(node.value).startswith("-") else _ATOM
    return _ATOM


def _required(parent: ast.AST, fname: str | None) -> int:
    if isinstance(parent, ast.BinOp):
        s = _BINOP_STRENGTH[type(parent.op)]
        if isinstance(parent.op, ast.Pow):
            return 15 if fname == "left" else 13
        return s if fname == "left" else s + 1
    if isinstance(parent, ast.Compare):
        return 7
    if isinstance(parent, ast.BoolOp):
        return _strength(parent) + 1
    if isinstance(parent, ast.UnaryOp):
        return 5 if isinstance(parent.op, ast.Not) else 13
    if isinstance(parent, ast.IfExp):
        return _ANY if fname == "orelse" else 3
    if (type(parent), fname) in _FREE_SLOTS:
        return _ANY
    return _ATOM


def _byte_offsets(source: bytes) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _splice(data: bytes, starts: list[int], span: Any, new: Any, slot: tuple) -> str | None:
    """The original text with ``span``'s characters replaced by ``new`` (comments and layout
    elsewhere kept); parentheses only where the slot needs them."""
    if isinstance(span, list):  # a block of statements -> pass
        first, last = span[0], span[-1]
        text = "pass"
    else:
        first = last = span
        text = ast.unparse(new)
        if isinstance(new, ast.expr) and _strength(new) < _required(*slot):
            text = f"({text})"
    if getattr(first, "end_lineno", None) is None or getattr(last, "end_lineno", None) is None:
        return None
    a = starts[first.lineno - 1] + first.col_offset
    b = starts[last.end_lineno - 1] + last.end_col_offset
    if text == "pass" and data[a : a + 4] == b"elif":
        text = "else: pass"
    return (data[:a] + text.encode("utf-8") + data[b:]).decode("utf-8")


def _check_params(max_mutants: Any, random_state: Any, where: str) -> None:
    if isinstance(max_mutants, bool) or not isinstance(max_mutants, int) or max_mutants < 1:
        raise ConfigError(
            f"The 'max_mutants' parameter of {where} must be an integer >= 1; got {max_mutants!r}."
        )
    if isinstance(random_state, bool) or not isinstance(random_state, int) or random_state < 0:
        raise ConfigError(
            f"The 'random_state' parameter of {where} must be an integer >= 0; "
            f"got {random_state!r}."
        )


def _parse(source: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


def _compiles(source: str) -> bool:
    """Whether ``source`` compiles (call inside ``warnings.catch_warnings``)."""
    try:
        compile(source, "<mutant>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _materialize(solution: str, tree: ast.Module, nodes: list, site: _Site, cache: dict):
    """(source, description) of one mutant, or None when it cannot be written."""
    if "data" not in cache:
        cache["data"] = solution.encode("utf-8")
        cache["starts"] = _byte_offsets(cache["data"])
    span, new, slot, what, undo = _apply(nodes[site.node], site)
    try:
        text = _splice(cache["data"], cache["starts"], span, new, slot)
        if text is None or not _compiles(text):
            text = ast.unparse(tree)  # splicing failed: the whole tree, re-printed
    except (ValueError, RecursionError, MemoryError, TypeError, UnicodeDecodeError):
        return None
    finally:
        undo()
    return text, what


def _order(sites: list[_Site], random_state: int) -> list[int]:
    """Site indices in sampling order: per operator a seeded shuffle, then round-robin over
    the operators (in a seeded order), so any prefix is a stratified sample."""
    rng = np.random.default_rng(random_state)
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(sites):
        groups.setdefault(s.operator, []).append(k)
    queues = [[g[p] for p in rng.permutation(len(g))] for g in groups.values()]
    queues = [queues[p] for p in rng.permutation(len(queues))]
    longest = max(map(len, queues), default=0)
    return [q[r] for r in range(longest) for q in queues if r < len(q)]


def make_mutants(
    solution: str, *, max_mutants: int = DEFAULT_MAX_MUTANTS, random_state: int = 0
) -> list[Mutant]:
    """Mutants of ``solution``, each one small syntactic change (see the module docstring).

    Parameters
    ----------
    solution
        Python source of the reference solution.
    max_mutants
        At most this many mutants; when there are more candidate sites, a seeded sample
        stratified by operator is taken.
    random_state
        Seed of the sample: the same solution and seed give the same mutants.

    Returns
    -------
    list of Mutant
        In source order. Each compiles, differs from the original in one place (comments and
        layout elsewhere are kept) and from every other mutant. Empty when there is nothing
        to mutate.

    Raises
    ------
    ConfigError
        ``solution`` is not valid Python, or a parameter is out of range.

    Examples
    --------
    >>> for m in make_mutants("def f(x):\\n    return x < 3\\n"):
    ...     print(m.id, m.operator, m.description)
    m000 return-none line 2: return x < 3 → return None
    m001 comparison line 2: < → <=
    m002 off-by-one line 2: 3 → 2 in x < 3
    m004 constant line 2: 3 → 4
    """
    _check_params(max_mutants, random_state, "make_mutants")
    try:
        tree = _parse(solution)
        nodes = _nodes(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ConfigError(
            f"The 'solution' parameter of make_mutants must be valid Python; got {exc}."
        ) from None
    sites = _sites(nodes)
    seen = {solution}
    cache: dict = {}
    chosen: list[tuple[int, Mutant]] = []
    for k in _order(sites, random_state):
        if len(chosen) >= max_mutants:
            break
        site = sites[k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old code warns about escapes and "is" literals
            made = _materialize(solution, tree, nodes, site, cache)
        if made is None or made[0] in seen:
            continue
        text, what = made
        seen.add(text)
        mutant = Mutant(f"m{k:03d}", site.operator, site.line, f"line {site.line}: {what}", text)
        chosen.append((k, mutant))
    return [m for _, m in sorted(chosen, key=lambda c: c[0])]


# ============================================================================ scoring
# Scoring lives in infosynth_core.mutation_score, which imports this module; its names are
# looked up there on first use (PEP 562), so ``from infosynth_core.mutants import
# mutation_score`` keeps working without a circular import.
def __getattr__(name: str) -> Any:
    if not name.startswith("__"):
        scoring = importlib.import_module(".mutation_score", __package__)
        if hasattr(scoring, name):
            return getattr(scoring, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
