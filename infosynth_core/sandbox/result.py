"""Sandbox limits and the result record of one run."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Limits", "RunResult", "RunStatus", "TestOutcome", "sanitize_output"]

RunStatus = Literal["passed", "failed", "error", "timeout", "unparsable"]
TestOutcome = Literal["passed", "failed", "error", "not run"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def sanitize_output(text: str) -> str:
    """Drop ANSI escapes and control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


class Limits(BaseModel):
    """Hard limits for one run of a solution against its tests.

    Parameters
    ----------
    timeout_s
        CPU-time limit of the run in seconds: user + system time of the solution's and the
        tests' processes together, read by the worker every 50 ms (default 10). A busy
        machine slows a run down but does not make it time out.
    wall_s
        Wall-clock backstop in seconds for code that sleeps or blocks (default
        3 × ``timeout_s`` + 5).
    memory_mb
        Address-space limit in MiB (default 512).
    cpu_s
        Per-process CPU-time rlimit in seconds (default: the timeout rounded up, plus 1).
    file_size_mb
        Largest file the program may write, MiB (default 16).
    max_open_files
        Open file descriptors (default 64).
    max_processes
        Processes and threads of the sandbox user (default 64).
    output_cap_kb
        stdout and stderr are each kept up to this many KiB, then marked truncated (64).
    tmpfs_mb
        Size of the sandbox's writable scratch space in MiB (default 64; bubblewrap only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=10.0, gt=0, le=3600)
    wall_s: float | None = Field(default=None, gt=0, le=4 * 3600)
    memory_mb: int = Field(default=512, ge=64, le=65536)
    cpu_s: int | None = Field(default=None, gt=0)
    file_size_mb: int = Field(default=16, ge=1, le=4096)
    max_open_files: int = Field(default=64, ge=16, le=65536)
    max_processes: int = Field(default=64, ge=4, le=4096)
    output_cap_kb: int = Field(default=64, ge=1, le=65536)
    tmpfs_mb: int = Field(default=64, ge=8, le=65536)

    @model_validator(mode="after")
    def _default_cpu(self) -> Limits:
        if self.cpu_s is None:
            object.__setattr__(self, "cpu_s", math.ceil(self.timeout_s) + 1)
        if self.wall_s is None:
            object.__setattr__(self, "wall_s", 3.0 * self.timeout_s + 5.0)
        return self


@dataclass
class RunResult:
    """What happened when a solution ran against its tests.

    ``status`` is passed only when every collected test function reported completion on the
    sandbox's private result channel; ``tests`` maps each test name to its outcome.
    """

    id: str
    status: RunStatus
    tests: dict[str, TestOutcome] = field(default_factory=dict)
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # test name -> exception text
    isolation: str = ""
    caps: str = ""  # kernel caps on the run as a whole: cgroup-v2, cgroup-v1 or rlimit
    n_asserts: int = 0
    coverage: float | None = None  # fraction of the solution's statements executed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "tests": self.tests,
            "duration_s": round(self.duration_s, 4),
            "notes": self.notes,
            "errors": self.errors,
            "isolation": self.isolation,
            "caps": self.caps,
            "n_asserts": self.n_asserts,
            "coverage": None if self.coverage is None else round(self.coverage, 4),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
        }

    def to_attempt(self, round: int = 0, *, solution: str | None = None, tests: str | None = None):
        """This result as a store :class:`~infosynth_core.store.Attempt` (with test quality)."""
        from ..store import Attempt

        output = self.stdout + ("\n--- stderr ---\n" + self.stderr if self.stderr else "")
        return Attempt(
            round=round,
            status=self.status,
            solution=solution,
            tests=tests,
            outcomes=dict(self.tests),
            output=output,
            duration_s=self.duration_s,
            details={
                "isolation": self.isolation,
                "caps": self.caps,
                "notes": self.notes,
                "errors": self.errors,
                "n_asserts": self.n_asserts,
                "coverage": self.coverage,
                "stdout_truncated": self.stdout_truncated,
                "stderr_truncated": self.stderr_truncated,
            },
        )

    def feedback(self, limit: int = 4000) -> str:
        """A compact, sanitized account of the run (what an LLM gets back as feedback)."""
        lines = [f"status: {self.status}"]
        lines += [f"{name}: {outcome}" for name, outcome in self.tests.items()]
        lines += [f"{name} raised: {err}" for name, err in self.errors.items()]
        lines += [f"note: {n}" for n in self.notes]
        if self.stdout:
            lines.append("stdout:\n" + self.stdout)
        if self.stderr:
            lines.append("stderr:\n" + self.stderr)
        text = "\n".join(lines)
        return text if len(text) <= limit else text[: limit - 20] + "\n… (truncated)"
