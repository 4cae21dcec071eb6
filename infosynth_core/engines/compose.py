"""Program composition for the offline engine: the catalog of typed transforms, input
guarantees and input encodings, and a module builder that merges solution modules into one.

A **transform** post-processes a problem's answer (``digit_sum``: int -> int, ``prefix_sums``:
list[int] -> list[int], ...). Each has a helper function (real source), a noun phrase for the
statement (``{v}`` stands for the value: a name or another noun phrase, so phrases chain as in
"the number of 1 bits in the binary form of the largest element of ..."), a sentence for the
edge cases it defines (written to stand on its own), topics from the bank and a difficulty
weight: 0 reduces or re-formats the answer (``REFORMATS`` only re-format it), 1 adds a simple
step, 2 adds an algorithm.
A **guarantee** restricts one input (sorted, non-negative, short, ...) and maps literal inputs
so that they satisfy it; an **encoding** passes one input in another form (a list of ints as a
comma-separated string, ...) with a decoder helper.

:class:`ModuleBuilder` merges modules the way a careful person would: imports hoisted and
de-duplicated, top-level definitions that two modules share verbatim kept once, clashing names
renamed apart by a scope-aware AST rename, unreachable definitions pruned.
"""

from __future__ import annotations

import ast
import copy
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .harvest import MISSING, parse_source, split_type

__all__ = [
    "Transform",
    "Guarantee",
    "Encoding",
    "CATALOG",
    "GUARANTEES",
    "ENCODINGS",
    "BINOPS",
    "TRANSFORMS",
    "REFORMATS",
    "matches",
    "result_type",
    "transforms_for",
    "ModuleBuilder",
    "snake_words",
    "function_name",
]


@dataclass(frozen=True)
class Transform:
    name: str  # also the helper function's name
    source: str  # input type; "list[*]" matches every list
    target: str  # result type; "*" is the element type of the input list
    weight: int
    topics: tuple[str, ...]
    phrase: str  # noun phrase for the result, {v} is the value
    detail: str  # edge cases, "" or "(...)"
    code: str  # def <name>(value: ...) -> ...: ...


# One transform per "@" line: name, input -> result type, weight, [topics], imports; then its
# statement phrase (" | " then its edge cases) and the indented body of its helper function.
_SPEC = r"""
@digit_sum int -> int w1 [Math]
the sum of the decimal digits of {v} | A digit sum ignores the sign (-38 gives 11).
    return sum(int(d) for d in str(abs(value)))
@reversed_digits int -> int w1 [Math]
{v} with its decimal digits in reverse order | Reversing digits keeps the sign and drops leading zeros (120 gives 21, -45 gives -54).
    sign = -1 if value < 0 else 1
    return sign * int(str(abs(value))[::-1])
@set_bits int -> int w1 [Bit Manipulation]
the number of 1 bits in the binary form of {v} | Bits are counted in the absolute value, so 0 has none.
    return bin(abs(value)).count("1")
@divisor_count int -> int w2 [Number Theory, Math]
the number of positive divisors of {v} | Divisors are counted for the absolute value, and 0 counts as having none.
    n = abs(value)
    count, d = 0, 1
    while d * d <= n:
        if n % d == 0:
            count += 1 if d * d == n else 2
        d += 1
    return count
@fibonacci_mod int -> int w2 [Math, Dynamic Programming]
the Fibonacci number F(m) modulo 1000000007 for m equal to {v} | F(0) = 0, F(1) = 1 and F(m) = F(m - 1) + F(m - 2); m <= 0 gives 0, and m can be huge, so use fast doubling or matrix powers.
    mod = 1_000_000_007
    if value <= 0:
        return 0
    a, b = 0, 1
    for bit in bin(value)[2:]:
        c = a * ((2 * b - a) % mod) % mod
        d = (a * a + b * b) % mod
        a, b = (d, (c + d) % mod) if bit == "1" else (c, d)
    return a
@is_prime int -> bool w2 [Number Theory, Math]
whether the absolute value of {v} is a prime number | 0 and 1 are not prime.
    n = abs(value)
    if n < 4:
        return n >= 2
    if n % 2 == 0 or n % 3 == 0:
        return False
    d = 5
    while d * d <= n:
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True
@is_perfect_square int -> bool w1 [Math, Binary Search] import math
whether {v} is the square of an integer | 0 is a perfect square and negative numbers are not.
    return value >= 0 and math.isqrt(value) ** 2 == value
@is_power_of_two int -> bool w1 [Bit Manipulation]
whether {v} is a power of two (1, 2, 4, 8, ...) | 0 and negative numbers are not powers of two.
    return value > 0 and value & (value - 1) == 0
@is_even int -> bool w0 [Math]
whether {v} is even
    return value % 2 == 0
@last_digit int -> int w0 [Math]
the last decimal digit of {v} | The last digit ignores the sign (-47 gives 7).
    return abs(value) % 10
@binary_string int -> str w0 [Bit Manipulation, String]
the binary form of {v} as a string of 0s and 1s | The binary form has no leading zeros (0 gives "0"), and a negative number gets a leading "-".
    return ("-" if value < 0 else "") + bin(abs(value))[2:]
@roman_numeral int -> str w1 [String, Math]
{v} written as a Roman numeral | Roman numerals use the subtractive form (4 is "IV", 1994 is "MCMXCIV"); values outside 1..3999 give "".
    if not 1 <= value <= 3999:
        return ""
    numerals = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for amount, letters in numerals:
        count, value = divmod(value, amount)
        out.append(letters * count)
    return "".join(out)
@prime_factors int -> list[int] w2 [Number Theory, Math]
the prime factors of {v} in non-decreasing order, repeated by multiplicity | Factors are taken of the absolute value (12 gives [2, 2, 3]), and values below 2 in absolute value give [].
    n, d, out = abs(value), 2, []
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out
@max_subarray_sum list[int] -> int w2 [Dynamic Programming, Array]
the largest sum of a non-empty contiguous block of {v} | The best block sum of an empty list is 0.
    if not value:
        return 0
    best = current = value[0]
    for x in value[1:]:
        current = max(x, current + x)
        best = max(best, current)
    return best
@longest_increasing_run list[int] -> int w1 [Array]
the length of the longest strictly increasing contiguous run in {v} | An empty list has no run, so it gives 0.
    best = current = 0
    for i, x in enumerate(value):
        current = current + 1 if i and x > value[i - 1] else 1
        best = max(best, current)
    return best
@distinct_count list[int] -> int w1 [Hash Table]
the number of distinct values in {v}
    return len(set(value))
@inversion_count list[int] -> int w2 [Binary Indexed Tree, Merge Sort]
the number of inversions in {v} | An inversion is a pair of positions i < j whose element at i is greater than the one at j; aim for O(n log n).
    rank = {x: i for i, x in enumerate(sorted(set(value)), 1)}
    tree, count = [0] * (len(rank) + 1), 0
    for seen, x in enumerate(value):
        i = rank[x]
        while i:  # how many earlier values are <= x
            count -= tree[i]
            i -= i & -i
        count += seen
        i = rank[x]
        while i < len(tree):
            tree[i] += 1
            i += i & -i
    return count
@lis_length list[int] -> int w2 [Binary Search, Dynamic Programming] import bisect
the length of the longest strictly increasing subsequence of {v} | The subsequence need not be contiguous; aim for O(n log n).
    tails = []
    for x in value:
        i = bisect.bisect_left(tails, x)
        if i == len(tails):
            tails.append(x)
        else:
            tails[i] = x
    return len(tails)
@total list[int] -> int w0 [Array]
the sum of {v}
    return sum(value)
@largest list[int] -> int w0 [Array]
the largest element of {v} | The largest element of an empty list counts as 0.
    return max(value, default=0)
@sorted_distinct list[int] -> list[int] w1 [Sorting]
the distinct values of {v} in increasing order
    return sorted(set(value))
@prefix_sums list[int] -> list[int] w1 [Prefix Sum]
the running totals of {v} | Running total i is the sum of the first i + 1 elements.
    out, running = [], 0
    for x in value:
        running += x
        out.append(running)
    return out
@next_greater_index list[int] -> list[int] w2 [Monotonic Stack, Stack]
the index of the nearest strictly greater element to the right of each position of {v} | A position with no greater element to its right gets -1.
    out, stack = [-1] * len(value), []
    for i, x in enumerate(value):
        while stack and value[stack[-1]] < x:
            out[stack.pop()] = i
        stack.append(i)
    return out
@adjacent_differences list[int] -> list[int] w1 [Array]
the differences between neighbouring elements of {v} | Difference i is element i + 1 minus element i, so fewer than two elements give [].
    return [b - a for a, b in zip(value, value[1:])]
@rank_transform list[int] -> list[int] w1 [Sorting, Hash Table]
{v} with each element replaced by its rank among the distinct values | The smallest distinct value has rank 1, and equal values share a rank.
    rank = {x: i for i, x in enumerate(sorted(set(value)), 1)}
    return [rank[x] for x in value]
@window_max list[int] -> list[int] w2 [Monotonic Queue, Sliding Window] import collections
the maximum of every window of three consecutive elements of {v}, left to right | With fewer than three elements there is no window.
    out, window = [], collections.deque()
    for i, x in enumerate(value):
        while window and value[window[-1]] <= x:
            window.pop()
        window.append(i)
        if window[0] <= i - 3:
            window.popleft()
        if i >= 2:
            out.append(value[window[0]])
    return out
@csv_join list[int] -> str w0 [String]
the elements of {v} joined by commas | The joined text has no spaces (for example "3,-1,4"), and an empty list gives "".
    return ",".join(str(x) for x in value)
@summary_ranges list[int] -> str w1 [Array, Sorting]
the distinct values of {v}, in increasing order, written as comma-separated ranges | A maximal run of consecutive integers a..b is written "a->b", or "a" when a == b ([5, 1, 2, 3, 7, 7] gives "1->3,5,7").
    values, parts, i = sorted(set(value)), [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}->{values[j]}")
        i = j + 1
    return ",".join(parts)
@run_length str -> str w1 [String]
the run-length encoding of {v} | Run-length encoding writes each maximal run of one character as the character followed by the run length ("aaabcc" gives "a3b1c2").
    out, i = [], 0
    while i < len(value):
        j = i
        while j < len(value) and value[j] == value[i]:
            j += 1
        out.append(f"{value[i]}{j - i}")
        i = j
    return "".join(out)
@reverse_words str -> str w1 [String, Two Pointers]
the words of {v} in reverse order, joined by single spaces | Words are maximal runs of non-whitespace characters.
    return " ".join(reversed(value.split()))
@remove_adjacent_pairs str -> str w1 [Stack, String]
what remains of {v} after repeatedly deleting two equal neighbouring characters | For example "abbaca" leaves "ca".
    stack = []
    for ch in value:
        if stack and stack[-1] == ch:
            stack.pop()
        else:
            stack.append(ch)
    return "".join(stack)
@sorted_chars str -> str w0 [Sorting, String]
the characters of {v} sorted by code point
    return "".join(sorted(value))
@longest_palindromic_substring str -> str w2 [Dynamic Programming, Two Pointers, String]
the longest palindromic substring of {v} | Among equally long palindromes take the leftmost; the empty string gives "".
    best = ""
    for center in range(2 * len(value) - 1):
        lo, hi = center // 2, (center + 1) // 2
        while lo >= 0 and hi < len(value) and value[lo] == value[hi]:
            lo -= 1
            hi += 1
        if hi - lo - 1 > len(best):
            best = value[lo + 1 : hi]
    return best
@distinct_chars str -> int w1 [Hash Table, String]
the number of distinct characters in {v}
    return len(set(value))
@string_length str -> int w0 [String]
the number of characters in {v}
    return len(value)
@longest_unique_substring str -> int w2 [Sliding Window, Hash Table]
the length of the longest substring of {v} without a repeated character
    last, start, best = {}, 0, 0
    for i, ch in enumerate(value):
        if last.get(ch, -1) >= start:
            start = last[ch] + 1
        last[ch] = i
        best = max(best, i - start + 1)
    return best
@is_clean_palindrome str -> bool w1 [Two Pointers, String]
whether {v} reads the same both ways once only its letters and digits are kept, lowercased
    kept = [ch.lower() for ch in value if ch.isalnum()]
    return kept == kept[::-1]
@balanced_brackets str -> bool w1 [Stack, String]
whether the brackets (), [] and {} in {v} are balanced and properly nested | Characters other than brackets are ignored.
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for ch in value:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
@common_prefix_length list[str] -> int w1 [String, Trie]
the length of the longest prefix shared by all strings in {v} | No strings give 0.
    if not value:
        return 0
    length = 0
    for chars in zip(*value):
        if any(c != chars[0] for c in chars):
            break
        length += 1
    return length
@most_frequent_string list[str] -> str w1 [Hash Table, Counting] import collections
the most frequent string in {v} | Ties go to the lexicographically smallest string, and an empty list gives "".
    counts = collections.Counter(value)
    return min(counts, key=lambda s: (-counts[s], s)) if counts else ""
@row_sums list[list[int]] -> list[int] w0 [Array]
the sum of each inner list of {v}, in order
    return [sum(row) for row in value]
@flatten_sorted list[list[int]] -> list[int] w1 [Sorting]
all numbers of {v} in one list in non-decreasing order
    return sorted(x for row in value for x in row)
@count_true list[bool] -> int w0 [Counting]
the number of True values in {v}
    return sum(1 for x in value if x)
@yes_no bool -> str w0 [String]
{v}, written "YES" for True and "NO" for False
    return "YES" if value else "NO"
@pair_sum tuple[int, int] -> int w0 [Math]
the sum of the two numbers in {v}
    return value[0] + value[1]
@two_decimals float -> str w0 [String]
{v} written with exactly two digits after the decimal point | Format it as Python's f"{x:.2f}" does (2.5 gives "2.50").
    return f"{value:.2f}"
@length list[*] -> int w0 [Array]
the length of {v}
    return len(value)
@reversed_list list[*] -> list[*] w0 [Array]
{v} in reverse order
    return list(reversed(value))
"""


def _parse_catalog(spec: str) -> tuple[Transform, ...]:
    out = []
    for chunk in spec.split("\n@")[1:]:
        head, text, *body = chunk.rstrip().split("\n")
        m = re.fullmatch(r"(\w+) (.+?) -> (.+?) w(\d) \[(.*?)\](?: (.+))?", head)
        name, source, target, weight, topics, imports = m.groups()  # type: ignore[union-attr]
        phrase, _, detail = text.partition(" | ")
        ann_in, ann_out = source.replace("*", "Any"), target.replace("*", "Any")
        lines = ["from typing import Any"] if "Any" in ann_in + ann_out else []
        lines += [*(imports.split("; ") if imports else []), ""] if lines or imports else []
        lines += [f"def {name}(value: {ann_in}) -> {ann_out}:", *body]
        topics_t = tuple(t.strip() for t in topics.split(","))
        out.append(
            Transform(
                name, source, target, int(weight), topics_t, phrase, detail, "\n".join(lines) + "\n"
            )
        )
    return tuple(out)


CATALOG: tuple[Transform, ...] = _parse_catalog(_SPEC)
TRANSFORMS = {t.name: t for t in CATALOG}
#: weight-0 transforms that only re-format the answer (same information, other notation); they
#: serve as crossover adapters but never make a mutation on their own
REFORMATS = frozenset({"binary_string", "csv_join", "yes_no", "two_decimals"})


def matches(pattern: str, t: str) -> bool:
    """Whether type ``t`` fits a catalog pattern (``list[*]`` fits every list)."""
    if pattern == "*":
        return True
    if "*" not in pattern:
        return pattern == t
    head, args = split_type(t)
    phead, pargs = split_type(pattern)
    if phead != head or len(args) != len(pargs):
        return False
    return all(matches(p, a) for p, a in zip(pargs, args, strict=True))


def _star(pattern: str, t: str) -> str | None:
    """What ``*`` stands for when ``t`` fits ``pattern``."""
    if pattern == "*":
        return t
    _, pargs = split_type(pattern)
    _, args = split_type(t)
    for p, a in zip(pargs, args, strict=False):
        found = _star(p, a)
        if found is not None:
            return found
    return None


def result_type(tr: Transform, t: str) -> str:
    if "*" not in tr.target:
        return tr.target
    return tr.target.replace("*", _star(tr.source, t) or "any")


def transforms_for(t: str, weights: tuple[int, ...] = (0, 1, 2)) -> list[Transform]:
    """Catalog transforms that accept type ``t``, in catalog order."""
    return [tr for tr in CATALOG if tr.weight in weights and matches(tr.source, t)]


# ------------------------------------------------------------------- guarantees, encodings
@dataclass(frozen=True)
class Guarantee:
    tag: str  # suffix of the new function's name
    source: str
    phrase: str  # {p} is the parameter
    apply: Callable[[Any], Any]


def _dedupe(v: list) -> list:
    seen, out = set(), []
    for x in v:
        if repr(x) not in seen:
            seen.add(repr(x))
            out.append(x)
    return out


# fmt: off
GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee("sorted", "list[int]", "{p} is sorted in non-decreasing order", sorted),
    Guarantee("sorted", "list[str]", "{p} is sorted in lexicographic order", sorted),
    Guarantee("non_negative", "list[int]", "every element of {p} is non-negative", lambda v: [abs(x) for x in v]),
    Guarantee("distinct", "list[int]", "the elements of {p} are pairwise distinct", _dedupe),
    Guarantee("distinct", "list[str]", "the strings in {p} are pairwise distinct", _dedupe),
    Guarantee("short", "list[*]", "{p} has at most 6 elements", lambda v: v[:6]),
    Guarantee("short", "str", "{p} has at most 8 characters", lambda v: v[:8]),
    Guarantee("lowercase", "str", "{p} contains no uppercase letters", str.lower),
    Guarantee("non_negative", "int", "{p} is non-negative", abs),
    Guarantee("small", "int", "0 <= {p} <= 50", lambda v: abs(v) % 51),
)
# fmt: on


@dataclass(frozen=True)
class Encoding:
    tag: str
    source: str
    target: str
    phrase: str  # how {p} is given
    encode: Callable[[Any], Any]  # literal -> encoded literal, or MISSING
    decoder: str  # name of the decoder function
    code: str  # its source


def _rows(v: list) -> Any:
    if any(not row for row in v):
        return MISSING
    return ";".join(" ".join(str(x) for x in row) for row in v)


def _words(v: list) -> Any:
    if any(not s or any(c.isspace() for c in s) for s in v):
        return MISSING
    return " ".join(v)


# fmt: off
ENCODINGS: tuple[Encoding, ...] = (
    Encoding("from_csv", "list[int]", "str",
             'a string of comma-separated integers without spaces ("3,-1,4" stands for [3, -1, 4]; the empty string for [])',
             lambda v: ",".join(str(x) for x in v), "parse_int_list",
             'def parse_int_list(text: str) -> list[int]:\n    return [int(t) for t in text.split(",")] if text else []\n'),
    Encoding("from_text", "list[str]", "str",
             'one string with the items separated by single spaces ("red blue" stands for ["red", "blue"]; the empty string for []); items are non-empty and contain no whitespace',
             _words, "split_items", "def split_items(text: str) -> list[str]:\n    return text.split()\n"),
    Encoding("from_chars", "str", "list[str]", 'the list of its characters (["a", "b"] stands for "ab")',
             list, "join_chars", 'def join_chars(chars: list[str]) -> str:\n    return "".join(chars)\n'),
    Encoding("from_binary", "int", "str",
             'its binary representation, a string of 0s and 1s without leading zeros ("101" stands for 5, "0" for 0); it is non-negative',
             lambda v: bin(v)[2:] if v >= 0 else MISSING, "parse_binary", "def parse_binary(text: str) -> int:\n    return int(text, 2)\n"),
    Encoding("from_rows", "list[list[int]]", "str",
             'a string in which rows are separated by ";" and the numbers of a row by single spaces ("1 2;3 4" stands for [[1, 2], [3, 4]]; the empty string for []); no row is empty',
             _rows, "parse_rows",
             'def parse_rows(text: str) -> list[list[int]]:\n    return [[int(t) for t in row.split()] for row in text.split(";")] if text else []\n'),
)
# fmt: on


# Crossover operators on two answers a and b: types | name | result | code | phrase | name words
_BINOP_SPEC = """
int int | sum | int | {a} + {b} | the sum of {a} and {b} | total_of | nest
int int | max | int | max({a}, {b}) | the larger of {a} and {b} | larger_of | nest
int int | min | int | min({a}, {b}) | the smaller of {a} and {b} | smaller_of | nest
int int | diff | int | {a} - {b} | {a} minus {b} | difference_of | nest
int int | compare | int | ({a} > {b}) - ({a} < {b}) | 1 if {a} is greater than {b}, -1 if it is smaller and 0 if they are equal | compare | let
bool bool | and | bool | {a} and {b} | True when {a} and {b} are both True | both | let
bool bool | or | bool | {a} or {b} | True when at least one of {a} and {b} is True | either | let
bool bool | xor | bool | {a} != {b} | True when exactly one of {a} and {b} is True | exactly_one_of | let
list[int] list[int] | concat | list[int] | {a} + {b} | the elements of {a} followed by those of {b} | concat | let
list[int] list[int] | common | list[int] | sorted(set({a}) & set({b})) | the distinct values occurring in both {a} and {b}, in increasing order | common_values_of | nest
list[str] list[str] | concat | list[str] | {a} + {b} | the elements of {a} followed by those of {b} | concat | let
str str | concat | str | {a} + {b} | {a} followed by {b} | concat | let
"""


@dataclass(frozen=True)
class Binop:
    name: str
    result: str
    code: str  # {a} and {b} are the two answers
    phrase: str  # a noun phrase; {a} and {b} are noun phrases or names
    words: str  # leading words of the new function's name
    nest: bool  # whether long noun phrases may stand for {a} and {b} (else names do)


def _parse_binops(spec: str) -> dict[tuple[str, str], list[Binop]]:
    out: dict[tuple[str, str], list[Binop]] = {}
    for line in spec.strip().splitlines():
        types, *fields = (f.strip() for f in line.split(" | "))
        a, b = types.split(" ")
        *head, nest = fields
        out.setdefault((a, b), []).append(Binop(*head, nest=nest == "nest"))
    return out


BINOPS = _parse_binops(_BINOP_SPEC)


# ------------------------------------------------------------------------------ naming
def snake_words(name: str) -> list[str]:
    """``"finalPositionOfSnake"`` -> ["final", "position", "of", "snake"]."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", name.lower()) if w]


def function_name(*parts: str, limit: int = 56) -> str:
    """A valid snake_case identifier made of the words of ``parts`` (at most ``limit`` chars)."""
    words = [w for p in parts for w in snake_words(p)]
    while len("_".join(words)) > limit and len(words) > 2:
        words.pop(-2)  # keep the first and last words
    name = "_".join(words) or "solve"
    if name[0].isdigit():
        name = "solve_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


# ------------------------------------------------------------------------ module builder
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _scope_nodes(nodes: list[ast.AST]):
    """Nodes of one scope, not descending into nested functions, classes or comprehensions
    (their names are yielded as bindings but their bodies are not)."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES + _COMPS):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _bindings(nodes: list[ast.AST]) -> tuple[set[str], set[str]]:
    """(names bound in this scope, names declared global or nonlocal)."""
    bound, declared = set(), set()
    for node in _scope_nodes(nodes):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    return bound, declared


class _Renamer(ast.NodeTransformer):
    """Renames module-level names, leaving names that a function, lambda, class body or
    comprehension binds locally alone."""

    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping
        self.hidden: frozenset[str] = frozenset()
        self.depth = 0

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id not in self.hidden:
            node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_Global(self, node: ast.Global) -> ast.Global:
        node.names = [self.mapping.get(n, n) for n in node.names]
        return node

    def visit_FunctionDef(self, node):  # noqa: N802 - ast visitor naming
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args = self.visit(node.args)
        if node.returns is not None:
            node.returns = self.visit(node.returns)
        if self.depth == 0:
            node.name = self.mapping.get(node.name, node.name)
        a = node.args
        params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
        params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
        bound, declared = _bindings(node.body)
        saved, self.hidden = self.hidden, self.hidden | ((params | bound) - declared)
        self.depth += 1
        node.body = [self.visit(s) for s in node.body]
        self.depth, self.hidden = self.depth - 1, saved
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        if self.depth == 0:
            node.name = self.mapping.get(node.name, node.name)
        bound, declared = _bindings(node.body)
        outer = self.hidden
        self.depth += 1
        body = []
        for stmt in node.body:  # methods do not see class-level names
            self.hidden = outer if isinstance(stmt, _SCOPES) else outer | (bound - declared)
            body.append(self.visit(stmt))
        self.hidden = outer
        self.depth -= 1
        node.body = body
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.Lambda:
        node.args = self.visit(node.args)
        a = node.args
        params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
        saved, self.hidden = self.hidden, self.hidden | params
        node.body = self.visit(node.body)
        self.hidden = saved
        return node

    def _comprehension(self, node):
        targets = {
            n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        }
        node.generators[0].iter = self.visit(node.generators[0].iter)  # enclosing scope
        saved, self.hidden = self.hidden, self.hidden | targets
        for i, g in enumerate(node.generators):
            g.target = self.visit(g.target)
            if i:
                g.iter = self.visit(g.iter)
            g.ifs = [self.visit(x) for x in g.ifs]
        for field in ("elt", "key", "value"):
            if hasattr(node, field):
                setattr(node, field, self.visit(getattr(node, field)))
        self.hidden = saved
        return node

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


@dataclass
class _Chunk:
    text: str
    binds: tuple[str, ...]
    refs: frozenset[str]
    key: str  # ast.dump, for de-duplication
    is_def: bool  # a function or class definition (pruned when unreachable)


def _import_key(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    if isinstance(node, ast.Import):
        return f"import {alias.name if alias.asname else alias.name.split('.')[0]}"
    return f"from {'.' * node.level}{node.module or ''} import {alias.name}"


class ModuleBuilder:
    """Merges Python modules into one source (see the module docstring)."""

    def __init__(self) -> None:
        self.imports: list[str] = []
        self.chunks: list[_Chunk] = []
        self.owner: dict[str, str] = {}  # bound name -> key of what binds it

    def fresh(self, base: str) -> str:
        """An unused top-level name like ``base``; reserved from now on."""
        name, i = base, 2
        while name in self.owner or keyword.iskeyword(name):
            name, i = f"{base}_{i}", i + 1
        self.owner[name] = f"reserved:{name}"
        return name

    def add(self, source: str) -> dict[str, str]:
        """Merge ``source``; returns how its top-level names were renamed (old -> new)."""
        tree = parse_source(source)
        if tree is None:
            raise ValueError("the module is not valid Python")
        body, mapping, rest = list(tree.body), {}, []
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the module docstring
        for node in body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                rest.append(node)
                continue
            for alias in node.names:
                key = _import_key(node, alias)
                name = (alias.asname or alias.name).split(".")[0]
                if alias.name != "*" and self.owner.get(name, key) != key:
                    mapping[name] = self.fresh(name)  # the name means something else here
                bound = mapping.get(name, name)
                if isinstance(node, ast.ImportFrom):
                    line = key + (f" as {bound}" if bound != alias.name != "*" else "")
                else:
                    line = f"import {alias.name}" + (f" as {bound}" if bound != alias.name else "")
                if alias.name != "*":
                    self.owner.setdefault(bound, key)
                if line not in self.imports:
                    self.imports.insert(0, line) if "__future__" in line else self.imports.append(
                        line
                    )
        # definitions: rename those that clash with a different binding, until stable
        binds = [sorted(_bindings([s])[0]) for s in rest]
        while True:
            renamed = [_Renamer(mapping).visit(copy.deepcopy(s)) for s in rest]
            clashes = [
                name
                for s, names in zip(renamed, binds, strict=True)
                for name in names
                if name not in mapping and self.owner.get(name, ast.dump(s)) != ast.dump(s)
            ]
            if not clashes:
                break
            for name in dict.fromkeys(clashes):
                mapping[name] = self.fresh(name)
        lines = source.splitlines()
        spans = [(min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", [])]),
                  s.end_lineno or s.lineno) for s in rest]  # fmt: skip
        for i, (orig, new) in enumerate(zip(rest, renamed, strict=True)):
            key, names = ast.dump(new), tuple(mapping.get(n, n) for n in binds[i])
            if names and all(self.owner.get(n) == key for n in names):
                continue  # the same definition is already there
            if not names and any(c.key == key for c in self.chunks):
                continue
            start, end = spans[i]
            alone = all(j == i or e < start or b > end for j, (b, e) in enumerate(spans))
            text = "\n".join(lines[start - 1 : end]) if alone and ast.dump(orig) == key else None
            refs = frozenset(n.id for n in ast.walk(new) if isinstance(n, ast.Name))
            is_def = isinstance(new, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            self.chunks.append(_Chunk(text or ast.unparse(new), names, refs, key, is_def))
            for n in names:
                self.owner[n] = key
        return mapping

    def source(self, entry: str) -> str:
        """The merged module followed by ``entry`` (the new function's source), without the
        function and class definitions that neither the entry nor module-level code reach."""
        need = {n.id for n in ast.walk(parse_source(entry) or ast.Module(body=[], type_ignores=[]))
                if isinstance(n, ast.Name)}  # fmt: skip
        need |= {r for c in self.chunks if not c.is_def for r in c.refs}
        grown = True
        while grown:
            grown = False
            for c in self.chunks:
                if set(c.binds) & need and not c.refs <= need:
                    need |= c.refs
                    grown = True
        chunks = [c.text.strip("\n") for c in self.chunks if not c.is_def or set(c.binds) & need]
        head = "\n".join(self.imports)
        return "\n\n\n".join(([head] if head else []) + chunks + [entry.strip("\n")]) + "\n"
