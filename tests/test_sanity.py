"""The metrics' sanity check (paper §3.2 with a random-subset control) on real problem sets:
a topic's problems read more novel and less diverse than random subsets of the same size."""

from __future__ import annotations

import numpy as np
import pytest

from infosynth_core import ConfigError, Store, load_bundled_seeds, load_problems
from infosynth_core.embed import Embedder
from infosynth_core.sanity import checkable_topics, topic_check


@pytest.fixture(scope="module")
def embed(tmp_path_factory):
    return Embedder(store=Store(tmp_path_factory.mktemp("sanity") / "emb.db")).encode


def test_checkable_topics_need_min_n_problems_and_twice_as_many_others():
    problems = load_bundled_seeds().problems
    topics = checkable_topics(problems)
    assert topics == {"String": 32}  # 164 bundled seeds; the next topic has 25
    assert set(checkable_topics(problems, min_n=16)) >= {"String", "Sorting", "Graph", "Matrix"}


def test_topic_check_on_the_bundled_seeds_passes_with_its_control(embed):
    problems = load_bundled_seeds().problems
    seen = []
    result = topic_check(
        problems, "String", embed=embed, fits=3, draws=5, progress=lambda d, t: seen.append(d)
    )
    assert seen == [1, 2, 3]
    assert result.n == 32 and result.n_topic == 32 and result.n_rest == 132
    assert result.passed and result.verdict.startswith("As expected")
    for name in ("novelty", "diversity"):
        value, control, excess = (getattr(result, f"{name}{s}") for s in ("", "_control", "_excess"))
        # the excess is the mean of per-draw differences: the difference of the means
        assert excess["mean"] == pytest.approx(value["mean"] - control["mean"], abs=1e-9)
    assert result.novelty_excess["low"] > 0 and result.diversity_excess["high"] < 0


def test_topic_check_fails_for_a_topic_that_is_a_random_label(embed):
    """Truth by construction: a 'topic' given to random problems is not concentrated, so the
    check must not pass for it."""
    problems = load_bundled_seeds().problems
    rng = np.random.default_rng(5)
    pick = set(rng.choice(len(problems), 40, replace=False).tolist())
    labelled = [
        p.model_copy(update={"topics": ["Random label"] if i in pick else []})
        for i, p in enumerate(problems)
    ]
    result = topic_check(labelled, "Random label", embed=embed, fits=3, draws=5)
    assert not result.passed and result.verdict.startswith("Not as expected")


def test_topic_check_names_the_topics_that_qualify():
    problems = load_bundled_seeds().problems
    with pytest.raises(ConfigError, match=r"topic='Graph' has 16 of 164.*qualify: String"):
        topic_check(problems, "Graph", embed=lambda texts: None)


def test_topic_check_on_leetcode_graph_problems(datasets_dir, embed):
    """LeetCode's own topic tags: 60 Graph problems among 240 random others (a sample, so the
    test embeds 300 statements, not 2,588)."""
    leet = load_problems(datasets_dir / "leetcode.jsonl").problems
    rng = np.random.default_rng(0)
    graph = [p for p in leet if "Graph" in p.topics]
    others = [p for p in leet if "Graph" not in p.topics]
    sample = [graph[i] for i in rng.choice(len(graph), 60, replace=False)] + [
        others[i] for i in rng.choice(len(others), 240, replace=False)
    ]
    result = topic_check(sample, "Graph", embed=embed, fits=2, draws=3)
    assert result.n == 60 and result.passed, result.verdict
