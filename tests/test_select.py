"""k-farthest selection against hand-computed cosine similarities."""

import numpy as np
import pytest

from infosynth_core import ConfigError
from infosynth_core.select import k_farthest, similarity_to_set


def _unit(deg):
    r = np.deg2rad(deg)
    return np.array([np.cos(r), np.sin(r)])


def test_k_farthest_keeps_least_similar_to_nearest_existing():
    existing = np.stack([_unit(0), _unit(90)])
    cands = np.stack([_unit(10), _unit(45), _unit(180), _unit(100)])
    # nearest-existing similarity: cos10, cos45, cos90(=0 to 90°), cos10
    np.testing.assert_allclose(
        similarity_to_set(cands, existing),
        [np.cos(np.deg2rad(10)), np.cos(np.deg2rad(45)), 0.0, np.cos(np.deg2rad(10))],
        atol=1e-12,
    )
    assert list(k_farthest(cands, existing, 2)) == [2, 1]


def test_k_farthest_mean_mode_and_scale_invariance():
    existing = np.stack([_unit(0), _unit(60)])
    cands = np.stack([_unit(30) * 5, _unit(-90), _unit(200)])  # length does not matter
    mean = similarity_to_set(cands, existing, mode="mean")
    cos = lambda deg: np.cos(np.deg2rad(deg))  # noqa: E731
    np.testing.assert_allclose(
        mean, [cos(30), (cos(90) + cos(150)) / 2, (cos(200) + cos(140)) / 2], atol=1e-12
    )
    assert list(k_farthest(cands, existing, 2, mode="mean")) == [2, 1]


def test_k_farthest_ties_and_empty_existing_are_deterministic():
    cands = np.ones((4, 3))
    assert list(k_farthest(cands, np.zeros((0, 3)), 3)) == [0, 1, 2]
    assert list(k_farthest(cands, np.array([[0.0, 0.0, 1.0]]), 2)) == [0, 1]


def test_k_farthest_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="'keep'.*got 5"):
        k_farthest(np.ones((3, 2)), np.ones((1, 2)), 5)
    with pytest.raises(ConfigError, match="'mode'"):
        k_farthest(np.ones((3, 2)), np.ones((1, 2)), 1, mode="max")
    with pytest.raises(ConfigError, match="same dimension"):
        k_farthest(np.ones((3, 2)), np.ones((1, 3)), 1)
