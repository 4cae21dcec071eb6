"""Statements for the offline engine, composed from short descriptions of their parts.

A generated problem is described afresh from what it is made of, never from its parents'
statements: each seed carries a one-line **setting** and a noun-phrase **summary** of what it
computes (``metadata`` of the bundled seeds; a heuristic reading of the first sentence for
imported ones), each transform, guarantee, encoding and crossover operator in ``compose`` a
phrase, and this module strings them together with a small grammar whose paraphrase variants
are chosen by a seeded ``random.Random``.

A **description** is a JSON-native dict, stored in the offline payload's recipe so that
mutations of generated problems describe the edited recipe, not the parent's text:

``settings``  scene sentences ("A weather station records one temperature per day.")
``lets``      named intermediate values, ``[[name, noun phrase], ...]`` in order
``answer``    the noun phrase of the result ("the indices of the days of $temps that ...")
``rules``     sentences that pin down definitions and edge cases
``promises``  guarantees on the inputs, stated with the constraints
``glosses``   ``{parameter: noun phrase}`` ("the daily temperatures")

Texts name parameters and intermediate values as ``$name``: renaming a parameter, feeding one
problem's answer into another's parameter or fixing a parameter to a literal is a substitution
of these references, and :func:`render` finally writes them as plain names.
"""

from __future__ import annotations

import ast
import inspect
import json
import random
import re
from collections.abc import Sequence
from typing import Any

from .compose import Binop, Encoding, Guarantee, Transform, snake_words
from .harvest import Signature, is_known, parse_source, split_type

__all__ = [  # for the offline engine; not part of the package's public API
    "seed_desc", "heuristic_desc", "rename", "fresh", "with_post", "chained", "combined",
    "lifted", "fixed", "guaranteed", "encoded", "constraints", "example", "render", "plain",
    "head_text", "statement_rng", "NEST_LIMIT",
]  # fmt: skip

NEST_LIMIT = 120  # longest noun phrase (characters) that another phrase may wrap
_REF = re.compile(r"\$([A-Za-z_]\w*)")
_LETTERS = "xyzuvwpqrst"
MAX_FIRST_WORDS = 30  # at most this much of an imported statement is reused


# ---------------------------------------------------------------------------- references
def plain(text: str, values: dict[str, str] | None = None) -> str:
    """``text`` with every ``$name`` written as ``name`` (or as ``values[name]``)."""
    values = values or {}
    return _REF.sub(lambda m: values.get(m.group(1), m.group(1)), text)


def _subst(text: str, mapping: dict[str, str]) -> str:
    return _REF.sub(lambda m: mapping.get(m.group(1), m.group(0)), text)


def rename(desc: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """A copy of ``desc`` in which ``$old`` reads ``mapping[old]`` (``"$new"`` renames,
    anything else replaces the reference by that text)."""
    out = json.loads(json.dumps(desc))
    out["lets"] = [[mapping.get(n, "$" + n)[1:], _subst(t, mapping)] for n, t in out["lets"]]
    out["answer"] = _subst(out["answer"], mapping)
    out["rules"] = [_subst(r, mapping) for r in out["rules"]]
    out["promises"] = [_subst(r, mapping) for r in out["promises"]]
    out["glosses"] = {
        mapping[k][1:] if mapping.get(k, "").startswith("$") else k: v
        for k, v in out["glosses"].items()
        if k not in mapping or mapping[k].startswith("$")
    }
    return out


def fresh(base: str, taken: set[str]) -> str:
    """``base`` or a variant of it that is not in ``taken`` (and a valid identifier)."""
    base = base if base.isidentifier() else "x"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def _letter(taken: set[str]) -> str:
    return next((c for c in _LETTERS if c not in taken), fresh("value", taken))


def _loose(phrase: str) -> bool:
    """A phrase that reads as a clause ("for each query of queries, the number ..."): it can
    follow "returns," or "be," but cannot stand inside another noun phrase."""
    return phrase.startswith(("for each ", "for every "))


def _np(phrase: str) -> str:
    """``phrase`` after a verb: "returns the sum" / "returns, for each query, the sum"."""
    return f", {phrase}" if _loose(phrase) else f" {phrase}"


def _syms(desc: dict[str, Any]) -> set[str]:
    return {n for n, _ in desc["lets"]}


def _desc(settings=(), lets=(), answer="", rules=(), promises=(), glosses=None) -> dict:
    return {
        "settings": [s for s in settings if s],
        "lets": [list(x) for x in lets],
        "answer": answer,
        "rules": [r for r in rules if r],
        "promises": [p for p in promises if p],
        "glosses": dict(glosses or {}),
    }


def _wrap(phrase: str, inner: str, desc: dict, taken: set[str], key: str = "{v}") -> str:
    """``phrase`` around the noun phrase ``inner``, or around a new name for it (added to
    ``desc["lets"]``) when the result would be too long to read or ``inner`` is a phrase
    such as "for each query, ..." that does not nest."""
    tail = phrase.split(key, 1)[-1].strip(" .")
    ambiguous = tail and "," in inner  # "the max of the A of x, in order in one list"
    if len(plain(inner)) + len(phrase) > NEST_LIMIT + len(key) or _loose(inner) or ambiguous:
        name = _letter(taken | _syms(desc))
        desc["lets"].append([name, inner])
        inner = "$" + name
    return phrase.replace(key, inner)


# ---------------------------------------------------------------------------- parts
def seed_desc(statement: str, metadata: dict[str, Any], sig: Signature) -> dict[str, Any]:
    """A problem's own description: the ``summary``/``setting``/``rules``/``params`` of its
    metadata (the bundled seeds), else :func:`heuristic_desc` of its statement."""
    summary, setting = metadata.get("summary"), metadata.get("setting")
    if isinstance(summary, str) and summary.strip():
        rules = metadata.get("rules")
        params = metadata.get("params") if isinstance(metadata.get("params"), dict) else {}
        return _desc(
            [setting] if isinstance(setting, str) else [],
            answer=summary.strip(),
            rules=[rules] if isinstance(rules, str) else [],
            glosses={k: v for k, v in params.items() if k in sig.params and isinstance(v, str)},
        )
    return heuristic_desc(statement, sig)


_LEAD = re.compile(
    r"(?i)^\s*(?:please\s+)?(?:write|create|implement|define|develop)\s+(?:an?\s+|the\s+)?"
    r"(?:python\s+|recursive\s+|lambda\s+)?(?:function|program|method|code)?\s*"
    r"(?:`?\w+`?\s*)?(?:\([^)]*\)\s*)?(?:to|that|which|for|in order to|so that)?\s+"
)
_STRIP_VERBS = {"find", "return", "returns", "get", "compute", "computes", "calculate", "determine",
                "identify", "obtain", "give", "output", "print", "gets", "finds"}  # fmt: skip
_ARTICLES = {"the", "a", "an", "whether", "all", "each", "every", "how", "which", "what", "any",
             "one", "two", "three", "its", "their", "this", "these", "those", "n", "k", "m"}  # fmt: skip


def _first_sentence(text: str) -> str:
    text = re.split(
        r"\n\s*\n|\n\s*(?:>>>|[Ee]xamples?\b|[Ff]or example\b)", text.strip(), maxsplit=1
    )[0]
    text = " ".join(text.split())
    m = re.search(r"(?<!\be\.g)(?<!\bi\.e)[.?!](?=\s|$)", text)
    sentence = text[: m.start()] if m else text
    words = sentence.split()
    return " ".join(words[:MAX_FIRST_WORDS]).rstrip(",;:")


def _docstring(statement: str, func: str) -> str | None:
    tree = parse_source(statement)
    if tree is None:
        return None
    fn = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == func), None
    )
    for node in fn.body[:3] if fn is not None else []:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, str):
                return inspect.cleandoc(node.value.value)
    return ""


def _gerund(verb: str) -> str:
    v = verb.lower()
    if v.endswith("s") and not v.endswith("ss") and len(v) > 3:
        v = v[:-2] if v.endswith(("ches", "shes", "xes", "sses")) else v[:-1]  # "sorts" -> "sort"
    if v.endswith("ie"):
        return v[:-2] + "ying"
    if v.endswith("e") and not v.endswith(("ee", "ye", "oe")) and len(v) > 2:
        return v[:-1] + "ing"
    if re.fullmatch(r"[a-z]{0,2}[^aeiou][aeiou][^aeiouwxy]", v):
        return v + v[-1] + "ing"
    return v + "ing"


def _noun_phrase(clause: str) -> str:
    """A clause read as a noun phrase: "find the largest element of a list" -> "the largest
    element of a list"; "count the vowels" -> "the number of vowels"; "check whether s is ..."
    -> "whether s is ..."; other verbs -> "the result of <verb>ing ..."."""
    clause = clause.strip().rstrip(".")
    if m := re.match(
        r"(?i)(?:takes|accepts|receives|gets)\b.*?\band\s+(?:returns?|outputs?)\s+(.+)", clause
    ):
        clause = "find " + m.group(1)  # "takes a list and returns the sum of ..."
    words = clause.split()
    if not words:
        return ""
    verb, rest = words[0].lower(), " ".join(words[1:])
    if verb in ("check", "checks", "test", "tests", "verify", "determine") and re.match(
        r"(?i)(whether|if)\b", rest
    ):
        return "whether" + rest[rest.index(" ") :] if " " in rest else "whether it holds"
    if verb in ("check", "checks", "verify"):
        return f"whether {rest}"
    if verb in ("count", "counts"):
        rest = re.sub(r"(?i)^(the\s+)?((number|count)\s+of\s+)?", "", rest)
        return f"the number of {rest}"
    if verb in _STRIP_VERBS and rest:
        if re.match(r"(?i)(true|false)\s+if\b", rest):
            return "whether " + rest.split(None, 2)[2] if len(rest.split()) > 2 else rest
        if re.match(r"(?i)(if)\b", rest):
            return "whether " + rest[3:]
        first = rest.split()[0].lower()
        return rest if first in _ARTICLES or first[:1].isdigit() else f"the {rest}"
    if verb in ("given", "you") or not verb.isalpha():
        return ""
    return f"the result of {_gerund(verb)} {rest}".rstrip()


def heuristic_desc(statement: str, sig: Signature) -> dict[str, Any]:
    """A description read from one sentence of an imported statement (MBPP "Write a function
    to ...", a HumanEval docstring's first line, LeetCode's "Given ..., return ..."): never
    more than that sentence, and at most ``MAX_FIRST_WORDS`` words of it."""
    doc = _docstring(statement, sig.func)
    sentence = _first_sentence(doc if doc is not None else statement)
    setting, answer = "", ""
    if m := re.match(r"(?i)^given\s+(.+?),\s*(?:return|find|compute|determine)\s+(.+)$", sentence):
        answer = _noun_phrase("find " + m.group(2))
    elif re.match(r"(?i)^(given|you are given|there is|there are|consider)\b", sentence):
        setting = sentence + "."
    else:
        clause = _LEAD.sub("", sentence, count=1) if _LEAD.match(sentence) else sentence
        answer = _noun_phrase(clause)
    if not answer:
        words = " ".join(snake_words(sig.func)) or "the function"
        answer = f"the {words} of " + " and ".join("$" + p for p in sig.params)
    for p in sig.params:  # link the parameters the sentence names
        if len(p) >= 3 or "_" in p:
            answer = re.sub(rf"(?<![\w$]){re.escape(p)}(?!\w)", "$" + p, answer)
    return _desc([setting] if setting else [], answer=answer)


# ---------------------------------------------------------------------------- composition
def with_post(desc: dict[str, Any], tr: Transform, taken: set[str]) -> dict[str, Any]:
    """``desc`` followed by the transform ``tr`` of its answer."""
    out = json.loads(json.dumps(desc))
    out["answer"] = _wrap(tr.phrase, out["answer"], out, taken)
    out["rules"].append(tr.detail)
    out["rules"] = [r for r in out["rules"] if r]
    return out


def chained(
    a: dict[str, Any], b: dict[str, Any], fed: str, adapter: Transform | None, taken: set[str]
) -> dict[str, Any]:
    """B's description where its parameter ``$fed`` is A's answer (through ``adapter``).

    ``b`` must already use the new function's parameter names; ``fed`` is B's parameter that
    becomes an intermediate value, named after it when that name is free."""
    b = _apart(b, a, taken)
    sym = fresh(fed, taken | _syms(a) | _syms(b))
    b = rename(b, {fed: "$" + sym})
    out = _desc(_settings(a, b), a["lets"], rules=a["rules"] + b["rules"])
    value = a["answer"]
    if adapter is not None:
        value = _wrap(adapter.phrase, value, out, taken | {sym} | _syms(b))
        out["rules"].append(adapter.detail)
    out["lets"] += [[sym, value], *b["lets"]]
    out["answer"] = b["answer"]
    out["promises"] = a["promises"] + [p for p in b["promises"] if "$" + sym not in p]
    out["glosses"] = {**b["glosses"], **a["glosses"]}
    out["rules"] = _unique(out["rules"])
    return out


def combined(a: dict[str, Any], b: dict[str, Any], op: Binop, taken: set[str]) -> dict[str, Any]:
    """The description of ``op`` applied to the answers of A and B."""
    b = _apart(b, a, taken)
    out = _desc(_settings(a, b), a["lets"] + b["lets"], rules=_unique(a["rules"] + b["rules"]))
    out["promises"] = _unique(a["promises"] + b["promises"])
    out["glosses"] = {**b["glosses"], **a["glosses"]}
    x, y = a["answer"], b["answer"]
    short = len(plain(x)) + len(plain(y)) + len(op.phrase) <= NEST_LIMIT + 6
    if not (op.nest and short) or _loose(x) or _loose(y):
        names = taken | _syms(out)
        sx = _letter(names)
        sy = _letter(names | {sx})
        out["lets"] += [[sx, x], [sy, y]]
        x, y = "$" + sx, "$" + sy
    out["answer"] = op.phrase.replace("{a}", x).replace("{b}", y)
    return out


def lifted(desc: dict[str, Any], param: str, many: str) -> dict[str, Any] | None:
    """The answer for every value of ``param`` in the list ``many``; None when the
    description needs intermediate values (they would be per element)."""
    if desc["lets"] or _loose(desc["answer"]):
        return None
    out = json.loads(json.dumps(desc))
    out["answer"] = f"the list holding, for each ${param} in ${many} in order, {desc['answer']}"
    gloss = out["glosses"].pop(param, None)
    out["glosses"][many] = f"several values of {gloss or param}"
    out["promises"] = [p for p in desc["promises"] if "$" + param not in p]
    return out


def fixed(desc: dict[str, Any], param: str, value: Any) -> dict[str, Any]:
    """``param`` replaced by the literal ``value`` everywhere."""
    text, ref = repr(value), "$" + param
    out = json.loads(json.dumps(desc))
    out["promises"] = [p for p in out["promises"] if ref not in p]
    out = rename(out, {param: text})
    texts = [desc["answer"], *desc["rules"], *(x for _, x in desc["lets"])]
    if not any(ref in x for x in texts):
        out["rules"].append(f"Here {param} is fixed to {text}.")  # the texts never named it
    return out


def guaranteed(desc: dict[str, Any], param: str, g: Guarantee) -> dict[str, Any]:
    out = json.loads(json.dumps(desc))
    out["promises"].append(g.phrase.replace("{p}", "$" + param))
    return out


def encoded(desc: dict[str, Any], param: str, e: Encoding) -> dict[str, Any]:
    out = json.loads(json.dumps(desc))
    out["rules"].insert(0, f"Here ${param} is given as {e.phrase}.")
    return out


def _apart(b: dict[str, Any], a: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    """``b`` with intermediate names that clash with A's (or the parameters) renamed."""
    used, mapping = set(taken) | _syms(a), {}
    for name in sorted(_syms(b)):
        if name in used:
            mapping[name] = "$" + fresh(name, used | _syms(b))
            used.add(mapping[name][1:])
    return rename(b, mapping) if mapping else b


def _settings(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """One short story for a combined problem: A's setting, or B's when A has none. Two
    unrelated stories in one statement read as two problems glued together (and made
    crossover statements 1.4x the seeds' length); the rules still say what every input is."""
    return (a["settings"] or b["settings"])[:1]


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(x for x in items if x))


# ---------------------------------------------------------------------------- constraints
def _nice(x: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= x (x >= 1)."""
    k = 1
    while True:
        for m in (1, 2, 5):
            if m * k >= x:
                return m * k
        k *= 10


def _number(x: int) -> str:
    """1000 as "1000", 200000 as "2 * 10^5"."""
    if x < 100_000:
        return str(x)
    k = len(str(x)) - 1
    m = x // 10**k
    return f"10^{k}" if m == 1 else f"{m} * 10^{k}"


def _range(name: str, values: list[int]) -> str:
    lo, hi = min(values), max(values)
    low = "0" if lo >= 0 else f"-{_number(_nice(-lo))}"
    if lo >= 1:
        low = "1"
    high = _number(_nice(hi)) if hi >= 1 else "0"
    return f"{low} <= {name} <= {high}"


def _ints(values: list[Any]) -> list[int]:
    return [v for v in values if type(v) is int]


def _grouped(limits: list[str]) -> list[str]:
    """``len(a) <= 20; len(b) <= 20`` as ``len(a), len(b) <= 20`` (first place kept)."""
    out: list[str] = []
    where: dict[str, int] = {}
    for c in limits:
        m = re.fullmatch(r"(len\(\w+\)) <= (.+)", c)
        if m and m.group(2) in where:
            i = where[m.group(2)]
            out[i] = out[i].replace(" <= ", f", {m.group(1)} <= ", 1)
            continue
        if m:
            where[m.group(2)] = len(out)
        out.append(c)
    return out


def constraints(
    params: Sequence[tuple[str, str]], inputs: Sequence[tuple], promises: Sequence[str]
) -> list[str]:
    """Bounds every input satisfies (rounded outwards to 1, 2, 5 x 10^k) and the promises."""
    out: list[str] = []
    capped = {m.group(1) for p in promises if (m := re.match(r"\$(\w+) has at most", p))}
    for i, (name, t) in enumerate(params):
        values = [a[i] for a in inputs if i < len(a)]
        head, args = split_type(t) if is_known(t) else ("", [])
        if head == "int" and (ints := _ints(values)):
            out.append(_range(name, ints))
        elif head in ("list", "str") and values and all(isinstance(v, (list, str)) for v in values):
            longest = max(map(len, values))
            if name not in capped:
                out.append(
                    f"len({name}) <= {_number(_nice(longest))}" if longest else f"{name} is empty"
                )
            if (
                head == "list"
                and args == ["int"]
                and (elems := _ints([x for v in values for x in v]))
            ):
                out.append(_range(f"{name}[i]", elems))
            elif head == "str":
                chars = {c for v in values for c in v}
                if chars and chars <= set("abcdefghijklmnopqrstuvwxyz"):
                    out.append(f"{name} has only lowercase letters")
                elif chars and chars <= set("0123456789"):
                    out.append(f"{name} has only digits")
    out = _unique(_grouped(out) + [plain(p) for p in promises])
    if len(out) > 4:  # many parameters: their lengths and scalars, not every element range
        out = [c for c in out if "[i] <=" not in c]
    return out


# ---------------------------------------------------------------------------- statement
def example(name: str, args: Sequence[Any], value: Any) -> str:
    return f"{name}({', '.join(repr(a) for a in args)}) returns {value!r}"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _core(desc: dict[str, Any], head: str, rng: random.Random) -> str:
    """The sentences that say what to write and what it returns."""
    answer, lets = plain(desc["answer"]), [(n, plain(t)) for n, t in desc["lets"]]
    glosses = desc["glosses"]
    if not lets:
        options = [  # never "<signature> that returns": the seeds' own wording
            f"Write {head}. It returns{_np(answer)}.",
            f"Implement {head}; it should return{_np(answer)}.",
            f"Write a function {head} whose result is{_np(answer)}.",
        ]
        names = re.findall(r"(\w+)(?::[^,()]*(?:\[[^\]]*\])?)?(?=[,)])", head.split("(", 1)[1])
        if names and len(names) <= 3 and all(n in glosses for n in names):
            given = [f"{n} ({plain(glosses[n])})" for n in names]
            listed = given[0] if len(given) == 1 else ", ".join(given[:-1]) + " and " + given[-1]
            options.append(f"Given {listed}, return{_np(answer)}. Implement it as {head}.")
        return rng.choice(options)
    wordy = any(" where " in f" {x} " for x in [answer, *(t for _, t in lets)])
    style = rng.randrange(3 if len(lets) == 1 and not wordy else 2)
    if style == 2:  # "..., where x is ..."
        ((n, t),) = lets
        return f"Write {head}. It returns{_np(answer)}, where {n} is{_np(t)}."
    if style == 1:
        steps = [f"First let {lets[0][0]} be{_np(lets[0][1])}."]
        steps += [f"Next let {n} be{_np(t)}." for n, t in lets[1:]]
        return f"Implement {head} in steps. " + " ".join(steps) + f" Then return{_np(answer)}."
    steps = " ".join(f"Let {n} be{_np(t)}." for n, t in lets)
    return f"Write {head}. {steps} Return{_np(answer)}."


def render(
    desc: dict[str, Any],
    head: str,
    limits: Sequence[str],
    shown: str | None,
    rng: random.Random,
) -> str:
    """The statement: setting, what to write (``head`` is ``name(params) -> type``), the rules,
    then a ``Constraints:`` line and an ``Example:`` line."""
    first = " ".join(
        [*(_sentence(s) for s in desc["settings"][:1]), _core(desc, head, rng)]
        + [_sentence(plain(r)) for r in desc["rules"]]
    )
    lines = [first]
    if limits:
        lines.append("Constraints: " + "; ".join(limits) + ".")
    if shown:
        lines.append(f"Example: {shown}.")
    return "\n".join(lines)


def head_text(name: str, params: Sequence[tuple[str, str]], ret: str) -> str:
    signature = ", ".join(f"{n}: {t}" if is_known(t) else n for n, t in params)
    return f"{name}({signature})" + (f" -> {ret}" if is_known(ret) else "")


def statement_rng(*parts: Any) -> random.Random:
    """A generator seeded from ``parts`` (same parts, same paraphrase in every process)."""
    return random.Random("|".join(map(str, parts)))
