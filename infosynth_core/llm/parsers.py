"""Parsers for model answers to the prompts in :mod:`infosynth_core.llm.prompts`.

Real models rarely answer exactly in the requested format: they add chatter, use markdown
headers instead of tags, fence code as ```py or ```python3 or not at all, change the order of
sections, put JSON in a fence, think aloud in ``<think>`` blocks, or stop at ``max_tokens``.
These functions accept all of that and **never raise on model text**: a parse that cannot
succeed returns None, an empty result or a :class:`ParseFailure` with the reason, which the
caller stores and counts.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "LEVELS",
    "ParsedCode",
    "ParseFailure",
    "parse_variants",
    "parse_problem",
    "parse_solution_and_tests",
    "parse_topics",
    "parse_code",
    "infer_entry_point",
    "code_blocks",
]

#: mutation level -> words a model uses for it (first one is what the prompt asks for)
LEVELS = {
    "easy": ("easier", "easy", "simpler", "simple"),
    "medium": ("equal", "same", "medium", "similar", "comparable", "equivalent", "moderate"),
    "hard": ("harder", "hard", "difficult", "challenging", "advanced"),
}
_WORD_LEVEL = {w: level for level, words in LEVELS.items() for w in words}
_MIN_STATEMENT = 30
_PY_LANGS = {"", "python", "py", "python3", "py3", "pytest", "python2", "ipython", "pycon"}
_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class ParsedCode:
    """A usable solution and tests; ``notes`` lists the repairs the parser made."""

    solution: str
    tests: str
    entry_point: str | None
    notes: tuple[str, ...] = ()
    ok: ClassVar[bool] = True


@dataclass(frozen=True)
class ParseFailure:
    """Why an answer gave no usable solution and tests, with whatever part was found."""

    reason: str
    solution: str | None = None
    tests: str | None = None
    ok: ClassVar[bool] = False


# ---------------------------------------------------------------------------- text helpers
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.IGNORECASE | re.DOTALL)


def _clean(text: object) -> str:
    """Normalise newlines and drop reasoning blocks (``<think>…</think>``)."""
    if not isinstance(text, str):
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _THINK.sub("", text)
    low = text.lower()
    for close in ("</think>", "</thinking>", "</reasoning>"):
        if close in low:  # an opening tag the server already stripped
            text = text[low.rindex(close) + len(close) :]
            low = text.lower()
    if re.match(r"\s*<(think|thinking|reasoning)>", low):
        return ""  # cut off while still thinking
    return text


def _parse(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _syntax_error(code: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return type(exc).__name__
    return ""


@dataclass(frozen=True)
class Block:
    """A fenced code block: language tag, code, the text line just above it, whether its
    closing fence was there, and its span in the text's lines."""

    lang: str
    code: str
    label: str
    closed: bool
    start: int
    end: int


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n`]*$")


def code_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``; an unclosed fence runs to the end (truncated output),
    and a fence with a language tag inside an open block closes it and opens the next."""
    lines = _clean(text).split("\n")
    blocks: list[Block] = []
    i, last_end = 0, 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        char, size, lang = m.group(1)[0], len(m.group(1)), m.group(2).lower()
        label = ""
        for k in range(i - 1, max(last_end, i - 4) - 1, -1):
            if lines[k].strip():
                label = lines[k].strip()
                break
        j, closed, reopen = i + 1, False, False
        while j < len(lines):
            inner = _FENCE.match(lines[j])
            if inner and inner.group(1)[0] == char and len(inner.group(1)) >= size:
                closed, reopen = True, bool(inner.group(2))
                break
            j += 1
        code = textwrap.dedent("\n".join(lines[i + 1 : j])).strip("\n")
        blocks.append(Block(lang, code, label, closed, i, j))
        last_end = j + 1
        i = j if reopen else j + 1
    return blocks


def _is_python(block: Block) -> bool:
    return block.lang in _PY_LANGS


_CHATTER_HEAD = re.compile(
    r"^\s*(sure|certainly|of course|okay|ok|here(?:'s| is| are)|below (?:is|are)|absolutely|"
    r"great)\b.*:\s*$",
    re.IGNORECASE,
)
_CHATTER_TAIL = re.compile(
    r"^\s*(let me know|i hope|hope this|feel free|these (?:three )?(?:variants|exercises|"
    r"problems)|this (?:new )?(?:exercise|problem) (?:combines|merges))\b",
    re.IGNORECASE,
)


def _tidy_statement(text: str) -> str:
    """Strip wrapping fences, separators and chatter lines around a statement."""
    text = text.strip()
    m = re.fullmatch(r"(`{3,}|~{3,})[\w-]*\n(.*?)(?:\n\1)?\s*", text, re.DOTALL)
    if m and m.group(2).strip():
        text = m.group(2).strip()
    lines = text.split("\n")
    while lines and (not lines[0].strip() or _CHATTER_HEAD.match(lines[0])):
        lines.pop(0)
    while lines and (
        not lines[-1].strip()
        or re.fullmatch(r"\s*([-*_=]{3,}|`{3,})\s*", lines[-1])
        or _CHATTER_TAIL.match(lines[-1])
    ):
        lines.pop()
    while lines and re.fullmatch(r"\s*([-*_=]{3,})\s*", lines[0]):
        lines.pop(0)
    return "\n".join(lines).strip()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _usable_statement(text: str) -> str | None:
    # Control characters (ANSI escapes, NUL) are never part of a statement (Problem refuses
    # them): drop them rather than lose the candidate.
    text = _tidy_statement(_CONTROL.sub("", text))
    if len(text) < _MIN_STATEMENT or len(text.split()) < 5:
        return None
    return text


# ---------------------------------------------------------------------------- statements
def _tag_sections(text: str, names: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(key, content, closed) for each ``<name>`` tag; content runs to the matching close
    tag, else to the next opening tag of ours, else to the end."""
    alts = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    opening = re.compile(rf"<\s*({alts})(?:\s[^>]*)?>", re.IGNORECASE)
    opens = list(opening.finditer(text))
    out = []
    for n, m in enumerate(opens):
        name = m.group(1).lower()
        stop = opens[n + 1].start() if n + 1 < len(opens) else len(text)
        close = re.compile(rf"<\s*/\s*{re.escape(name)}\s*>", re.IGNORECASE)
        c = close.search(text, m.end(), stop)
        content = text[m.end() : c.start() if c else stop]
        out.append((names[name], content, c is not None))
    return out


_FILLER = {
    "variant", "variants", "version", "problem", "exercise", "statement", "task", "the",
    "level", "difficulty", "one", "more", "new", "an", "a", "of", "question", "challenge",
}  # fmt: skip


_INLINE_HEAD = re.compile(
    r"^[\s#>*_\d.)(\[\]-]*(?:(?:variant|version|problem|exercise)\s*\d*\s*[:.)\-–—]?\s*)?"
    r"\(?\**\s*(easier|easy|simpler|equal|same|similar|medium|harder|hard)\b"
    r"([^:\n]{0,40}?)\)?\**\s*[:\-–—]\s*\**\s*([^\s*].*)$",
    re.IGNORECASE,
)


def _header_level(line: str) -> tuple[str, str] | None:
    """(level, rest) when ``line`` is a section header such as ``### EASIER``,
    ``**Harder variant:**``, ``2. Equal difficulty`` or ``EASIER: Write a function…``."""
    stripped = line.strip()
    m = _INLINE_HEAD.match(stripped) if len(stripped) < 2000 else None
    if m and all(w in _FILLER for w in re.findall(r"[a-z]+", m.group(2).lower())):
        return _WORD_LEVEL[m.group(1).lower()], m.group(3).strip()
    if not stripped or len(stripped) > 70:
        return None
    words = [w for w in re.findall(r"[a-z]+", stripped.lower()) if w not in _FILLER]
    if len(words) == 1 and words[0] in _WORD_LEVEL:
        return _WORD_LEVEL[words[0]], ""
    return None


def _json_objects(text: str, limit: int = 40) -> Iterable[object]:
    """JSON values found in ``text`` (inside fences or followed by other text)."""
    decoder = json.JSONDecoder()
    tries = 0
    for m in re.finditer(r"[\[{]", text):
        tries += 1
        if tries > limit:
            return
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        yield value


def parse_variants(text: str, *, truncated: bool = False) -> dict[str, str]:
    """The easier / equal / harder statements of a mutation answer, as
    ``{"easy": …, "medium": …, "hard": …}`` (levels missing or unusable are absent).

    Reads ``<easier>`` tags, else header lines (``### EASIER``, ``**Harder variant**``,
    ``EQUAL:`` …), else a JSON object with such keys. With ``truncated`` (the answer hit
    ``max_tokens``), a last section without its closing tag is dropped as cut off.
    """
    text = _clean(text)
    tag_names = {w: level for w, level in _WORD_LEVEL.items() if " " not in w}
    sections = _tag_sections(text, tag_names)
    if not sections:
        sections = _header_sections(text)
    if not sections:
        for value in _json_objects(text):
            if isinstance(value, dict):
                for key, val in value.items():
                    level = _WORD_LEVEL.get(str(key).strip().lower())
                    if level and isinstance(val, str):
                        sections.append((level, val, True))
                if sections:
                    break
    out: dict[str, str] = {}
    for n, (level, content, closed) in enumerate(sections):
        if truncated and not closed and n == len(sections) - 1:
            continue
        statement = _usable_statement(content)
        if statement and level not in out:
            out[level] = statement
    return out


def _header_sections(text: str) -> list[tuple[str, str, bool]]:
    lines = text.split("\n")
    heads = []
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            continue
        found = _header_level(line)
        if found:
            heads.append((i, *found))
    out = []
    for n, (i, level, rest) in enumerate(heads):
        stop = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        body = "\n".join([rest, *lines[i + 1 : stop]])
        out.append((level, body, n + 1 < len(heads)))
    return out


def parse_problem(text: str, *, truncated: bool = False) -> str | None:
    """The statement of a crossover or rephrase answer: the ``<problem>`` (or
    ``<statement>``) section, else the text after a PROBLEM header, else the whole answer
    without chatter; None when nothing usable is left (or, with ``truncated``, the section
    was cut off before its closing tag)."""
    text = _clean(text)
    sections = _tag_sections(
        text, {"problem": "p", "statement": "p", "new_problem": "p", "exercise": "p"}
    )
    for _, content, closed in sections:
        if truncated and not closed:
            return None
        statement = _usable_statement(content)
        if statement:
            return statement
    if sections:
        return None
    m = re.search(
        r"^[#*\s]*(?:new\s+)?(?:problem|exercise|statement)(?:\s+statement)?[*\s]*:?[*\s]*$",
        text,
        re.IGNORECASE | re.MULTILINE,
    )
    if m:
        text = text[m.end() :]
    if truncated:
        return None
    return _usable_statement(text)


# ---------------------------------------------------------------------------- code
def _defines(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level names a module defines (functions, classes, assignments)."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def _is_test_node(node: ast.AST) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name.startswith("test")
    return isinstance(node, ast.ClassDef) and node.name.startswith("Test")


def _imports_solution(tree: ast.Module) -> list[str] | None:
    """Names imported from module ``solution`` (``["*"]`` for ``import solution``), None
    when the module does not import it."""
    names: list[str] | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "solution":
            names = (names or []) + [a.name for a in node.names]
        elif isinstance(node, ast.Import) and any(a.name == "solution" for a in node.names):
            names = (names or []) + ["*"]
    return names


def _tests_with_asserts(tree: ast.Module) -> list[str]:
    out = []
    for node in tree.body:
        funcs = [node] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            funcs = [f for f in node.body if isinstance(f, ast.FunctionDef)]
        for f in funcs:
            if f.name.startswith("test") and any(isinstance(n, ast.Assert) for n in ast.walk(f)):
                out.append(f.name)
    return out


def _resolve(name: str, tree: ast.Module) -> str | None:
    """``name`` as an entry point of ``tree``: itself when top level, ``Cls().name`` when a
    method of a top-level class."""
    defs = _defines(tree)
    if name in defs:
        return name
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == name
            for f in node.body
        ):
            return f"{node.name}().{name}"
    return None


_SIGNATURE = re.compile(r"\bdef\s+([A-Za-z_]\w*)\s*\(")
_BACKTICKED = re.compile(r"`([A-Za-z_]\w*)\s*\(")
_NAMED = re.compile(r"\b(?:function|method)\s+(?:named|called)\s+`?([A-Za-z_]\w*)`?", re.I)


def _statement_names(statement: str) -> list[str]:
    found: dict[str, None] = {}
    for rx in (_SIGNATURE, _BACKTICKED, _NAMED):
        for m in rx.finditer(statement):
            name = m.group(1)
            if name not in _BUILTINS and not name.startswith("test") and name != "self":
                found.setdefault(name, None)
    return list(found)


def infer_entry_point(
    statement: str | None = None, tests: str | None = None, solution: str | None = None
) -> str | None:
    """The function a problem is about, as an entry point (``Cls().method`` for a method).

    The statement decides when it names functions: the first ``def f(`` signature the
    solution defines, else the first name it mentions (`` `f(``, "function named f") that
    the solution defines, else that first name (so that a solution lacking it is caught).
    A statement naming nothing defers to the first name the tests import from ``solution``
    that the solution defines, else the solution's only public function. Without a solution:
    the statement's first name, else the tests' first import.
    """
    tree = _parse(solution) if solution else None
    text = _clean(statement) if statement else ""
    signatures = [n for n in _SIGNATURE.findall(text) if n not in _BUILTINS]
    names = _statement_names(text)
    imported = []
    test_tree = _parse(tests) if tests else None
    if test_tree is not None:
        imported = [n for n in _imports_solution(test_tree) or [] if n != "*"]
    if tree is None:
        return (names or imported or [None])[0]
    # names in the statement are binding (signatures first); the tests' imports are hints
    for name in signatures or names or imported:
        resolved = _resolve(name, tree)
        if resolved:
            return resolved
    if names:
        return names[0]  # the statement asks for it; the solution lacks it
    public = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")
    ]
    return public[0] if len(public) == 1 else None


def _block_kind(tree: ast.Module) -> str:
    """tests | solution | mixed (needs splitting) | other."""
    test_funcs = any(_is_test_node(n) for n in tree.body)
    asserts = any(isinstance(n, ast.Assert) for n in tree.body)
    defs = [n for n in _defines(tree) if not n.startswith("test") and not n.startswith("Test")]
    imports = _imports_solution(tree) is not None
    if test_funcs and not asserts and (imports or not defs):
        return "tests"
    if test_funcs or asserts:
        return "mixed"
    return "solution" if defs else "other"


def _split_mixed(code: str, tree: ast.Module) -> tuple[str, str]:
    """A module holding both solution and tests, split into the two; top-level asserts
    become the body of a test function."""
    lines = code.split("\n")
    sol, tst, shared, test_imports, asserts = [], [], [], [], []
    for node in tree.body:
        decorators = getattr(node, "decorator_list", None)
        first = decorators[0].lineno if decorators else node.lineno
        seg = "\n".join(lines[first - 1 : node.end_lineno])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            from_solution = isinstance(node, ast.ImportFrom) and node.module == "solution"
            (test_imports if from_solution or "pytest" in seg else shared).append(seg)
        elif _is_test_node(node):
            tst.append(seg)
        elif isinstance(node, ast.Assert):
            asserts.append(textwrap.indent(textwrap.dedent(seg), "    "))
        elif not (isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)):
            sol.append(seg)
    if asserts:
        tst.append("def test_given_asserts():\n" + "\n".join(asserts))
    solution = "\n".join(shared + [""] + sol).strip() + "\n"
    public = sorted(n for n in _defines(_parse(solution) or ast.Module([], [])) if n[0] != "_")
    head = shared + test_imports
    head += [f"from solution import {', '.join(public)}"] if public else []
    tests = "\n\n\n".join(["\n".join(head), *tst]).strip() + "\n"
    return solution, tests


_LOOKS_LIKE_CODE = re.compile(r"^\s*(def|class|import|from|return|assert|@)\b", re.MULTILINE)


def _sections_without_fences(text: str) -> list[tuple[str, str]]:
    """("solution"|"tests", body) for header-delimited sections of unfenced code."""
    heads = []
    for m in re.finditer(
        r"^[#*\s]*(solution|tests?|unit tests|pytest tests|solution\.py|test_solution\.py)"
        r"[*\s]*:?[*\s]*$",
        text,
        re.IGNORECASE | re.MULTILINE,
    ):
        heads.append((m.start(), m.end(), "tests" if "test" in m.group(1).lower() else "solution"))
    out = []
    for n, (_, end, kind) in enumerate(heads):
        stop = heads[n + 1][0] if n + 1 < len(heads) else len(text)
        out.append((kind, text[end:stop].strip("\n")))
    return out


def parse_solution_and_tests(
    text: str, *, entry_point: str | None = None, statement: str | None = None
) -> ParsedCode | ParseFailure:
    """The solution and tests of a solve/feedback answer, checked.

    Finds the two python blocks (by the header above each and by content, in any order;
    unfenced code under ``SOLUTION``/``TESTS`` headers; one block holding both is split).
    Checks that both parse, that the tests have at least one ``test_*`` function with an
    ``assert``, and that the solution defines the entry point (``entry_point``, else
    inferred from ``statement``, the tests' imports or the solution). Tests that do not
    import from ``solution`` get the import added (recorded in ``notes``).
    """
    text = _clean(text)
    notes: list[str] = []
    solution = tests = None
    candidates: list[tuple[str, str]] = []  # (kind, code)
    blocks = [b for b in code_blocks(text) if _is_python(b) and b.code.strip()]
    for b in blocks:
        tree = _parse(b.code)
        if tree is not None:
            candidates.append((_block_kind(tree), b.code))
        elif _LOOKS_LIKE_CODE.search(b.code):  # broken code: reported, unless a valid one exists
            test_like = re.search(r"tests?\b|pytest", b.label.lower()) or "def test" in b.code
            candidates.append(("broken-tests" if test_like else "broken-solution", b.code))
    if not blocks:
        candidates = [
            (kind if _parse(code) is not None else f"broken-{kind}", code)
            for kind, code in _sections_without_fences(text)
        ]
        if not candidates and _parse(text.strip()) is not None:
            candidates = [("mixed", text.strip())]
    for wanted in ("solution", "tests"):
        found = [code for kind, code in candidates if kind == wanted]
        found = found or [code for kind, code in candidates if kind == f"broken-{wanted}"]
        if wanted == "solution":
            solution = found[-1] if found else None
        else:
            tests = found[-1] if found else None
    if solution is None or tests is None:
        for kind, code in reversed(candidates):
            tree = _parse(code)
            if kind == "mixed" and tree is not None:
                sol, tst = _split_mixed(code, tree)
                solution = solution if solution is not None else sol
                tests = tests if tests is not None else tst
                notes.append("split one code block into solution and tests")
                break
    if solution is None and tests is None:
        return ParseFailure("no python code blocks for the solution and the tests were found")
    if solution is None:
        return ParseFailure("no solution code block was found", tests=tests)
    if tests is None:
        return ParseFailure("no tests code block was found", solution=solution)
    sol_tree, test_tree = _parse(solution), _parse(tests)
    if sol_tree is None:
        why = _syntax_error(solution)
        return ParseFailure(f"the solution is not valid Python: {why}", solution, tests)
    if test_tree is None:
        why = _syntax_error(tests)
        return ParseFailure(f"the tests are not valid Python: {why}", solution, tests)
    if not _tests_with_asserts(test_tree):
        return ParseFailure(
            "the tests have no test_* function with an assert statement", solution, tests
        )
    entry = entry_point or infer_entry_point(statement, tests, solution)
    if entry is None and _imports_solution(test_tree) is None:
        tests = f"from solution import *\n\n{tests}"
        notes.append("added 'from solution import *' to the tests")
    if entry:
        top = entry.split("(")[0].split(".")[0]
        method = entry.partition("().")[2]
        node = _defines(sol_tree).get(top)
        if node is None or (
            method
            and not any(getattr(f, "name", None) == method for f in getattr(node, "body", []))
        ):
            return ParseFailure(f"the solution does not define `{entry}`", solution, tests)
        if _imports_solution(test_tree) is None:
            tests = f"from solution import {top}\n\n{tests}"
            notes.append(f"added 'from solution import {top}' to the tests")
    return ParsedCode(solution.rstrip() + "\n", tests.rstrip() + "\n", entry, tuple(notes))


def parse_code(text: str, *, entry_point: str | None = None) -> str | None:
    """The code of an evaluation answer: the last python block that parses and defines the
    entry point (else the longest one that defines something); without fences, the answer
    itself or its longest code-looking stretch that parses. None when there is none."""
    text = _clean(text)
    top = entry_point.split("(")[0].split(".")[0] if entry_point else None
    usable = []
    for b in code_blocks(text):
        if not _is_python(b):
            continue
        tree = _parse(b.code)
        if tree is not None and _defines(tree):
            usable.append((b.code, tree))
    if top:
        with_entry = [code for code, tree in usable if top in _defines(tree)]
        if with_entry:
            return with_entry[-1].strip() + "\n"
    if usable:
        return max(usable, key=lambda u: len(u[0]))[0].strip() + "\n"
    if code_blocks(text):
        return None
    lines = text.strip().split("\n")
    starts = [
        i for i, line in enumerate(lines) if re.match(r"(def|class|import|from|@)\s*\w", line)
    ]
    if not starts:
        return None
    for end in range(len(lines), starts[0], -1):
        code = "\n".join(lines[starts[0] : end]).strip()
        tree = _parse(code)
        if tree is not None and _defines(tree) and (not top or top in _defines(tree)):
            return code + "\n"
        if len(lines) - end > 60:
            break
    return None


# ---------------------------------------------------------------------------- topics
_ALIASES = {
    "dp": "Dynamic Programming",
    "bfs": "Breadth-First Search",
    "dfs": "Depth-First Search",
    "heap": "Heap (Priority Queue)",
    "priority queue": "Heap (Priority Queue)",
    "hashmap": "Hash Table",
    "hash map": "Hash Table",
    "hashing": "Hash Table",
    "dictionary": "Hash Table",
    "strings": "String",
    "arrays": "Array",
    "two pointer": "Two Pointers",
    "binary tree": "Binary Tree",
    "mathematics": "Math",
    "sort": "Sorting",
    "bit manipulation": "Bit Manipulation",
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().strip("'\"`*.").lower()).strip()


def parse_topics(text: str, bank: Sequence[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` topic names of ``bank`` from a tag answer, in the model's order.

    Reads a JSON object (``{"topics": [...]}``) or list, also inside a fence or followed by
    other text; else comma/line separated names; else bank names mentioned in the text.
    Matching ignores case, spaces/hyphens/underscores and a plural "s"; a few common aliases
    (DP, BFS, heap …) are understood; names not in the bank are dropped."""
    text = _clean(text)
    index = {_norm(n): n for n in bank}
    for alias, target in _ALIASES.items():
        if target in bank:
            index.setdefault(alias, target)

    def match(item: object) -> str | None:
        if not isinstance(item, str):
            return None
        key = _norm(item)
        return index.get(key) or (index.get(key[:-1]) if key.endswith("s") else None)

    items: list[object] | None = None
    for value in _json_objects(text):
        if isinstance(value, dict):
            lists = [v for k, v in value.items() if str(k).lower() in ("topics", "tags")]
            lists = lists or [v for v in value.values() if isinstance(v, list)]
            if lists and isinstance(lists[0], list):
                items = list(lists[0])
                break
            if lists and isinstance(lists[0], str):
                items = re.split(r"[,;]", lists[0])
                break
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            items = value
            break
    from_json = items is not None
    if items is None:
        items = [
            re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", part)
            for part in re.split(r"[,;\n]", text)
            if part.strip()
        ]
    out: list[str] = []
    for item in items:
        name = match(item)
        if name and name not in out:
            out.append(name)
    if not out and not from_json:
        hits = []
        for n in bank:
            m = re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text, re.IGNORECASE)
            if m:
                hits.append((m.start(), -len(n), n))
        for _, _, n in sorted(hits):
            if not any(n.lower() in o.lower() for o in out):
                out.append(n)
    return out[:limit]
