"""What an eval run measures, per task and mode, and the summary of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .accounting import TOKEN_METHOD, RequestCount

__all__ = ["MODES", "Mode", "RunSummary", "TaskResult"]

Mode = Literal["code", "tools", "code-search"]
"""- tools: every function is a tool of its own (plain tool calling);
- code: one `run_code` tool whose description lists the full catalog (every function's stub);
- code-search: one `run_code` tool whose description lists names and one-line summaries only,
  the code looking functions up with `describe(name)` / `search_functions(query)`."""

MODES: tuple[Mode, ...] = ("tools", "code", "code-search")


@dataclass
class TaskResult:
    """One task, in one mode, one repetition.

    Two token figures: `input_tokens` / `output_tokens` are the usage the model reported (a real
    provider's count; for the offline oracle, pydantic-ai's placeholder estimate, which leaves out
    the instructions and the tool definitions). The harness's own count, the same for every model
    and mode, is split by what each request carried: `system_tokens` (instructions),
    `definition_tokens` (every tool definition offered), `message_tokens` (the history sent) and
    `response_tokens` (what the model wrote), summed over the run's requests; `tokens` is their
    total, and `per_request` has them request by request.
    """

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
    """Calls to domain functions: from run_code (code modes) or tool calls (tools mode)."""
    run_code_retries: int = 0
    """run_code calls that failed and were retried (code modes)."""
    sandbox_seconds: float = 0.0
    """Time in run_code minus time in host functions (code modes)."""
    wall_seconds: float = 0.0
    system_tokens: int = 0
    definition_tokens: int = 0
    message_tokens: int = 0
    response_tokens: int = 0
    tools_offered: int = 0
    """Tool definitions in the run's first request (1 in the code modes)."""
    functions_offered: int = 0
    """Domain functions the agent could call (the task's, or its whole domain's)."""
    per_request: list[RequestCount] = field(default_factory=lambda: [])
    transcript: list[dict[str, Any]] = field(default_factory=lambda: [])
    """The run step by step: messages, the code the model wrote, tool returns, errors (see transcript.py)."""
    calls: list[dict[str, Any]] = field(default_factory=lambda: [])
    """Every host call of the run: function, arguments, result or error (see transcript.py)."""

    @property
    def tokens(self) -> int:
        """The harness's count for the whole run: system + definitions + messages + responses."""
        return self.system_tokens + self.definition_tokens + self.message_tokens + self.response_tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens"] = self.tokens
        data["per_request"] = [{**asdict(c), "input": c.input, "total": c.total} for c in self.per_request]
        return data


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
    skipped_modes: dict[str, str] = field(default_factory=lambda: {})
    """Modes asked for but not run, with why (say code-search, when agent_tools has no such option)."""
    mode_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {})
    """The options each code mode passed to `CodeToolset` (e.g. {"catalog": "full"})."""
    token_method: str = TOKEN_METHOD

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "oracle": self.oracle,
            "modes": self.modes,
            "repeat": self.repeat,
            "started_at": self.started_at,
            "wall_seconds": self.wall_seconds,
            "skipped_modes": self.skipped_modes,
            "mode_options": self.mode_options,
            "token_method": self.token_method,
            "results": [r.to_dict() for r in self.results],
        }
