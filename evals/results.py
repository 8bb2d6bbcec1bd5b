"""What an eval run measures, per task and mode, and the summary of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Mode", "RunSummary", "TaskResult"]

Mode = Literal["code", "tools"]


@dataclass
class TaskResult:
    """One task, in one mode, one repetition."""

    task_id: str
    domain: str
    mode: Mode
    repeat: int
    tags: list[str]
    passed: bool
    reason: str
    """Why it failed (the grader's words, or the error), or "ok"."""
    answer: str
    """The agent's final answer as text."""
    model_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    host_calls: int = 0
    """Calls to domain functions: from run_code (code mode) or tool calls (tools mode)."""
    run_code_retries: int = 0
    """run_code calls that failed and were retried (code mode)."""
    sandbox_seconds: float = 0.0
    """Time in run_code minus time in host functions (code mode)."""
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunSummary:
    """Everything a report needs about one `python -m evals run`."""

    model: str
    oracle: bool
    """True when the model was the offline oracle: the run tests the harness, not a model."""
    modes: list[Mode]
    repeat: int
    results: list[TaskResult] = field(default_factory=lambda: [])
    started_at: str = ""
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "oracle": self.oracle,
            "modes": self.modes,
            "repeat": self.repeat,
            "started_at": self.started_at,
            "wall_seconds": self.wall_seconds,
            "results": [r.to_dict() for r in self.results],
        }
