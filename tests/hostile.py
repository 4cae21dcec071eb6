"""A store full of hostile stored text, for the dashboard's "text is text" tests.

Statements, topics, solutions, tests, run names, seed-set names, error texts, attempt output
and notes, evaluation model names: each carries markup that a browser would act on if the
dashboard rendered it (markdown images and links, raw HTML, Plotly label HTML, Streamlit
directives, LaTeX). Ids stay valid (letters, digits, ``.``, ``_``, ``-``). Outside URLs point
at 127.0.0.2:9 (loopback, discard port): nothing leaves the machine even if one were fetched.
"""

from __future__ import annotations

import os
from pathlib import Path

from infosynth_core import Problem, Store
from infosynth_core.config import load_run_config
from infosynth_core.problem import Origin
from infosynth_core.store import Attempt

__all__ = [
    "OUTSIDE",
    "PAYLOADS",
    "RAW_MARKERS",
    "HOSTILE_RUN_NAME",
    "HOSTILE_SEED_SET",
    "HOSTILE_TOPICS",
    "HOSTILE_MODEL",
    "HOSTILE_ERROR",
    "NOTE",
    "RUN_IDS",
    "build_hostile_store",
    "statement",
]

OUTSIDE = "http://127.0.0.2:9"
PAYLOADS = {
    "image": f"![pixel]({OUTSIDE}/pixel.png)",
    "img": f"<img src={OUTSIDE}/img.png>",
    "a": f'<a href="{OUTSIDE}/a">link</a>',
    "b": "<b>bold</b>",
    "js": "[click](javascript:alert(1))",
    "script": "<script>window.__pwned = 1</script>",
    "iframe": f'<iframe src="{OUTSIDE}/frame"></iframe>',
    "hover": f'<a href="{OUTSIDE}/hover">hover</a> %{{xaxis.title.text}} <i>it</i>',
    "bare": f"{OUTSIDE}/bare and www.example.com",
    "streamlit": ":red[red] :material/home: $x^2$ a -> b",
}
# what must never reach a markdown element, label or Plotly label unescaped
RAW_MARKERS = ["![", "<img", "<a ", "<b>", "](javascript:", "<script", "<iframe", "<i>"]

HOSTILE_RUN_NAME = f"<b>run</b> ![r]({OUTSIDE}/run.png) [go]({OUTSIDE}/go)"
HOSTILE_SEED_SET = f"<b>set</b> ![s]({OUTSIDE}/set.png)"
HOSTILE_TOPICS = ("<b>Array</b>", f"[T]({OUTSIDE}/t)", f"<img src={OUTSIDE}/topic.png>")
HOSTILE_MODEL = f"<b>model</b> ![m]({OUTSIDE}/model.png)"
HOSTILE_ERROR = f"API said: ![e]({OUTSIDE}/err.png) <a href='{OUTSIDE}/err'>retry</a>"
NOTE = f"note {PAYLOADS['a']} {PAYLOADS['image']} {PAYLOADS['bare']} {PAYLOADS['streamlit']}"
RUN_IDS = ("hostile-run-1", "hostile-run-2")
TASKS = [
    "the sum of the numbers",
    "the largest number",
    "the count of even numbers",
    "the product of the numbers",
    "the smallest number",
    "the mean of the numbers rounded down",
    "the number of distinct numbers",
    "the difference between the largest and the smallest number",
]


def statement(i: int, kind: str) -> str:
    """Problem ``i``'s statement: a real task plus one payload (``kind`` of PAYLOADS)."""
    return f"Return {TASKS[i % len(TASKS)]} in a list. {PAYLOADS[kind]}"


def _problem(i: int, kind: str, *, id: str, extra: str = "", **fields) -> Problem:
    entry = f"task_{i}"
    return Problem(
        id=id,
        problem=statement(i, kind) + extra,
        solution=f"# {PAYLOADS['image']} {PAYLOADS['img']}\ndef {entry}(xs):\n    return sum(xs)\n",
        tests=(
            f"from solution import {entry}\n\n\ndef test_{entry}():\n"
            f"    # {PAYLOADS['a']}\n    assert {entry}([1, 2]) == 3\n"
        ),
        entry_point=entry,
        topics=HOSTILE_TOPICS[i % 3 :] + HOSTILE_TOPICS[: i % 3],
        difficulty="easy",
        **fields,
    )


def build_hostile_store(db: Path) -> dict:
    """Write the hostile seed set and two finished runs into the store at ``db``.

    Returns the names a test looks for: ``seed_set``, ``runs``, ``problems`` (the newest
    run's ids),
    ``parent`` (the seed id of their first problem) and ``statements`` (id -> statement).
    The newest run (which every page shows first) holds an evaluation report and a running
    evaluation.
    """
    store = Store(db)
    kinds = list(PAYLOADS)
    # seeds carry a second payload: autolink literals and Streamlit's own markdown extensions
    extra = f" {PAYLOADS['bare']} {PAYLOADS['streamlit']}"
    seeds = [_problem(i, kinds[i], id=f"seed-{i}", extra=extra) for i in range(8)]
    store.create_seed_set(HOSTILE_SEED_SET, seeds, source="hostile.jsonl", format="canonical")
    config = load_run_config(
        overrides={"seed_set": HOSTILE_SEED_SET, "generations": 1, "name": HOSTILE_RUN_NAME}
    ).to_dict()
    statements = {p.id: p.problem for p in seeds}
    problems: list[str] = []
    for n, run_id in enumerate(RUN_IDS):
        name = HOSTILE_RUN_NAME if n == 0 else HOSTILE_RUN_NAME + " (2)"
        store.create_run(run_id=run_id, seed_set=HOSTILE_SEED_SET, config=config, name=name)
        generated = [
            _problem(
                i + 3,
                kinds[i + 4],  # js, script, iframe, hover
                id=f"g1-{n}-{i}",
                extra=f" Harder: the list may be empty (variant {n}).",
                origin=Origin(operator="mutation-hard", parents=(f"seed-{i}",), generation=1,
                              colony=0),
                status="passed",
            )
            for i in range(4)
        ]  # fmt: skip
        pks = store.add_problems(run_id, generated)
        for pk, p in zip(pks, generated, strict=True):
            statements[p.id] = p.problem
            store.add_attempt(
                pk,
                Attempt(
                    round=0,
                    status="passed",
                    solution=p.solution,
                    tests=p.tests,
                    outcomes={f"test_{p.entry_point}": "passed"},
                    output=f"1 passed {PAYLOADS['image']} {PAYLOADS['script']}",
                    duration_s=0.1,
                    details={"notes": [NOTE],
                             "n_asserts": 1, "coverage": 1.0},
                ),
            )  # fmt: skip
        problems = [p.id for p in generated]
        store.update_run(run_id, status="failed", error=HOSTILE_ERROR)
        store.add_event(run_id, "warning", "api_error", HOSTILE_ERROR)
    report = {
        "model": HOSTILE_MODEL,
        "n_problems": 1,
        "n_answers": 1,
        "pct_pass": 100.0,
        "pct_fail": 0.0,
        "pct_error": 0.0,
        "pass_at_k": {"1": 1.0},
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        "problems": [
            {"id": problems[0], "n": 1, "c": 1, "pass_at_k": {"1": 1.0},
             "samples": [{"outcome": "pass"}]}
        ],
    }  # fmt: skip
    store.add_event(RUN_IDS[-1], "info", "evaluation", f"evaluated {HOSTILE_MODEL}", report)
    # an evaluation still going (this test process stands in for it): the model is shown
    started = {"pid": os.getpid(), "model": HOSTILE_MODEL, "samples": 1, "log": ""}
    store.add_event(RUN_IDS[-1], "info", "evaluation_started", "evaluating", started)
    store.close()
    return {
        "seed_set": HOSTILE_SEED_SET,
        "runs": RUN_IDS,
        "problems": problems,
        "parent": "seed-0",
        "statements": statements,
    }
