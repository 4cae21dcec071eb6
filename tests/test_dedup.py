"""Near-duplicate detection: MinHash/LSH on statements, cosine on embeddings, contamination."""

from __future__ import annotations

import numpy as np
import pytest

from infosynth_core.dedup import (
    ContaminationReport,
    DuplicateGroup,
    contamination_report,
    cross_duplicates,
    deduplicate,
    embedding_near_duplicates,
    minhashes,
    near_duplicates,
    shingles,
)
from infosynth_core.errors import ConfigError
from infosynth_core.problem import Problem

# Statements drawn from a 2,000-word vocabulary: different k share (almost) no 5-grams.
_VOCAB = [f"w{i}" for i in range(2000)]


def _statement(k: int, length: int = 40) -> str:
    rng = np.random.default_rng(1000 + k)
    return " ".join(rng.choice(_VOCAB, size=length, replace=False).tolist())


BASE = (
    "Given a list of integers nums and an integer target, return the indices of the two "
    "numbers such that they add up to target. You may assume that each input has exactly one "
    "solution and you may not use the same element twice."
)


def _replace_word(text: str, position: int, new: str = "zebra") -> str:
    words = text.split()
    words[position] = new
    return " ".join(words)


def _exact_jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = shingles(a, n=n), shingles(b, n=n)
    return len(sa & sb) / len(sa | sb)


# ----------------------------------------------------------------------------- shingles
def test_shingles_normalise_case_whitespace_and_punctuation():
    assert shingles("Return  the\tSUM,\n please!", n=2) == {
        "return the",
        "the sum",
        "sum ,",
        ", please",
        "please !",
    }
    assert shingles("a b c", n=5) == {"a b c"}
    assert shingles("", n=5) == set()
    assert shingles("   \n ", n=3) == set()
    assert shingles("x y z w", n=3) == {"x y z", "y z w"}


def test_minhash_estimate_is_within_0_1_of_exact_jaccard():
    pairs = [
        (BASE, _replace_word(BASE, 20)),
        (BASE, _replace_word(_replace_word(BASE, 10), 30)),
        (BASE, BASE + " " + _statement(1, 20)),
        (_statement(2), _statement(2)[: len(_statement(2)) // 2] + " " + _statement(3, 20)),
    ]
    for a, b in pairs:
        exact = _exact_jaccard(a, b)
        ma, mb = minhashes([a, b], num_perm=250, seed=1)
        assert abs(ma.jaccard(mb) - exact) <= 0.1, (exact, ma.jaccard(mb))
    exacts = [_exact_jaccard(a, b) for a, b in pairs]
    assert min(exacts) < 0.6 < max(exacts)  # the pairs span a range of similarities


# ----------------------------------------------------------------------------- near_duplicates
@pytest.mark.parametrize("position", [0, 1, 38, 39])
def test_identical_and_one_word_edits_are_grouped_unrelated_are_not(position):
    statement = _statement(99)  # 40 words
    edited = _replace_word(statement, position)
    assert _exact_jaccard(statement, edited) >= 0.89  # 1 or 2 of 36 shingles change
    ids = ["u0", "orig", "u1", "copy", "edit", "u2"]
    texts = [_statement(0), statement, _statement(1), statement, edited, _statement(2)]
    groups = near_duplicates(ids, texts)
    assert groups == [DuplicateGroup(ids=("orig", "copy", "edit"), kept="orig")]


def test_a_mid_statement_edit_of_40_words_sits_at_the_default_threshold():
    # A middle word of a 40-word statement is in 5 of its 36 five-gram shingles: exact
    # Jaccard 31/41 = 0.756, a coin toss at 0.75, so a lower threshold is needed to be sure.
    statement = _statement(98)
    edited = _replace_word(statement, 20)
    assert _exact_jaccard(statement, edited) == pytest.approx(31 / 41)
    groups = near_duplicates(["a", "b", "c"], [statement, edited, BASE], threshold=0.65)
    assert groups == [DuplicateGroup(ids=("a", "b"), kept="a")]


def _replace_tail(text: str, m: int, k: int) -> str:
    words = text.split()
    return " ".join(words[:-m] + [f"tail{k}_{i}" for i in range(m)])


def test_lsh_candidates_below_the_threshold_are_rejected():
    # Replacing the last 9 of 40 words leaves exact Jaccard 27/45 = 0.6: often an LSH candidate
    # at threshold 0.75, never a confirmed duplicate. Replacing 1 word leaves 35/37 = 0.95.
    ids, texts, expected = [], [], []
    for k in range(12):
        base = _statement(200 + k)
        far, near = _replace_tail(base, 9, k), _replace_tail(base, 1, k)
        assert _exact_jaccard(base, far) == pytest.approx(0.6)
        assert _exact_jaccard(base, near) == pytest.approx(35 / 37)
        ids += [f"b{k}", f"far{k}", f"c{k}"]
        texts += [base, far, _statement(300 + k) if k % 2 else near]
        if k % 2 == 0:
            expected.append(DuplicateGroup(ids=(f"b{k}", f"c{k}"), kept=f"b{k}"))
    assert near_duplicates(ids, texts) == expected


def test_groups_are_transitive_and_ordered_by_first_member():
    a, b = _statement(10), _statement(11)
    ids = ["b1", "a1", "x", "a2", "b2", "a3"]
    texts = [b, a, _statement(12), a, b, _replace_word(a, 39)]
    groups = near_duplicates(ids, texts)
    assert groups == [
        DuplicateGroup(ids=("b1", "b2"), kept="b1"),
        DuplicateGroup(ids=("a1", "a2", "a3"), kept="a1"),
    ]


def test_near_duplicates_are_deterministic_for_a_seed():
    texts = [
        _statement(k % 7) if k % 3 else _replace_word(_statement(k % 7), 39) for k in range(30)
    ]
    ids = [f"p{k}" for k in range(30)]
    first = near_duplicates(ids, texts, seed=7)
    assert first == near_duplicates(ids, texts, seed=7)
    assert len(first) == 7 and sum(len(g.ids) for g in first) == 30
    assert [m.hashvalues.tolist() for m in minhashes(texts[:3], seed=3)] == [
        m.hashvalues.tolist() for m in minhashes(texts[:3], seed=3)
    ]


def test_empty_texts_are_never_grouped():
    assert near_duplicates(["a", "b", "c"], ["", "  ", BASE]) == []


# ----------------------------------------------------------------------------- deduplicate
def test_deduplicate_keeps_the_first_and_preserves_order():
    texts = [_statement(20), BASE, _statement(21), _replace_word(BASE, 0), _statement(20), BASE]
    problems = [Problem(id=f"p{i}", problem=t) for i, t in enumerate(texts)]
    kept, groups = deduplicate(problems)
    assert [p.id for p in kept] == ["p0", "p1", "p2"]
    assert groups == [
        DuplicateGroup(ids=("p0", "p4"), kept="p0"),
        DuplicateGroup(ids=("p1", "p3", "p5"), kept="p1"),
    ]


# ----------------------------------------------------------------------------- cross-set
def test_cross_duplicates_finds_a_candidate_copied_from_the_reference():
    refs = [_statement(k) for k in range(30, 40)]
    cands = [_statement(50), _replace_word(refs[4], 39), _statement(51), refs[7]]
    found = cross_duplicates(["c0", "c1", "c2", "c3"], cands, [f"r{k}" for k in range(10)], refs)
    assert found == {"c1": ["r4"], "c3": ["r7"]}


def test_contamination_report_counts_and_rate():
    mbpp = [_statement(k) for k in range(60, 65)]
    humaneval = [_statement(k) for k in range(70, 75)]
    cands = [mbpp[0], _statement(80), humaneval[2], _statement(81), mbpp[3]]
    report = contamination_report(
        ["c0", "c1", "c2", "c3", "c4"],
        cands,
        {
            "mbpp": ([f"m{k}" for k in range(5)], mbpp),
            "humaneval": ([f"h{k}" for k in range(5)], humaneval),
            "empty": ([], []),
        },
    )
    assert report.n_candidates == 5 and report.n_flagged == 3
    assert report.flagged == {"c0": ["mbpp:m0"], "c2": ["humaneval:h2"], "c4": ["mbpp:m3"]}
    assert report.by_reference == {"mbpp": 2, "humaneval": 1, "empty": 0}
    assert report.rate == pytest.approx(0.6)
    assert report.to_dict()["rate"] == pytest.approx(0.6)
    assert report.to_dict()["flagged"]["c2"] == ["humaneval:h2"]
    assert ContaminationReport(0, 0, {}, {}).rate == 0.0


# ----------------------------------------------------------------------------- embeddings
def test_embedding_near_duplicates_on_constructed_vectors():
    rng = np.random.default_rng(0)
    v = rng.normal(size=32)
    perturbed = v + 0.01 * rng.normal(size=32)
    orthogonal = rng.normal(size=32)
    orthogonal -= orthogonal @ v / (v @ v) * v
    emb = np.stack([orthogonal, v, perturbed, 3.0 * v]).astype(np.float32)
    groups = embedding_near_duplicates(["o", "v", "p", "scaled"], emb, threshold=0.95)
    assert groups == [DuplicateGroup(ids=("v", "p", "scaled"), kept="v")]
    exact = embedding_near_duplicates(["o", "v", "p", "scaled"], emb, threshold=1.0)
    assert exact == [DuplicateGroup(ids=("v", "scaled"), kept="v")]


def test_embedding_near_duplicates_on_a_random_matrix_has_no_false_groups():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(5000, 64)).astype(np.float32)
    ids = [f"e{i}" for i in range(5000)]
    assert embedding_near_duplicates(ids, emb) == []
    emb[4999] = emb[17] * 2
    assert embedding_near_duplicates(ids, emb) == [DuplicateGroup(ids=("e17", "e4999"), kept="e17")]


# ----------------------------------------------------------------------------- errors
def _raises(call, *fragments):
    with pytest.raises(ConfigError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_config_errors_name_the_parameter_and_value():
    ids, texts = ["a", "b"], [BASE, BASE]
    _raises(
        lambda: near_duplicates(ids, texts, threshold=1.5),
        "The 'threshold' parameter of near_duplicates must be in (0, 1]; got 1.5.",
    )
    _raises(lambda: near_duplicates(ids, texts, threshold=0), "'threshold'", "got 0.")
    _raises(lambda: near_duplicates(ids, texts, num_perm=8), "'num_perm'", "got 8.")
    _raises(lambda: near_duplicates(ids, [BASE]), "'texts'", "2 in 'ids'", "got 1 texts.")
    _raises(
        lambda: near_duplicates(["a", "a"], texts),
        "'ids'",
        "must not repeat an id (positions 0, 1)",
        "got 'a'.",
    )
    _raises(lambda: shingles(BASE, n=0), "'n' parameter of shingles", "got 0.")
    _raises(lambda: minhashes(texts, seed=-1), "'seed' parameter of minhashes", "got -1.")
    _raises(
        lambda: cross_duplicates(ids, texts, ["r"], [], threshold=0.5),
        "'reference_texts'",
        "0 texts",
    )
    _raises(
        lambda: deduplicate([Problem(id="p", problem=BASE)], threshold=2),
        "'threshold' parameter of deduplicate",
        "got 2.",
    )
    _raises(
        lambda: contamination_report(ids, texts, {"a:b": ([], [])}),
        "'references' parameter of contamination_report",
        "got 'a:b'.",
    )
    emb = np.ones((2, 4))
    _raises(lambda: embedding_near_duplicates(ids, emb[0]), "'embeddings'", "2-D", "(4,)")
    _raises(lambda: embedding_near_duplicates(["a"], emb), "'embeddings'", "1 ids", "(2, 4)")
    emb[1, 2] = np.nan
    _raises(lambda: embedding_near_duplicates(ids, emb), "'embeddings'", "finite", "row 1")
    _raises(
        lambda: embedding_near_duplicates(ids, np.zeros((2, 4))),
        "'embeddings'",
        "all-zero",
        "got row 0.",
    )
    _raises(
        lambda: embedding_near_duplicates(ids, np.ones((2, 4)), threshold=-0.5),
        "'threshold'",
        "got -0.5.",
    )
