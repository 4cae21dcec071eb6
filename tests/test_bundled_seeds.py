"""The bundled seed set: size, coverage, shape, and every reference solution passes its tests."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infosynth_core import Store, bundled_seeds_path, ensure_bundled_seed_set, load_bundled_seeds

CORE_TOPICS = {
    "Array",
    "String",
    "Hash Table",
    "Math",
    "Sorting",
    "Two Pointers",
    "Stack",
    "Greedy",
    "Dynamic Programming",
    "Binary Search",
    "Matrix",
    "Bit Manipulation",
}


@pytest.fixture(scope="module")
def seeds():
    return load_bundled_seeds().problems


def test_bundled_seeds_size_topics_and_difficulties(seeds):
    assert len(seeds) >= 120
    topics = Counter(t for p in seeds for t in p.topics)
    assert CORE_TOPICS <= set(topics), CORE_TOPICS - set(topics)
    assert len(topics) >= 12
    difficulty = Counter(p.difficulty for p in seeds)
    assert set(difficulty) == {"easy", "medium", "hard"} and min(difficulty.values()) >= 20


def test_bundled_seeds_shape(seeds):
    assert len({p.id for p in seeds}) == len(seeds)
    assert len({p.entry_point for p in seeds}) == len(seeds)
    for p in seeds:
        assert p.has_reference and p.entry_point and 1 <= len(p.topics) <= 3, p.id
        assert p.origin.operator == "seed"
        tree = ast.parse(p.tests)
        tests = [
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
        ]
        assert len(tests) >= 3, p.id
        assert f"from solution import {p.entry_point}" in p.tests, p.id
        fn = next(
            n
            for n in ast.parse(p.solution).body
            if isinstance(n, ast.FunctionDef) and n.name == p.entry_point
        )
        assert fn.returns is not None and all(a.annotation for a in fn.args.args), p.id


def _run(problem, root: Path) -> tuple[str, int, str]:
    d = root / problem.id
    d.mkdir()
    (d / "solution.py").write_text(problem.solution, encoding="utf-8")
    (d / "test_solution.py").write_text(problem.tests, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_solution.py"],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    return problem.id, r.returncode, r.stdout[-1500:]


def test_bundled_seeds_every_solution_passes_its_tests(seeds, tmp_path):
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda p: _run(p, tmp_path), seeds))
    failures = [(pid, out) for pid, rc, out in results if rc != 0]
    assert not failures, failures[:3]


def test_bundled_seed_set_is_imported_once(db_path):
    store = Store(db_path)
    first = ensure_bundled_seed_set(store)
    again = ensure_bundled_seed_set(store)
    assert first == again
    assert first.n_problems == len(load_bundled_seeds().problems)
    assert bundled_seeds_path().name == "bundled.jsonl"


def _words(text: str, n: int) -> set[tuple[str, ...]]:
    words = text.replace("$", "").lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_bundled_seeds_carry_descriptions_for_composition(seeds):
    """Every seed has its own short description for composed statements (the offline
    engine's phrasing): a one-line setting, a noun-phrase summary that names its parameters as
    ``$name``, optional rules, and a gloss per parameter. Written for InfoSynth: no run of 10
    words in common with the seed's own statement."""
    for p in seeds:
        meta = p.metadata
        fn = next(
            n
            for n in ast.parse(p.solution).body
            if isinstance(n, ast.FunctionDef) and n.name == p.entry_point
        )
        params = [a.arg for a in fn.args.args]
        setting, summary, rules = meta["setting"], meta["summary"], meta.get("rules", "")
        assert setting.endswith(".") and len(setting) <= 120, p.id
        assert (
            (summary[0] == "$" or summary[0].islower())
            and not summary.endswith(".")
            and len(summary) <= 220
        ), p.id
        assert set(meta["params"]) == set(params), p.id
        assert all(isinstance(g, str) and 0 < len(g) <= 60 for g in meta["params"].values())
        refs = set(re.findall(r"\$([A-Za-z_]\w*)", summary + " " + rules))
        assert refs == set(params), (p.id, refs, params)  # each parameter named, no other
        for text in (setting, summary, rules):
            assert not _words(text, 10) & _words(p.problem, 10), (p.id, text)
