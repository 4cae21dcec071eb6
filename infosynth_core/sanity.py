"""A sanity check of the novelty and diversity measures on any problem set with topics
(the InfoSynth paper's validation, §3.2, with a random-subset control).

The problems of one topic are a concentrated part of the set: measured against the rest of
the set they should come out *more novel* (higher KL divergence) and *less diverse* (lower
entropy) than random subsets of the rest of the same size. Raw k-NN values cannot show that on
their own (both move with N, and random subsets of a set read strongly negative novelty at
these sizes), so the control is measured in the same joint UMAP fits:
:func:`~infosynth_core.calibrated.calibrated_measure` with the topic's problems as candidates
and the other problems as the reference gives, per fit and draw, the topic subset's values and
those of a held-out random subset of the rest of the same N, and their difference (the
excess, nats) with a 95% interval. The check passes when the novelty excess is above 0 and the
diversity excess below 0 (their whole intervals, when there is more than one fit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .calibrated import MAX_N, MIN_N, calibrated_measure
from .errors import ConfigError
from .problem import Problem

__all__ = ["TopicCheck", "checkable_topics", "topic_check"]


def checkable_topics(problems: Sequence[Problem], min_n: int = MIN_N) -> dict[str, int]:
    """Topics with at least ``min_n`` problems whose other problems number at least twice as
    many (the held-out random subsets come from them), with their sizes, largest first."""
    counts = Counter(t for p in problems for t in dict.fromkeys(p.topics))
    total = len(problems)
    return {t: n for t, n in counts.most_common() if n >= min_n and (total - n) >= 2 * min_n}


@dataclass(frozen=True)
class TopicCheck:
    """The result of :func:`topic_check` (nats). ``novelty`` / ``diversity``: the topic
    subset's values; ``*_control``: those of random subsets of the other problems of the same
    N, in the same fits; ``*_excess``: the difference with its 95% interval (``low`` /
    ``high`` None with one fit)."""

    topic: str
    n: int
    n_topic: int
    n_rest: int
    fits: int
    draws: int
    novelty: dict[str, Any]
    novelty_control: dict[str, Any]
    novelty_excess: dict[str, Any]
    diversity: dict[str, Any]
    diversity_control: dict[str, Any]
    diversity_excess: dict[str, Any]
    passed: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _above(est: dict[str, Any]) -> bool:
    return (est["low"] if est["low"] is not None else est["mean"]) > 0


def _below(est: dict[str, Any]) -> bool:
    return (est["high"] if est["high"] is not None else est["mean"]) < 0


def topic_check(
    problems: Sequence[Problem],
    topic: str,
    *,
    embed: Callable[[list[str]], Any],
    fits: int = 10,
    draws: int = 10,
    dim: int = 10,
    k: int = 4,
    max_n: int = MAX_N,
    min_n: int = MIN_N,
    random_state: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TopicCheck:
    """Is ``topic``'s subset of ``problems`` more novel and less diverse than random subsets
    of the other problems of the same size? ``embed`` maps statements to vectors (e.g.
    ``Embedder(store=...).encode``); ``fits`` joint UMAP fits × ``draws`` draws (see
    :func:`~infosynth_core.calibrated.calibrated_measure`); ``progress(done, total)`` after each
    fit. Seconds: about 5 per fit at a few hundred problems on 2 cores, plus embedding."""
    sizes = checkable_topics(problems, min_n)
    if topic not in sizes:
        have = sum(topic in p.topics for p in problems)
        raise ConfigError(
            f"The topic check needs a topic with at least {min_n} problems and at least twice "
            f"as many others; topic={topic!r} has {have} of {len(problems)}. Topics that "
            f"qualify: {', '.join(sizes) or 'none'}."
        )
    subset = [p.problem for p in problems if topic in p.topics]
    rest = [p.problem for p in problems if topic not in p.topics]
    found = calibrated_measure(
        embed(rest),
        embed(subset),
        dim=dim,
        k=k,
        fits=fits,
        draws=draws,
        max_n=max_n,
        min_n=min_n,
        random_state=random_state,
        n_neighbors=min(80, len(problems) - 1),
        progress=progress,
    )["all"]
    nov, div = found.novelty_excess, found.diversity_excess
    passed = _above(nov) and _below(div)
    where = (
        f"the {found.n} '{topic}' problems"
        if found.n == len(subset)
        else f"{found.n} of the {len(subset)} '{topic}' problems (random subsets of that size)"
    )
    sign = f"novelty {nov['mean']:+.2f} nats, diversity {div['mean']:+.2f} nats"
    if passed:
        verdict = (
            f"As expected: {where} are more novel and less diverse than random subsets of the "
            f"other problems of the same size ({sign} against them)."
        )
    else:
        verdict = (
            f"Not as expected: {where} should be more novel and less diverse than random "
            f"subsets of the same size, but read {sign} against them"
            + (" (an interval includes 0)" if fits > 1 else "")
            + ". The embedding and projection may not separate this topic from the rest; "
            "try another topic or more fits."
        )
    return TopicCheck(
        topic=topic,
        n=found.n,
        n_topic=len(subset),
        n_rest=len(rest),
        fits=fits,
        draws=draws,
        novelty=found.novelty,
        novelty_control=found.novelty_null,
        novelty_excess=nov,
        diversity=found.diversity,
        diversity_control=found.diversity_null,
        diversity_excess=div,
        passed=passed,
        verdict=verdict,
    )
