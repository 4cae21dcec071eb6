"""Joint UMAP projection, novelty/diversity measurement over seeded fits, the stable map."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from sklearn.manifold import trustworthiness

from infosynth_core import ConfigError
from infosynth_core.projection import MapLayout, joint_umap, measure, warm_up


@pytest.fixture(scope="module", autouse=True)
def _jit():
    warm_up(background=False)  # numba compiles once for the whole module


def _clusters(rng, centers, n, d=32, spread=0.3):
    return np.vstack([c + spread * rng.standard_normal((n, d)) for c in centers])


def test_joint_umap_splits_back_and_preserves_neighbourhoods():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 32)) * 3
    a, b = _clusters(rng, centers[:2], 60), _clusters(rng, centers[2:], 40)
    proj = joint_umap(
        {"a": a, "b": b}, n_components=5, n_neighbors=15, metric="euclidean", random_state=1
    )
    assert proj["a"].shape == (120, 5) and proj["b"].shape == (80, 5)
    both = np.vstack([a, b])
    assert trustworthiness(both, np.vstack([proj["a"], proj["b"]]), n_neighbors=10) > 0.9
    with pytest.raises(ConfigError, match="same dimension"):
        joint_umap({"a": a, "b": b[:, :5]})


def test_measure_ranks_a_shifted_set_as_more_novel():
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((3, 32)) * 3
    reference = _clusters(rng, centers, 80)
    same = _clusters(rng, centers, 30)
    shifted = _clusters(rng, centers + rng.standard_normal((3, 32)) * 3, 30)
    kw = dict(dim=5, k=4, runs=2, draws=10, n_neighbors=30)
    m_same = measure(reference, same, **kw)
    m_new = measure(reference, shifted, **kw)
    assert m_new.novelty.mean > m_same.novelty.mean + 1.0
    assert m_same.matched_n == 90 and m_same.runs == 2  # 3 clusters x 30
    for est in (m_same.novelty, m_same.diversity_reference, m_same.diversity_candidate):
        assert np.isfinite([est.mean, est.low, est.high]).all() and est.low <= est.mean <= est.high
    assert measure(reference, same, **kw) == m_same  # same seeds, same numbers
    with pytest.raises(ConfigError, match="more than k=4"):
        measure(reference, same[:3], **kw)


def test_map_layout_keeps_existing_points_and_refits_when_told():
    rng = np.random.default_rng(2)
    centers = rng.standard_normal((3, 16)) * 3
    base = _clusters(rng, centers, 30, d=16)
    layout = MapLayout(random_state=0, refit_ratio=0.5, n_neighbors=15)
    coords = layout.fit(base)
    new = _clusters(rng, centers[:1], 5, d=16)
    placed, refit = layout.place(new)
    assert not refit and placed.shape == (5, 2)
    np.testing.assert_allclose(layout.coordinates()[:90], coords)  # existing points stay put
    # new points land next to their own cluster (the first 30 fitted points)
    d_own = np.linalg.norm(placed.mean(0) - coords[:30].mean(0))
    d_other = np.linalg.norm(placed.mean(0) - coords[30:].mean(0))
    assert d_own < d_other
    _, refit = layout.place(_clusters(rng, centers, 20, d=16))  # 65 > 0.5 x 90
    assert refit and layout.generation_ == 2 and layout.coordinates().shape == (155, 2)


def test_cli_metrics_json_on_bundled_seeds(tmp_path):
    from infosynth_core import load_bundled_seeds

    seeds = load_bundled_seeds().problems
    cand = tmp_path / "cand.jsonl"
    cand.write_text("".join(json.dumps(p.to_record()) + "\n" for p in seeds[:40]))
    r = run_cli(
        "metrics",
        "--reference",
        "data/seeds/bundled.jsonl",
        "--candidate",
        str(cand),
        "--umap-runs",
        "2",
        "--draws",
        "5",
        "--json",
        "--db",
        str(tmp_path / "m.db"),
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["n_reference"] == 164 and out["n_candidate"] == 40 and out["units"] == "nats"
    for est in (out["novelty"], out["diversity"]["reference"], out["diversity"]["candidate"]):
        assert all(np.isfinite(est[k]) for k in ("mean", "low", "high")) and est["n"] == 2
    assert out["dedup"]["candidate_in_reference"] == 40  # every candidate is a copy of a seed
    assert abs(sum(out["topic_coverage"]["candidate"].values())) > 0.99


@pytest.mark.datasets
def test_cli_metrics_mbpp_vs_humaneval(datasets_dir, tmp_path):
    r = run_cli(
        "metrics",
        "--reference",
        str(datasets_dir / "mbpp.jsonl"),
        "--candidate",
        str(datasets_dir / "humaneval.jsonl"),
        "--umap-runs",
        "2",
        "--draws",
        "10",
        "--json",
        "--db",
        str(tmp_path / "m.db"),
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert (out["n_reference"], out["n_candidate"], out["diversity"]["matched_n"]) == (
        974,
        164,
        164,
    )
    assert all(np.isfinite(out["novelty"][k]) for k in ("mean", "low", "high"))
