"""Run every benchmark in bench/ (each prints its Markdown table; results in bench/results/)."""

import runpy
from pathlib import Path

for script in sorted(Path(__file__).parent.glob("*.py")):
    if script.name != "run_all.py":
        print(f"\n## {script.stem}\n")
        runpy.run_path(str(script), run_name="__main__")
