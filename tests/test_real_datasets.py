"""Loaders against the real reference datasets in ../shared/datasets (skipped when absent)."""

from __future__ import annotations

import re

import pytest
from conftest import run_pytest_on

from infosynth_core import Store, import_seed_file, load_bundled_seeds, load_problems

pytestmark = pytest.mark.datasets

COUNTS = {
    "mbpp.jsonl": ("mbpp", 974),
    "mbpp_sanitized.jsonl": ("mbpp", 427),
    "humaneval.jsonl": ("humaneval", 164),
    "leetcodedataset_v0.3.1_test.jsonl": ("leetcodedataset", 228),
    "leetcode.jsonl": ("statements", 2588),
}


@pytest.mark.parametrize("name", COUNTS)
def test_real_dataset_loads_with_expected_count(datasets_dir, name):
    fmt, n = COUNTS[name]
    loaded = load_problems(datasets_dir / name)
    assert loaded.format == fmt
    assert len(loaded.problems) == n
    if fmt != "statements":
        assert all(p.has_reference and p.entry_point for p in loaded.problems)


def test_real_mbpp_import_stores_974_problems(datasets_dir, store):
    info = import_seed_file(store, datasets_dir / "mbpp.jsonl", name="mbpp")
    assert info.n_problems == 974
    assert len(Store(store.path).seed_set_problems("mbpp")) == 974


def test_real_leetcode_topics_are_parsed(datasets_dir):
    probs = load_problems(datasets_dir / "leetcode.jsonl").problems
    two_sum = next(p for p in probs if p.id == "1")
    assert two_sum.topics == ("Array", "Hash Table") and two_sum.difficulty == "easy"


@pytest.mark.parametrize(
    "name, ids",
    [
        # 367 and 927: test_setup_code uses classes the solution defines
        ("mbpp.jsonl", ["mbpp-1", "mbpp-2", "mbpp-367", "mbpp-927", "mbpp-600"]),
        ("mbpp_sanitized.jsonl", ["mbpp-2", "mbpp-3", "mbpp-4"]),
        ("humaneval.jsonl", ["HumanEval-0", "HumanEval-32", "HumanEval-163"]),
        ("leetcodedataset_v0.3.1_test.jsonl", None),  # the first three
    ],
)
def test_real_converted_tests_pass_against_reference(datasets_dir, tmp_path, name, ids):
    probs = load_problems(datasets_dir / name).problems
    chosen = probs[:3] if ids is None else [p for p in probs if p.id in ids]
    assert len(chosen) == (3 if ids is None else len(ids))
    for i, p in enumerate(chosen):
        r = run_pytest_on(p, tmp_path / str(i))
        assert r.returncode == 0, (p.id, r.stdout[-2000:])


def _shingles(text: str, n: int = 3) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def test_bundled_seeds_are_not_copied_from_reference_sets(datasets_dir):
    """Word-trigram Jaccard of each bundled statement to its closest reference problem."""
    refs = []
    for name in COUNTS:
        refs += [_shingles(p.problem) for p in load_problems(datasets_dir / name).problems]
    worst = 0.0
    for p in load_bundled_seeds().problems:
        s = _shingles(p.problem)
        worst = max(worst, max(len(s & r) / len(s | r) for r in refs))
    assert worst < 0.3, worst  # measured: 0.06; copies or paraphrases score far above 0.3
