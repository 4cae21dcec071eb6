"""Novelty (k-NN KL) and diversity (Kozachenko–Leonenko entropy) against closed forms,
hand-checkable values and invariances."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from infosynth_core import metrics
from infosynth_core.metrics import (
    DuplicatePointsWarning,
    Estimate,
    MetricInputError,
    NoveltyDiversity,
    differential_entropy,
    entropy_at_n,
    kl_divergence,
    log_unit_ball_volume,
    novelty_and_diversity,
)


def test_entropy_hand_value_1d():
    assert differential_entropy(np.array([[0.0], [1.0], [3.0]]), k=1) == pytest.approx(
        2.424196, abs=1e-6
    )


def test_entropy_hand_value_2d():
    X = np.array([[0, 0], [1, 0], [0, 2], [3, 3]], dtype=float)
    assert differential_entropy(X, k=1) == pytest.approx(3.900283, abs=1e-6)


def test_kl_hand_value_1d():
    Y = np.array([[0.0], [1.0], [3.0]])
    X = np.array([[0.5], [2.0], [10.0]])
    assert kl_divergence(Y, X, k=1) == pytest.approx(-0.287682, abs=1e-6)


def test_unit_ball_volume_closed_forms():
    assert math.exp(log_unit_ball_volume(1)) == pytest.approx(2.0)
    assert math.exp(log_unit_ball_volume(2)) == pytest.approx(math.pi)
    assert math.exp(log_unit_ball_volume(3)) == pytest.approx(4 / 3 * math.pi)


def test_entropy_of_gaussian_d10_within_2_percent():
    X = np.random.default_rng(0).standard_normal((10_000, 10))
    truth = 0.5 * 10 * math.log(2 * math.pi * math.e)
    assert differential_entropy(X, k=4) == pytest.approx(truth, rel=0.02)


def test_kl_of_two_gaussians_d1_within_10_percent():
    rng = np.random.default_rng(1)
    Y = rng.normal(0.0, 1.0, (10_000, 1))
    X = rng.normal(1.0, 1.0, (10_000, 1))
    assert kl_divergence(Y, X, k=4) == pytest.approx(0.5, rel=0.10)  # (μ1-μ2)²/2


def test_invariance_to_translation_rotation_and_scale():
    rng = np.random.default_rng(2)
    d, c = 5, 3.0
    Y, X = rng.standard_normal((400, d)), rng.standard_normal((500, d)) + 0.3
    R = special_ortho_group.rvs(d, random_state=3)
    shift = rng.standard_normal(d) * 10

    def move(A):
        return c * A @ R.T + shift

    assert kl_divergence(move(Y), move(X)) == pytest.approx(kl_divergence(Y, X), abs=1e-9)
    assert differential_entropy(move(X)) == pytest.approx(
        differential_entropy(X) + d * math.log(c), abs=1e-9
    )


def test_row_order_is_irrelevant():
    rng = np.random.default_rng(4)
    Y, X = rng.standard_normal((300, 3)), rng.standard_normal((350, 3))
    py, px = rng.permutation(300), rng.permutation(350)
    assert kl_divergence(Y[py], X[px]) == pytest.approx(kl_divergence(Y, X), abs=1e-12)
    assert differential_entropy(X[px]) == pytest.approx(differential_entropy(X), abs=1e-12)


def test_duplicates_are_floored_with_a_warning_or_raise_in_strict_mode():
    X = np.array([[0.0], [0.0], [1.0], [3.0], [7.0]])
    with pytest.warns(DuplicatePointsWarning, match="2 zero"):  # each copy of the pair
        h = differential_entropy(X, k=1)
    assert np.isfinite(h)
    with pytest.raises(MetricInputError, match="exact duplicates"):
        differential_entropy(X, k=1, strict=True)
    Y = np.array([[0.5], [1.5], [2.5]])
    with pytest.warns(DuplicatePointsWarning):
        assert np.isfinite(kl_divergence(Y, np.array([[0.5], [9.0]]), k=1))
    with pytest.raises(MetricInputError, match="all points coincide"):
        differential_entropy(np.zeros((5, 2)), k=1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: differential_entropy(np.zeros((0, 3))), "non-empty"),
        (lambda: differential_entropy(np.arange(5.0)), "2-D"),
        (
            lambda: differential_entropy(np.ones((4, 2)), k=4),
            r"'k' .* must be <= number of points - 1 \(3\); got 4",
        ),
        (lambda: differential_entropy(np.ones((4, 2)), k=0), "positive integer"),
        (lambda: kl_divergence(np.ones((5, 2)), np.ones((5, 3))), "same dimension"),
        (
            lambda: kl_divergence(np.random.rand(10, 2), np.random.rand(3, 2), k=4),
            r"number of points in X \(3\)",
        ),
        (lambda: kl_divergence(np.array([[np.nan, 1.0]] * 6), np.ones((6, 2))), "NaN or infinite"),
    ],
)
def test_clear_errors(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()


def test_entropy_at_equal_n_by_subsampling():
    rng = np.random.default_rng(5)
    big = rng.standard_normal((2_000, 2))
    est = entropy_at_n(big, 500, draws=100, random_state=7)
    assert est.low <= est.mean <= est.high and est.n == 100
    truth = math.log(2 * math.pi * math.e)
    assert est.mean == pytest.approx(truth, rel=0.05)
    assert entropy_at_n(big, 500, draws=20, random_state=7) == entropy_at_n(
        big, 500, draws=20, random_state=7
    )
    with pytest.raises(MetricInputError, match="'n'"):
        entropy_at_n(big, 5_000)


def test_estimate_mean_interval_is_a_t_interval():
    est = Estimate.of_mean([1.0, 2.0, 3.0])
    assert est.mean == 2.0 and est.low == pytest.approx(2.0 - 4.302653 / math.sqrt(3), rel=1e-5)


@pytest.fixture(params=["ckdtree", "blocked"])
def engine(request, monkeypatch):
    """Run a test with each exact neighbour engine, whatever the data size."""
    if request.param == "blocked":
        pytest.importorskip("numba")
        monkeypatch.setattr(metrics, "_BLOCKED_MIN_POINTS", 0)
        monkeypatch.setattr(metrics, "_BLOCKED_MIN_DIM", 1)
    else:
        monkeypatch.setattr(metrics, "_BLOCKED_MIN_POINTS", 10**18)
    return request.param


def _separate(Y, X, k):
    return (kl_divergence(Y, X, k), differential_entropy(Y, k), differential_entropy(X, k))


@pytest.mark.parametrize(
    "n, m, d, k",
    [(2_000, 2_500, 10, 4), (700, 300, 3, 1), (300, 1_200, 8, 6), (7, 6, 5, 4), (500, 500, 1, 4)],
)
def test_shared_searches_equal_the_separate_estimators(engine, n, m, d, k):
    rng = np.random.default_rng(n + m + d)
    Y = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    X = rng.standard_normal((m, d)) + 0.3
    got = novelty_and_diversity(Y, X, k)
    assert isinstance(got, NoveltyDiversity) and all(isinstance(v, float) for v in got)
    kl, h_y, h_x = got
    assert (kl, h_y, h_x) == pytest.approx(_separate(Y, X, k), abs=1e-9)


def test_the_two_engines_agree_to_rounding(monkeypatch):
    pytest.importorskip("numba")
    rng = np.random.default_rng(8)
    centres = rng.standard_normal((5, 10)) * 4
    X = centres[rng.integers(0, 5, 3_000)] + rng.standard_normal((3_000, 10))  # clusters
    Y = rng.standard_normal((1_000, 10))
    monkeypatch.setattr(metrics, "_BLOCKED_MIN_POINTS", 10**18)
    tree = novelty_and_diversity(Y, X, k=4)
    monkeypatch.setattr(metrics, "_BLOCKED_MIN_POINTS", 0)
    blocked = novelty_and_diversity(Y, X, k=4)
    assert blocked == pytest.approx(tree, abs=1e-12)


def test_shared_estimators_match_closed_forms():
    rng = np.random.default_rng(9)
    truth_h = 0.5 * 10 * math.log(2 * math.pi * math.e)  # standard normal, d = 10
    _, h_y, h_x = novelty_and_diversity(
        rng.standard_normal((10_000, 10)), rng.standard_normal((10_000, 10)), k=4
    )
    assert h_y == pytest.approx(truth_h, rel=0.02) and h_x == pytest.approx(truth_h, rel=0.02)
    kl, _, _ = novelty_and_diversity(rng.normal(0, 1, (10_000, 1)), rng.normal(1, 1, (10_000, 1)))
    assert kl == pytest.approx(0.5, rel=0.10)  # (μ1-μ2)²/2


def test_shared_duplicates_are_floored_like_the_separate_calls_or_raise(engine):
    Y = np.array([[0.0], [0.0], [1.0], [3.0], [7.0], [8.5]])
    X = np.array([[0.0], [2.0], [2.0], [5.0], [9.0]])
    with pytest.warns(DuplicatePointsWarning) as caught:
        got = novelty_and_diversity(Y, X, k=1)
    messages = " ".join(str(w.message) for w in caught)
    assert "2 zero within-Y" in messages and "2 zero within-X" in messages
    assert "2 zero Y-to-X" in messages  # both copies of 0 in Y sit on 0 in X
    with pytest.warns(DuplicatePointsWarning):
        assert got == pytest.approx(_separate(Y, X, 1), abs=1e-12)
    with pytest.raises(MetricInputError, match="novelty_and_diversity: 2 point"):
        novelty_and_diversity(Y, X, k=1, strict=True)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: novelty_and_diversity(np.ones((5, 2)), np.ones((5, 3))), "same dimension"),
        (
            lambda: novelty_and_diversity(np.random.rand(10, 2), np.random.rand(4, 2), k=4),
            r"'k' parameter of novelty_and_diversity must be <= number of points in X - 1 \(3\)",
        ),
        (
            lambda: novelty_and_diversity(np.random.rand(3, 2), np.random.rand(9, 2), k=4),
            r"number of points in Y - 1 \(2\); got 4",
        ),
        (lambda: novelty_and_diversity(np.arange(5.0), np.ones((6, 1))), "'Y' parameter .* 2-D"),
        (
            lambda: novelty_and_diversity(np.ones((6, 2)), np.array([[np.inf, 1.0]] * 6)),
            "'X' parameter of novelty_and_diversity has 6 row",
        ),
        (lambda: novelty_and_diversity(np.ones((6, 2)), np.ones((6, 2)), k=True), "positive"),
    ],
)
def test_shared_errors_name_the_parameter_and_value(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()


def test_blocked_engine_works_where_numba_cannot_cache(tmp_path):
    pytest.importorskip("numba")
    code = (
        "import numpy as np; from infosynth_core import metrics as M; "
        "rng = np.random.default_rng(0); Y, X = rng.random((300, 6)), rng.random((400, 6)); "
        "M._BLOCKED_MIN_POINTS = 0; a = M.novelty_and_diversity(Y, X); "
        "M._BLOCKED_MIN_POINTS = 10**18; b = M.novelty_and_diversity(Y, X); "
        "assert max(abs(u - v) for u, v in zip(a, b)) < 1e-12, (a, b); print('ok')"
    )
    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES="IPythonCacheLocator")  # finds no place
    env["NUMBA_CACHE_DIR"] = ""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
