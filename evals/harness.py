"""Running tasks in code mode and tools mode, and measuring each run.

Each (task, mode, repetition) is one pydantic-evals `Case`. The case's task
function builds a fresh agent over fresh domain functions (wrapped to count
host calls and the time spent in them), runs it, and records metrics with
`increment_eval_metric`; `AnswerGrader` grades the answer. The report is then
turned into `TaskResult`s.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_ai import Agent, ModelRetry, Tool
from pydantic_ai.messages import ModelMessage, ModelRequest
from pydantic_ai.models import Model
from pydantic_evals import Case, Dataset, increment_eval_metric

from agent_tools import ToolReply
from agent_tools.adapters.pydantic_ai import CodeToolset

from . import cassette
from .domains import functions_for
from .graders import AnswerGrader, grade
from .oracle import oracle_model
from .results import Mode, RunSummary, TaskResult
from .schema import Task

__all__ = ["INSTRUCTIONS", "ModelFactory", "RunOptions", "run_eval"]

INSTRUCTIONS = (
    "Answer the user's question using the tools. When you have the answer, reply with the final "
    "answer only, in the format the question asks for (JSON for lists and objects), and nothing else."
)

ModelFactory = Callable[[Task, Mode], Model]
"""Makes the model for one run (a fresh oracle per run, or the same real model)."""


@dataclass
class RunOptions:
    modes: list[Mode] = field(default_factory=lambda: ["code", "tools"])
    repeat: int = 1
    concurrency: int = 4
    record: Path | None = None
    replay: Path | None = None
    progress: Callable[[bool], None] | None = None
    """Called after each graded run with whether it passed (for a progress bar)."""


@dataclass
class _Meter:
    host_calls: int = 0
    sandbox_seconds: float = 0.0
    run_code_retries: int = 0


def _metered(func: Callable[..., Any], meter: _Meter) -> Callable[..., Any]:
    """`func` counting its calls into `meter`; name, docstring and signature are
    kept, since they are what the model reads."""

    @functools.wraps(func)
    def counted(*args: Any, **kwargs: Any) -> Any:
        meter.host_calls += 1
        return func(*args, **kwargs)

    return counted


def _as_tool(func: Callable[..., Any]) -> Tool[Any]:
    """Tools mode: an exception from the function goes back to the model as a retry
    prompt, as run_code's errors do, so both modes can recover from a flaky API."""

    @functools.wraps(func)
    def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            raise ModelRetry(f"{type(exc).__name__}: {exc}") from exc

    tool.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    return Tool(tool, takes_ctx=False, max_retries=3)


def _count_retries(messages: Sequence[ModelMessage]) -> int:
    count = 0
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            kind = getattr(part, "part_kind", "")
            if kind == "retry-prompt" or (
                kind == "tool-return" and getattr(part, "outcome", None) == "retried"
            ):
                count += 1
    return count


def _model_for(task: Task, mode: Mode, repeat: int, factory: ModelFactory, options: RunOptions) -> Model:
    if options.replay is not None:
        return cassette.ReplayModel(cassette.cassette_path(options.replay, task.id, mode, repeat))
    model = factory(task, mode)
    if options.record is not None:
        return cassette.RecordingModel(model, cassette.cassette_path(options.record, task.id, mode, repeat))
    return model


async def _run_one(inputs: tuple[Task, Mode, int], factory: ModelFactory, options: RunOptions) -> str:
    task, mode, repeat = inputs
    meter = _Meter()
    functions = [_metered(f, meter) for f in functions_for(task.domain, task.functions)]
    model = _model_for(task, mode, repeat, factory, options)

    def on_reply(reply: ToolReply) -> None:
        if reply.record is not None:
            meter.sandbox_seconds += max(0.0, reply.record.duration - reply.record.host_time)

    if mode == "code":
        toolset = CodeToolset(functions, on_reply=on_reply, max_retries=3)
        agent: Agent[None, str] = Agent(model, toolsets=[toolset], instructions=INSTRUCTIONS, retries=3)
    else:
        agent = Agent(model, tools=[_as_tool(f) for f in functions], instructions=INSTRUCTIONS, retries=3)
    started = time.perf_counter()
    try:
        result = await agent.run(task.prompt)
        answer = result.output
        usage = result.usage() if callable(result.usage) else result.usage
        messages = result.all_messages()
    finally:
        increment_eval_metric("wall_seconds", time.perf_counter() - started)
        increment_eval_metric("host_calls", meter.host_calls)
        increment_eval_metric("sandbox_seconds", meter.sandbox_seconds)
    increment_eval_metric("model_requests", usage.requests)
    increment_eval_metric("input_tokens", usage.input_tokens)
    increment_eval_metric("output_tokens", usage.output_tokens)
    increment_eval_metric("run_code_retries", _count_retries(messages) if mode == "code" else 0)
    if options.progress is not None:
        options.progress(grade(task.grader, task.expected, answer)[0])
    return answer


def _case_name(task: Task, mode: Mode, repeat: int) -> str:
    return f"{task.id}|{mode}|{repeat}"


async def run_eval(
    tasks: Sequence[Task], factory: ModelFactory, options: RunOptions, *, model_name: str, oracle: bool
) -> RunSummary:
    """Run every task in every mode `options.repeat` times; return the results."""
    by_name = {
        _case_name(t, m, r): (t, m, r)
        for t in tasks
        for m in options.modes
        for r in range(1, options.repeat + 1)
    }
    dataset: Dataset[tuple[Task, Mode, int], str, dict[str, Any]] = Dataset(
        name="agent-tools-evals",
        cases=[
            Case(
                name=name,
                inputs=inputs,
                expected_output=inputs[0].expected,
                metadata={"grader": inputs[0].grader.model_dump(), "tags": inputs[0].tags},
            )
            for name, inputs in by_name.items()
        ],
        evaluators=[AnswerGrader()],
    )
    summary = RunSummary(
        model=model_name,
        oracle=oracle,
        modes=list(options.modes),
        repeat=options.repeat,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    started = time.perf_counter()

    async def task_fn(inputs: tuple[Task, Mode, int]) -> str:
        return await _run_one(inputs, factory, options)

    report = await dataset.evaluate(
        task_fn, name=model_name, max_concurrency=options.concurrency, progress=False
    )
    summary.wall_seconds = time.perf_counter() - started
    for case in report.cases:
        task, mode, repeat = by_name[case.name]
        assertion = next(iter(case.assertions.values()), None)
        passed = bool(assertion.value) if assertion is not None else False
        reason = (assertion.reason or "ok") if assertion is not None else "not graded"
        metrics = case.metrics
        summary.results.append(
            TaskResult(
                task_id=task.id,
                domain=task.domain,
                mode=mode,
                repeat=repeat,
                tags=list(task.tags),
                passed=passed,
                reason=reason if not passed else "ok",
                answer=str(case.output),
                model_requests=int(metrics.get("model_requests", 0)),
                input_tokens=int(metrics.get("input_tokens", 0)),
                output_tokens=int(metrics.get("output_tokens", 0)),
                host_calls=int(metrics.get("host_calls", 0)),
                run_code_retries=int(metrics.get("run_code_retries", 0)),
                sandbox_seconds=float(metrics.get("sandbox_seconds", 0.0)),
                wall_seconds=float(metrics.get("wall_seconds", case.task_duration)),
            )
        )
    for failure in report.failures:
        task, mode, repeat = by_name[failure.name]
        if options.progress is not None:
            options.progress(False)
        summary.results.append(
            TaskResult(
                task_id=task.id,
                domain=task.domain,
                mode=mode,
                repeat=repeat,
                tags=list(task.tags),
                passed=False,
                reason=f"error: {failure.error_message}"[:500],
                answer="",
            )
        )
    summary.results.sort(key=lambda r: (r.task_id, r.mode, r.repeat))
    return summary


def oracle_factory(task: Task, mode: Mode) -> Model:
    return oracle_model(task, mode)
