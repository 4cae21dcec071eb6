"""What an offline run's problems read like: a default offline run, then 20 random verified
problems (statement, signature, three tests) as markdown, for a README appendix.

The run is ``data/configs/offline-demo.toml`` (3 generations, 3 colonies, the bundled seeds, no
model) in a throw-away store, with the novelty/diversity metrics switched off (they do not
change the problems). Above the problems: how many of each operator were verified and the
median statement length, next to the seeds' median.

    python bench/read_offline.py                      # prints markdown
    python bench/read_offline.py --out bench/results/read_offline.md --readme README.md

With ``--readme`` the problems also replace the README's appendix (between the
``<!-- read_offline:start -->`` and ``<!-- read_offline:end -->`` markers).
"""

from __future__ import annotations

import argparse
import ast
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infosynth_core import runner  # noqa: E402
from infosynth_core.config import load_run_config  # noqa: E402
from infosynth_core.problem import Problem  # noqa: E402
from infosynth_core.seeds import load_bundled_seeds  # noqa: E402
from infosynth_core.store import Store  # noqa: E402

CONFIG = ROOT / "data" / "configs" / "offline-demo.toml"


def signature(p: Problem) -> str:
    """The entry point's ``def`` line, read from the reference solution."""
    tree = ast.parse(p.solution or "")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == p.entry_point:
            return ast.unparse(node).splitlines()[0].removesuffix(":")
    return f"def {p.entry_point}(...)"


def first_tests(p: Problem, n: int = 3) -> list[str]:
    """The asserts of the first ``n`` test functions."""
    tree = ast.parse(p.tests or "")
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            out += [ast.unparse(s) for s in node.body if isinstance(s, ast.Assert)][:1]
        if len(out) >= n:
            break
    return out


def report(problems: list[Problem], *, n: int, seed: int, wall_s: float, run_id: str) -> str:
    seeds = load_bundled_seeds().problems
    by_op: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_op[p.origin.operator].append(p)
    lines = [
        "# What the offline engine writes",
        "",
        "A default offline run (`data/configs/offline-demo.toml`, "
        f"{wall_s / 60:.1f} min on this machine): {len(problems)} verified problems. "
        f"Median statement length in characters:",
        "",
        "| set | problems | median length |",
        "|---|---:|---:|",
        f"| bundled seeds | {len(seeds)} | {statistics.median(len(p.problem) for p in seeds):.0f} |",
    ]
    for op in sorted(by_op):
        lengths = [len(p.problem) for p in by_op[op]]
        lines.append(f"| {op} | {len(lengths)} | {statistics.median(lengths):.0f} |")
    lengths = [len(p.problem) for p in problems]
    lines.append(f"| all generated | {len(lengths)} | {statistics.median(lengths):.0f} |")
    shown = random.Random(seed).sample(problems, min(n, len(problems)))
    lines += ["", f"{len(shown)} of them, drawn at random (seed {seed}):", ""]
    for k, p in enumerate(shown, 1):
        parents = ", ".join(p.origin.parents)
        lines += [
            f"## {k}. `{p.entry_point}`",
            "",
            f"*{p.origin.operator} of {parents}, generation {p.origin.generation}; "
            f"difficulty {p.difficulty}; topics: {', '.join(p.topics)}*",
            "",
            *(f"> {line}" if line else ">" for line in p.problem.splitlines()),
            "",
            "```python",
            signature(p),
            *first_tests(p),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--n", type=int, default=20, help="problems to show")
    ap.add_argument("--seed", type=int, default=0, help="which problems are drawn")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    ap.add_argument("--readme", type=Path, help="also replace this README's appendix")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "read.db")
        cfg = load_run_config(args.config, overrides={"metrics": {"enabled": False}})
        run = runner.create_run(store, cfg)
        t0 = time.monotonic()
        status = runner.execute(store, run.id)
        wall = time.monotonic() - t0
        if status != "finished":
            raise SystemExit(f"the run ended {status}")
        problems = [sp.problem for sp in runner.benchmark_problems(store, run.id)]
        text = report(problems, n=args.n, seed=args.seed, wall_s=wall, run_id=run.id)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.readme:
        write_appendix(args.readme, text)


START, END = "<!-- read_offline:start -->", "<!-- read_offline:end -->"


def write_appendix(readme: Path, text: str) -> None:
    """The report without its title, problem headings one level down, between the markers."""
    body = [("#" + line if line.startswith("## ") else line) for line in text.splitlines()[1:]]
    old = readme.read_text(encoding="utf-8")
    if START not in old or END not in old:
        raise SystemExit(f"{readme} has no {START} ... {END} markers for the appendix")
    head, rest = old.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + START + "\n" + "\n".join(body).strip() + "\n" + END + tail)


if __name__ == "__main__":
    main()
