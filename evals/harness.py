"""Running tasks in tools mode and the code modes, and measuring each run.

Each (task, mode, repetition) is one pydantic-evals `Case`. The case's task
function builds a fresh agent over fresh domain functions (wrapped to count
host calls and the time spent in them), runs it, and records metrics with
`increment_eval_metric`; `AnswerGrader` grades the answer. The report is then
turned into `TaskResult`s.

Each run also keeps its transcript (transcript.py): the messages, as `MeteredModel`
saw them (so a run that raised keeps what came before), and every host call with
its arguments and result or error.

The model of every run is wrapped in `MeteredModel` (see accounting.py), which
counts each request's instructions, tool definitions and messages from what the
agent really sends: the `run_code` definition `CodeToolset` built (code modes)
or the function tools' definitions (tools mode).

The modes (results.py): `tools`; `code`, with the full catalog in `run_code`'s
description (`CodeToolset(..., catalog="full")`); and `code-search`, with names
and summaries only (`catalog="search"`). `supported_modes` asks the installed
agent_tools whether it takes the option: one that does not (a TypeError) always
shows the full catalog, so `code` runs without it and `code-search` is skipped,
with the reason in the summary.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pydantic_ai import Agent, ModelRetry, Tool
from pydantic_ai.messages import ModelMessage, ModelRequest
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage
from pydantic_evals import Case, Dataset, increment_eval_metric, set_eval_attribute

from agent_tools import ToolReply
from agent_tools.adapters.pydantic_ai import CodeToolset

from . import cassette
from .accounting import MeteredModel, RequestCount
from .domains import domain_function_names, functions_for
from .graders import AnswerGrader, grade
from .oracle import failed_tool_return, oracle_model
from .results import Mode, RunSummary, TaskResult
from .schema import Task
from .transcript import HostCallLog, transcript_of

__all__ = [
    "CATALOG_OPTIONS",
    "INSTRUCTIONS",
    "ModelFactory",
    "RunOptions",
    "offered_functions",
    "run_eval",
    "supported_modes",
]

INSTRUCTIONS = (
    "Answer the user's question using the tools. When you have the answer, reply with the final "
    "answer only, in the format the question asks for (JSON for lists and objects), and nothing else."
)

ModelFactory = Callable[[Task, Mode], Model]
"""Makes the model for one run (a fresh oracle per run, or the same real model)."""

CATALOG_OPTIONS: dict[Mode, dict[str, Any]] = {
    "code": {"catalog": "full"},
    "code-search": {"catalog": "search"},
}
"""What each code mode asks `CodeToolset` for, when the installed agent_tools takes the option."""


def _probe(x: int) -> int:
    """Double x."""
    return 2 * x


def _accepts(options: dict[str, Any]) -> TypeError | None:
    """None when `CodeToolset` takes `options`, else the TypeError it raised."""
    try:
        CodeToolset([_probe], **options)
    except TypeError as error:
        return error
    return None


def supported_modes(modes: Sequence[Mode]) -> tuple[list[Mode], dict[str, dict[str, Any]], dict[str, str]]:
    """Which of `modes` the installed agent_tools can run: (the modes to run, the `CodeToolset`
    options of each code mode among them, why each other mode is skipped)."""
    run: list[Mode] = []
    options: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for mode in modes:
        if mode == "tools":
            run.append(mode)
            continue
        wanted = CATALOG_OPTIONS[mode]
        error = _accepts(wanted)
        if error is None:
            run.append(mode)
            options[mode] = dict(wanted)
        elif mode == "code":
            run.append(mode)  # an agent_tools without the option always lists the full catalog
            options[mode] = {}
        else:
            skipped[mode] = (
                f"skipped: the installed agent_tools does not accept CodeToolset({_kwargs(wanted)}) "
                f"({error}); {mode} mode needs it"
            )
    return run, options, skipped


def _kwargs(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def offered_functions(task: Task) -> list[str]:
    """The names of the functions the agent is offered for `task`: its own, or its whole domain's."""
    return domain_function_names(task.domain) if task.catalog == "domain" else list(task.functions)


@dataclass
class RunOptions:
    modes: list[Mode] = field(default_factory=lambda: ["code", "tools"])
    repeat: int = 1
    concurrency: int = 4
    record: Path | None = None
    replay: Path | None = None
    progress: Callable[[bool], None] | None = None
    """Called after each graded run with whether it passed (for a progress bar)."""


_Transcript = tuple[list[dict[str, Any]], list[dict[str, Any]]]
"""A run's transcript and host calls (see transcript.py)."""


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
            if kind == "retry-prompt" or (kind == "tool-return" and failed_tool_return(part)):
                count += 1
    return count


def _model_for(task: Task, mode: Mode, repeat: int, factory: ModelFactory, options: RunOptions) -> Model:
    if options.replay is not None:
        return cassette.ReplayModel(cassette.cassette_path(options.replay, task.id, mode, repeat))
    model = factory(task, mode)
    if options.record is not None:
        return cassette.RecordingModel(model, cassette.cassette_path(options.record, task.id, mode, repeat))
    return model


async def _run_one(
    inputs: tuple[Task, Mode, int],
    factory: ModelFactory,
    options: RunOptions,
    code_options: dict[str, dict[str, Any]],
    transcripts: dict[str, _Transcript],
) -> str:
    task, mode, repeat = inputs
    meter = _Meter()
    log = HostCallLog()
    functions = [_metered(log.wrap(f), meter) for f in functions_for(task.domain, offered_functions(task))]
    model = MeteredModel(_model_for(task, mode, repeat, factory, options))

    def on_reply(reply: ToolReply) -> None:
        if reply.record is not None:
            meter.sandbox_seconds += max(0.0, reply.record.duration - reply.record.host_time)

    if mode == "tools":
        agent: Agent[None, str] = Agent(
            model, tools=[_as_tool(f) for f in functions], instructions=INSTRUCTIONS, retries=3
        )
    else:
        toolset = CodeToolset(functions, on_reply=on_reply, max_retries=3, **code_options.get(mode, {}))
        agent = Agent(model, toolsets=[toolset], instructions=INSTRUCTIONS, retries=3)
    started = time.perf_counter()
    error: str | None = None
    try:
        result = await agent.run(task.prompt)
        answer = result.output
        reported: Any = result.usage  # a property; a method in older pydantic-ai
        usage = cast(RunUsage, reported() if callable(reported) else reported)
        messages = result.all_messages()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        # Kept even when the run raised: the conversation up to the failure is what explains it.
        transcripts[_case_name(task, mode, repeat)] = (transcript_of(model.messages, error), log.calls)
        increment_eval_metric("wall_seconds", time.perf_counter() - started)
        increment_eval_metric("host_calls", meter.host_calls)
        increment_eval_metric("sandbox_seconds", meter.sandbox_seconds)
        increment_eval_metric("functions_offered", len(functions))
        set_eval_attribute("per_request", [asdict(c) for c in model.requests])
    increment_eval_metric("model_requests", usage.requests)
    increment_eval_metric("input_tokens", usage.input_tokens)
    increment_eval_metric("output_tokens", usage.output_tokens)
    increment_eval_metric("run_code_retries", _count_retries(messages) if mode != "tools" else 0)
    if options.progress is not None:
        options.progress(grade(task.grader, task.expected, answer)[0])
    return answer


def _case_name(task: Task, mode: Mode, repeat: int) -> str:
    return f"{task.id}|{mode}|{repeat}"


async def run_eval(
    tasks: Sequence[Task], factory: ModelFactory, options: RunOptions, *, model_name: str, oracle: bool
) -> RunSummary:
    """Run every task in every mode `options.repeat` times; return the results.

    A mode the installed agent_tools cannot run is left out, with the reason in the summary's
    `skipped_modes` (see `supported_modes`)."""
    modes, code_options, skipped = supported_modes(options.modes)
    by_name: dict[str, tuple[Task, Mode, int]] = {
        _case_name(t, m, r): (t, m, r) for t in tasks for m in modes for r in range(1, options.repeat + 1)
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
        modes=modes,
        repeat=options.repeat,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        skipped_modes=skipped,
        mode_options=code_options,
    )
    started = time.perf_counter()

    transcripts: dict[str, _Transcript] = {}

    async def task_fn(inputs: tuple[Task, Mode, int]) -> str:
        return await _run_one(inputs, factory, options, code_options, transcripts)

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
        per_request = [RequestCount(**c) for c in case.attributes.get("per_request", [])]
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
                system_tokens=sum(c.system for c in per_request),
                definition_tokens=sum(c.definitions for c in per_request),
                message_tokens=sum(c.messages for c in per_request),
                response_tokens=sum(c.response for c in per_request),
                tools_offered=per_request[0].tools_offered if per_request else 0,
                functions_offered=int(metrics.get("functions_offered", 0)),
                per_request=per_request,
                transcript=transcripts.get(case.name, ([], []))[0],
                calls=transcripts.get(case.name, ([], []))[1],
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
                transcript=transcripts.get(failure.name, ([], []))[0],
                calls=transcripts.get(failure.name, ([], []))[1],
            )
        )
    summary.results.sort(key=lambda r: (r.task_id, r.mode, r.repeat))
    return summary


def oracle_factory(task: Task, mode: Mode) -> Model:
    return oracle_model(task, mode)
