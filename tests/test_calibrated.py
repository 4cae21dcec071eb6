"""Calibrated novelty and diversity: closed forms through an identity projection, the null on
real statements through the real joint UMAP (either order), "too few", bounded cost, and
honest intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infosynth_core import ConfigError
from infosynth_core.calibrated import calibrated_measure
from infosynth_core.projection import joint_umap


@pytest.fixture(scope="module")
def embedded_seeds() -> np.ndarray:
    from infosynth_core.embed import Embedder
    from infosynth_core.seeds import load_bundled_seeds

    return Embedder().encode([p.problem for p in load_bundled_seeds().problems])


def identity_fit(sets, *, random_state, shuffle, **_):
    """A stand-in projection that keeps the points: the estimators then see the raw data."""
    assert shuffle is True  # every calibrated fit shuffles its rows
    return {name: np.asarray(v, dtype=np.float64) for name, v in sets.items()}


def test_calibrated_excess_matches_closed_forms_for_gaussians():
    """Reference N(0, I_4). Candidates N(0, 2 I_4): entropy excess = d/2 ln 2 = 1.386 nats.
    Candidates N(e_1, I_4): KL = |e_1|^2 / 2 = 0.5 nats, entropy excess 0; nulls near 0."""
    rng = np.random.default_rng(0)
    d = 4
    ref = rng.standard_normal((4000, d))
    wide = math.sqrt(2) * rng.standard_normal((1000, d))
    out = calibrated_measure(ref, wide, fits=2, draws=8, max_n=1000, fit=identity_fit)["all"]
    assert out.n == 1000 and out.too_few is None
    assert out.diversity_excess["mean"] == pytest.approx(d / 2 * math.log(2), abs=0.15)
    shifted = rng.standard_normal((1000, d)) + np.eye(d)[0]
    out = calibrated_measure(ref, shifted, fits=2, draws=8, max_n=1000, fit=identity_fit)["all"]
    assert out.novelty_excess["mean"] == pytest.approx(0.5, abs=0.15)
    assert out.diversity_excess["mean"] == pytest.approx(0.0, abs=0.15)
    assert abs(out.novelty_null["mean"]) < 0.1  # held-out seeds against the other seeds


def test_calibrated_null_is_zero_for_a_sample_of_the_reference_itself():
    rng = np.random.default_rng(2)
    pool = rng.standard_normal((3000, 3))
    out = calibrated_measure(pool[:2000], pool[2000:], fits=2, draws=10, fit=identity_fit)["all"]
    for name in ("novelty_excess", "diversity_excess"):
        e = getattr(out, name)
        assert e["low"] <= 0 <= e["high"], (name, e)


def test_halves_of_real_statements_read_alike_in_either_order(embedded_seeds):
    """Two disjoint random halves of the bundled seeds, through the real joint UMAP: the
    excess over the null is within its interval around 0 whichever half is the candidate."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(embedded_seeds))
    a, b = embedded_seeds[order[:82]], embedded_seeds[order[82:]]
    for ref, cand in ((a, b), (b, a)):
        out = calibrated_measure(ref, cand, fits=4, draws=6, min_n=20, random_state=3)["all"]
        for name in ("novelty_excess", "diversity_excess"):
            e = getattr(out, name)
            assert e["low"] <= 0 <= e["high"], (name, e)


def test_joint_umap_shuffles_rows_but_returns_them_in_order():
    rng = np.random.default_rng(0)
    near = rng.normal(0, 0.05, (40, 6)) + 1
    far = rng.normal(0, 0.05, (40, 6)) - 1
    out = joint_umap({"near": near, "far": far}, n_components=2, n_neighbors=10)
    gap = np.linalg.norm(out["near"].mean(0) - out["far"].mean(0))
    spread = max(out["near"].std(0).max(), out["far"].std(0).max())
    assert gap > 5 * spread  # each set's rows came back to their own set


def test_too_few_gives_a_reason_not_a_number():
    rng = np.random.default_rng(0)
    out = calibrated_measure(
        rng.standard_normal((100, 3)),
        rng.standard_normal((60, 3)),
        groups={"all": range(60), "generation": range(50, 60)},
        fits=1,
        draws=2,
        fit=identity_fit,
    )
    assert out["all"].too_few is None and out["all"].n == 50  # half of the reference
    few = out["generation"]
    assert few.novelty_excess is None and "too few" in few.too_few and "below 30" in few.too_few
    assert few.raw is not None  # the raw values still come from the same fits


def test_cost_is_bounded_whatever_the_size():
    seen = []

    def counting_fit(sets, **kw):
        seen.append({k: len(v) for k, v in sets.items()})
        return identity_fit(sets, **kw)

    rng = np.random.default_rng(0)
    out = calibrated_measure(
        rng.standard_normal((20_000, 3)),
        rng.standard_normal((50_000, 3)),
        fits=2,
        draws=1,
        max_n=200,
        fit=counting_fit,
    )["all"]
    assert seen == [{"reference": 400, "candidate": 200}] * 2
    assert out.n == 200 and out.n_candidates == 50_000 and out.n_reference == 20_000


def test_one_fit_has_no_interval_and_bad_settings_are_refused():
    rng = np.random.default_rng(0)
    out = calibrated_measure(
        rng.standard_normal((200, 3)), rng.standard_normal((80, 3)), fits=1, draws=5,
        fit=identity_fit,
    )["all"]  # fmt: skip
    assert out.novelty_excess["low"] is None and out.novelty_excess["high"] is None
    with pytest.raises(ConfigError, match="fits"):
        calibrated_measure(np.zeros((10, 2)), np.zeros((10, 2)), fits=0)
    with pytest.raises(ConfigError, match="min_n"):
        calibrated_measure(np.zeros((10, 2)), np.zeros((10, 2)), min_n=3, k=4)


def test_groups_share_rows_so_two_groups_cost_little_more_than_one():
    seen = []

    def counting_fit(sets, **kw):
        seen.append(len(sets["candidate"]))
        return identity_fit(sets, **kw)

    rng = np.random.default_rng(1)
    out = calibrated_measure(
        rng.standard_normal((164, 3)),
        rng.standard_normal((5_000, 3)),
        groups={"all": range(5_000), "generation": range(2_500, 5_000)},
        fits=1,
        draws=2,
        max_n=500,
        fit=counting_fit,
    )
    assert out["all"].n == out["generation"].n == 82  # half of the 164 reference rows
    # each group keeps 4 x 82 = 328 rows; about half of the generation's come from "all"
    assert 328 < seen[0] < 2 * 328
