"""agent-tools' `CodeToolset` against pydantic-ai-harness's `CodeMode`, measured in one run.

Setup (once; the harness is never a dependency of agent-tools, it lives in its own venv):

    python3 -m venv /work/bench-harness-venv
    /work/bench-harness-venv/bin/pip install -e . -r benchmarks/requirements-harness.txt

Run, from the repository root:

    /work/bench-harness-venv/bin/python benchmarks/vs_harness.py [--quick] [--repeat-code]

(--quick: a smoke run of few repetitions, about 15 s; the full run takes about a
minute on 2 cores.)

Both libraries get the same pydantic-ai `Agent` setup (no instructions, one toolset),
the same two host functions (`add`, sync, and `add_async`, async) and the same scripted
`FunctionModel`, each at its defaults:

- agent-tools: `Agent(model, toolsets=[CodeToolset([add, add_async])])`;
- harness:     `Agent(model, toolsets=[FunctionToolset([add, add_async])],
                     capabilities=[CodeMode()])`.

The scripted model reads how many code calls to make from the prompt (`calls=N`); at
each step it checks the tool return of the previous call (it must be 45: the model
must have received the answer as a tool return, not a retry), then emits one call of
the tool `run_code` with the argument `code` (both libraries use that name and that
argument) or, after N calls, a final text. The snippet makes 10 host calls and ends
with their sum, 45: by default all to `add` (`--functions mixed`: 5 to each function,
where every call to the async one is a hop from the sandbox's thread to the agent's
event loop for agent-tools). Each library gets it in its own calling convention, the
work being the same:

    agent-tools: t = add(t, i)  [/  t = add_async(t, i + 5)]     (plain calls)
    harness:     t = await add(a=t, b=i)  [/  t = await add_async(a=t, b=i + 5)]
                 (the harness renders every tool as a keyword-only `async def`)

Each snippet starts with `serial = N`, N new each time, so that its text is new as a
model's code would be and no cache keyed on the text can answer it (`--repeat-code`
sends the very same text every time instead, to see what such a cache gives).

Every run is checked before its timing counts: its final text, every tool return
(45), and the number of host calls the functions saw (10 per code call).

Measures; each ratio is agent-tools / harness (or / raw Monty), the two measured in
the same process, interleaved in blocks that alternate which goes first, p50 over
many repetitions, after a warm-up:

a. First `run_code` call of a run. Agent runs making exactly one code call. The model
   function stamps the time it is entered and the time it returns; a call's time is
   the gap from the return of the step that asked for it to the entry of the next
   step. That gap holds the tool call (argument validation, the sandbox run, the host
   calls) and what pydantic-ai and the toolset do to reach the next model request
   (the next step's tool definitions included); it leaves out the model function,
   which is the same for both. Setup done when the run starts (before the first model
   step) and teardown done after the last one fall outside it, so the whole agent run
   is reported too (the harness spawns and closes a worker pool per run: its spawn is
   lazy, inside the first call; its close is after the last step).
b. Later calls: agent runs making 6 code calls; per run, the mean gap of calls 2..6.
a and b also report run_code's own execution: the time pydantic-ai's tool manager
   spends executing the `run_code` call (`ToolManager.execute_tool_call`, timed for
   that tool name only, so the harness's nested host calls are inside it, not beside
   it). That is the time of the tool itself, without the model step and the rest of
   pydantic-ai's per-step work, which the gap holds and which is the same for both.
c. Throughput: 50 concurrent agent runs (`asyncio.gather` of `agent.run`), each making
   2 code calls; runs per second, from the p50 duration of a burst.
d. A trivial snippet, `N + 2` (N new each time; `1 + 2` with `--repeat-code`), through
   `CodeRunner([add]).run(code)` (its default pre-flight check on) against raw Monty:
   `checkout()` plus `feed_run` of the same code on a `pydantic_monty.Monty` pool (the
   baseline of benchmarks/bench_core.py), interleaved in blocks of 20 calls.

Rows marked "info" have no target: agent-tools with `preflight="off"` (its pre-flight
check off: where the time of agent-tools goes), with `stateful=True` (the harness
keeps a REPL per run, agent-tools by default does not) and with `stream_events=False`
(its live events kept out of pydantic-ai's event stream, which the harness does not
feed: what pydantic-ai's handling of two events per host call costs), raw Monty with its type
checker on against a stub of `add` (what Monty's own check costs), and in a and b a
floor: the same agent with a plain async `run_code(code) -> 45` tool that does nothing,
what pydantic-ai itself costs per step (the same for both libraries), with agent-tools'
figure net of it against the harness's net of it. Nothing asserts:
each target is printed as met or missed, and the script exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import importlib.metadata
import itertools
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import pydantic_monty
from bench_core import Row, print_markdown, print_table  # benchmarks/ is on the path when run
from pydantic_ai import Agent, Tool
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

import agent_tools

try:
    # Not installed in the project's own venv, where pyright checks this file.
    from pydantic_ai_harness import CodeMode  # pyright: ignore[reportMissingImports, reportUnknownVariableType]
except ImportError as exc:  # pragma: no cover - setup error
    raise SystemExit(
        "pydantic-ai-harness is not installed in this Python. Set up its venv first (see the "
        f"docstring of {__file__}):\n"
        "    python3 -m venv /work/bench-harness-venv\n"
        "    /work/bench-harness-venv/bin/pip install -e . -r benchmarks/requirements-harness.txt"
    ) from exc

T = TypeVar("T")

TOOL = "run_code"
CODE_ARG = "code"
HOST_CALLS = 10
EXPECTED = 45
CODE_OURS_MIXED = "t = 0\nfor i in range(5):\n    t = add(t, i)\n    t = add_async(t, i + 5)\nt"
CODE_HARNESS_MIXED = (
    "t = 0\nfor i in range(5):\n    t = await add(a=t, b=i)\n    t = await add_async(a=t, b=i + 5)\nt"
)
CODE_OURS_SYNC = "t = 0\nfor i in range(10):\n    t = add(t, i)\nt"
CODE_HARNESS_SYNC = "t = 0\nfor i in range(10):\n    t = await add(a=t, b=i)\nt"
SNIPPETS: dict[str, str] = {"ours": CODE_OURS_SYNC, "harness": CODE_HARNESS_SYNC}
"""The snippets the scripted model sends (`--functions mixed`: the MIXED pair)."""
LATER_CALLS = 6
BURST_RUNS = 50
BURST_CALLS = 2
TRIVIAL = "1 + 2"
TRIVIAL_STUBS = "def add(a: int, b: int) -> int:\n    ...\n"

TARGET_FIRST = 0.3
TARGET_LATER = 0.3
TARGET_THROUGHPUT = 3.0
TARGET_TRIVIAL = 2.0

OURS = "agent-tools"
HARNESS = "harness"
OURS_NO_TC = "agent-tools preflight=off"
OURS_STATEFUL = "agent-tools stateful=True"
OURS_NO_STREAM = "agent-tools stream_events=False"
FLOOR = "floor: a no-op run_code tool"


# -- the host functions -----------------------------------------------------------------

host_calls = 0
"""Calls the two functions below have received, to check each run made its 10 per snippet."""


def add(a: int, b: int) -> int:
    """Return a + b."""
    global host_calls
    host_calls += 1
    return a + b


async def add_async(a: int, b: int) -> int:
    """Return a + b, asynchronously."""
    global host_calls
    host_calls += 1
    return a + b


# -- settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    warmup_runs: int
    first_runs: int
    later_runs: int
    block: int
    burst_warmup: int
    burst_rounds: int
    trivial_iterations: int
    trivial_block: int


QUICK = Settings(
    warmup_runs=2,
    first_runs=6,
    later_runs=4,
    block=2,
    burst_warmup=1,
    burst_rounds=1,
    trivial_iterations=40,
    trivial_block=10,
)
FULL = Settings(
    warmup_runs=4,
    first_runs=80,
    later_runs=50,
    block=4,
    burst_warmup=1,
    burst_rounds=7,
    trivial_iterations=600,
    trivial_block=20,
)


class BenchError(RuntimeError):
    """A run did not do what the benchmark asked: its timing cannot count."""


# -- the scripted model ---------------------------------------------------------------

_serials = itertools.count(1)
"""Numbers that make each snippet's text new (`serial = N` first), as a model's code is."""

_marks: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("marks", default=None)
"""Where the model function stamps its entry and return times, when a run is timed per call."""


def _parse_ours(content: Any) -> Any:
    """agent-tools answers with JSON text: `{"result": ...}`."""
    if not isinstance(content, str):
        raise BenchError(f"agent-tools returned {content!r}, expected JSON text")
    return json.loads(content).get("result")


def _parse_harness(content: Any) -> Any:
    """The harness answers with the value itself."""
    return content


def _wanted_calls(messages: list[ModelMessage]) -> int:
    first = messages[0]
    assert isinstance(first, ModelRequest)
    for part in first.parts:
        if isinstance(part, UserPromptPart) and isinstance(part.content, str):
            return int(part.content.removeprefix("calls="))
    raise BenchError("no `calls=N` prompt")


@dataclass
class Script:
    """The scripted model of one library: N `run_code` calls of `code`, then a text."""

    code: str
    parse: Callable[[Any], Any]
    repeat_code: bool = False
    description_chars: int = 0
    arguments: list[str] = field(default_factory=list[str])

    def check_tools(self, info: AgentInfo) -> None:
        tools = {tool.name: tool for tool in info.function_tools}
        if list(tools) != [TOOL]:
            raise BenchError(f"the model sees tools {list(tools)}, expected only {TOOL!r}")
        properties: dict[str, Any] = tools[TOOL].parameters_json_schema.get("properties", {})
        if CODE_ARG not in properties:
            raise BenchError(f"{TOOL} takes {list(properties)}, no {CODE_ARG!r}")
        self.description_chars = len(tools[TOOL].description or "")
        self.arguments = list(properties)

    async def respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        marks = _marks.get()
        if marks is not None:
            marks.append(time.perf_counter())
        if len(messages) == 1:
            self.check_tools(info)
        else:  # the previous step's tool call must have come back as 45
            request = messages[-1]
            assert isinstance(request, ModelRequest)
            for part in request.parts:
                # A retry (a `ToolReturnPart` whose outcome is "retried", or an older
                # `RetryPromptPart`) means the code failed: the run cannot count.
                if not isinstance(part, ToolReturnPart) or part.outcome != "success":
                    raise BenchError(f"{TOOL} did not succeed: {part!r:.600}")
                try:
                    value = self.parse(part.content)
                except ValueError as error:
                    raise BenchError(f"{TOOL} returned {part.content!r:.600}: {error}") from error
                if value != EXPECTED:
                    raise BenchError(f"{TOOL} returned {part.content!r:.600}, expected {EXPECTED}")
        done = sum(
            1
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, ToolReturnPart) and part.tool_name == TOOL and part.outcome == "success"
        )
        if done < _wanted_calls(messages):
            code = self.code if self.repeat_code else f"serial = {next(_serials)}\n{self.code}"
            response = ModelResponse(parts=[ToolCallPart(TOOL, {CODE_ARG: code})])
        else:
            response = ModelResponse(parts=[TextPart(f"done {done}")])
        if marks is not None:
            marks.append(time.perf_counter())
        return response


@dataclass
class Contender:
    name: str
    agent: Agent[None, str]
    script: Script
    host_calls_per_call: int = HOST_CALLS

    async def run(self, calls: int) -> Any:
        return await self.agent.run(f"calls={calls}")


async def noop_run_code(code: str) -> int:
    """What pydantic-ai costs per step with a tool that does nothing: the floor under
    both libraries' figures in a and b."""
    return EXPECTED


def contenders(repeat_code: bool) -> dict[str, Contender]:
    functions = [add, add_async]
    made: dict[str, Contender] = {}
    for name, code, parse in [
        (OURS, SNIPPETS["ours"], _parse_ours),
        (HARNESS, SNIPPETS["harness"], _parse_harness),
        (OURS_NO_TC, SNIPPETS["ours"], _parse_ours),
        (OURS_STATEFUL, SNIPPETS["ours"], _parse_ours),
        (OURS_NO_STREAM, SNIPPETS["ours"], _parse_ours),
        (FLOOR, SNIPPETS["ours"], _parse_harness),
    ]:
        script = Script(code, parse, repeat_code)
        model = FunctionModel(script.respond, model_name=f"scripted-{name}")
        if name == FLOOR:
            floor = Agent(model, toolsets=[FunctionToolset([Tool(noop_run_code, name=TOOL)])])
            made[name] = Contender(name, floor, script, host_calls_per_call=0)
            continue
        if name == HARNESS:
            code_mode = cast("AbstractCapability[Any]", CodeMode())  # at its defaults
            agent: Agent[None, str] = Agent(
                model, toolsets=[FunctionToolset(functions)], capabilities=[code_mode]
            )
        else:
            options: dict[str, Any] = {}
            if name == OURS_NO_TC:
                options["preflight"] = "off"
            if name == OURS_STATEFUL:
                options["stateful"] = True
            if name == OURS_NO_STREAM:
                options["stream_events"] = False
            agent = Agent(model, toolsets=[agent_tools.CodeToolset(functions, **options)])
        made[name] = Contender(name, agent, script)
    return made


def check_run(result: Any, calls: int, what: str) -> None:
    """A finished run: its final text and its tool returns (each checked by the model)."""
    if result.output != f"done {calls}":
        raise BenchError(f"{what}: final output {result.output!r}, expected 'done {calls}'")
    returns = [
        part
        for message in result.all_messages()
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_name == TOOL and part.outcome == "success"
    ]
    if len(returns) != calls:
        raise BenchError(f"{what}: {len(returns)} {TOOL} returns, expected {calls}")


def check_host_calls(made: int, expected: int, what: str) -> None:
    if made != expected:
        raise BenchError(f"{what}: {made} host calls, expected {expected}")


# -- timing helpers -------------------------------------------------------------------


async def interleaved(
    runners: dict[str, Callable[[], Awaitable[T]]], repetitions: int, block: int
) -> dict[str, list[T]]:
    """Run each runner `repetitions` times, in blocks of `block`, rotating which runner
    goes first from one block to the next (as benchmarks/bench_core.py does)."""
    samples: dict[str, list[T]] = {name: [] for name in runners}
    names = list(runners)
    for index in range(-(-repetitions // block)):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            count = min(block, repetitions - len(samples[name]))
            for _ in range(count):
                samples[name].append(await runners[name]())
    return samples


def interleaved_sync(
    runners: dict[str, Callable[[], object]], repetitions: int, block: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for index in range(-(-repetitions // block)):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            for _ in range(min(block, repetitions - len(samples[name]))):
                started = time.perf_counter()
                runners[name]()
                samples[name].append(time.perf_counter() - started)
    return samples


def p50(values: list[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class Timed:
    """One checked agent run: the gap before each model step after the first, the time
    pydantic-ai spent executing each `run_code` call, and the whole run."""

    gaps: list[float]
    whole: float
    tools: list[float] = field(default_factory=lambda: [])


_tool_times: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("tool_times", default=None)


def _time_run_code_executions() -> None:
    """Time every execution of a `run_code` call by pydantic-ai's tool manager (the tool
    itself, its result handling and the hooks around it; not the validation of its
    arguments, nor the model step): the harness's nested host calls go through the
    same manager under their own names and are not counted."""
    from pydantic_ai.tool_manager import ToolManager

    execute = ToolManager.execute_tool_call

    async def timed_execute(self: Any, validated: Any, *args: Any, **kwargs: Any) -> Any:
        times = _tool_times.get()
        if times is None or validated.call.tool_name != TOOL:
            return await execute(self, validated, *args, **kwargs)
        started = time.perf_counter()
        try:
            return await execute(self, validated, *args, **kwargs)
        finally:
            times.append(time.perf_counter() - started)

    ToolManager.execute_tool_call = timed_execute  # type: ignore[method-assign]


async def timed_run(contender: Contender, calls: int) -> Timed:
    marks: list[float] = []
    tools: list[float] = []
    token, tools_token = _marks.set(marks), _tool_times.set(tools)
    before = host_calls
    try:
        started = time.perf_counter()
        result = await contender.run(calls)
        whole = time.perf_counter() - started
    finally:
        _marks.reset(token)
        _tool_times.reset(tools_token)
    check_run(result, calls, contender.name)
    check_host_calls(host_calls - before, calls * contender.host_calls_per_call, contender.name)
    # marks: entry, return, entry, return, ... ; the gap k is entry[k+1] - return[k]
    if len(marks) != 2 * (calls + 1):
        raise BenchError(f"{contender.name}: {len(marks) // 2} model steps, expected {calls + 1}")
    gaps = [marks[2 * k + 2] - marks[2 * k + 1] for k in range(calls)]
    if contender.host_calls_per_call and len(tools) != calls:
        raise BenchError(f"{contender.name}: {len(tools)} run_code executions timed, expected {calls}")
    return Timed(gaps, whole, tools)


# -- the results table ----------------------------------------------------------------


def time_rows(
    section: str,
    values: dict[str, float],
    unit: str,
    target: float,
    *,
    scale: float = 1e3,
) -> list[Row]:
    """Rows of times (lower is better): the harness, ours against it with the target,
    then the informational variants against the harness."""
    harness = values[HARNESS]
    ratio = values[OURS] / harness
    rows = [
        Row(section, HARNESS, harness * scale, unit),
        Row(
            section,
            OURS,
            values[OURS] * scale,
            unit,
            ratio,
            HARNESS,
            f"<= {target}x {HARNESS}",
            ratio <= target,
        ),
    ]
    for name in (OURS_NO_TC, OURS_STATEFUL, OURS_NO_STREAM):
        if name in values:
            rows.append(
                Row(section, f"{name} (info)", values[name] * scale, unit, values[name] / harness, HARNESS)
            )
    if FLOOR in values:
        floor = values[FLOOR]
        rows += [
            Row(section, f"{FLOOR} (info)", floor * scale, unit, floor / harness, HARNESS),
            Row(
                section,
                f"{OURS} net of the floor (info)",
                (values[OURS] - floor) * scale,
                unit,
                (values[OURS] - floor) / (harness - floor),
                f"{HARNESS} net",
            ),
        ]
    return rows


# -- the measurements -----------------------------------------------------------------


def own_row(section: str, own: dict[str, float], target: float) -> Row:
    """run_code's own execution (pydantic-ai's execution of the tool call, without the
    model step and the rest of pydantic-ai's work for a step): ours against the harness's."""
    ratio = own[OURS] / own[HARNESS]
    return Row(
        section,
        f"{OURS}, run_code's own execution (harness: {own[HARNESS] * 1e3:.2f} ms)",
        own[OURS] * 1e3,
        "ms",
        ratio,
        HARNESS,
        f"<= {target}x {HARNESS}",
        ratio <= target,
    )


async def bench_first(made: dict[str, Contender], settings: Settings) -> list[Row]:
    def runner(contender: Contender) -> Callable[[], Awaitable[Timed]]:
        return lambda: timed_run(contender, 1)

    runners = {name: runner(c) for name, c in made.items()}
    await interleaved(runners, settings.warmup_runs, 1)
    samples = await interleaved(runners, settings.first_runs, settings.block)
    first = {name: p50([s.gaps[0] for s in values]) for name, values in samples.items()}
    whole = {name: p50([s.whole for s in values]) for name, values in samples.items()}
    section = "a. first run_code call"
    rows = time_rows(section, first, "ms", TARGET_FIRST)
    own = {
        name: p50([s.tools[0] for s in values]) for name, values in samples.items() if name in (OURS, HARNESS)
    }
    rows.append(own_row(section, own, TARGET_FIRST))
    whole_ratio = whole[OURS] / whole[HARNESS]
    rows += [
        Row(section, f"{HARNESS}, whole 1-call agent run (info)", whole[HARNESS] * 1e3, "ms"),
        Row(section, f"{OURS}, whole 1-call agent run (info)", whole[OURS] * 1e3, "ms", whole_ratio, HARNESS),
    ]
    return rows


async def bench_later(made: dict[str, Contender], settings: Settings) -> list[Row]:
    def runner(contender: Contender) -> Callable[[], Awaitable[Timed]]:
        return lambda: timed_run(contender, LATER_CALLS)

    runners = {name: runner(c) for name, c in made.items()}
    await interleaved(runners, max(1, settings.warmup_runs // 2), 1)
    samples = await interleaved(runners, settings.later_runs, settings.block)
    later = {name: p50([statistics.mean(s.gaps[1:]) for s in values]) for name, values in samples.items()}
    whole = {name: p50([s.whole for s in values]) for name, values in samples.items()}
    section = f"b. calls 2..{LATER_CALLS}, per call"
    rows = time_rows(section, later, "ms", TARGET_LATER)
    own = {
        name: p50([statistics.mean(s.tools[1:]) for s in values])
        for name, values in samples.items()
        if name in (OURS, HARNESS)
    }
    rows.append(own_row(section, own, TARGET_LATER))
    rows += [
        Row(section, f"{HARNESS}, whole {LATER_CALLS}-call agent run (info)", whole[HARNESS] * 1e3, "ms"),
        Row(
            section,
            f"{OURS}, whole {LATER_CALLS}-call agent run (info)",
            whole[OURS] * 1e3,
            "ms",
            whole[OURS] / whole[HARNESS],
            HARNESS,
        ),
    ]
    return rows


async def bench_throughput(made: dict[str, Contender], settings: Settings) -> list[Row]:
    def runner(contender: Contender) -> Callable[[], Awaitable[float]]:
        async def burst() -> float:
            before = host_calls
            started = time.perf_counter()
            results = await asyncio.gather(*(contender.run(BURST_CALLS) for _ in range(BURST_RUNS)))
            elapsed = time.perf_counter() - started
            for result in results:
                check_run(result, BURST_CALLS, contender.name)
            check_host_calls(host_calls - before, BURST_RUNS * BURST_CALLS * HOST_CALLS, contender.name)
            return elapsed

        return burst

    chosen = [OURS, HARNESS, OURS_NO_TC, OURS_NO_STREAM]
    runners = {name: runner(made[name]) for name in chosen}
    await interleaved(runners, settings.burst_warmup, 1)
    samples = await interleaved(runners, settings.burst_rounds, 1)
    rate = {name: BURST_RUNS / p50(values) for name, values in samples.items()}
    section = f"c. {BURST_RUNS} concurrent runs x {BURST_CALLS} calls"
    ratio = rate[OURS] / rate[HARNESS]
    return [
        Row(section, HARNESS, rate[HARNESS], "runs/s"),
        Row(
            section,
            OURS,
            rate[OURS],
            "runs/s",
            ratio,
            HARNESS,
            f">= {TARGET_THROUGHPUT}x {HARNESS}",
            ratio >= TARGET_THROUGHPUT,
        ),
        *(
            Row(section, f"{name} (info)", rate[name], "runs/s", rate[name] / rate[HARNESS], HARNESS)
            for name in (OURS_NO_TC, OURS_NO_STREAM)
        ),
    ]


def trivial_code(repeat_code: bool) -> tuple[str, int]:
    """The trivial snippet and its value: `1 + 2`, or `N + 2` with a new N each time."""
    if repeat_code:
        return TRIVIAL, 3
    n = next(_serials)
    return f"{n} + 2", n + 2


def bench_trivial(settings: Settings, repeat_code: bool) -> list[Row]:
    runner = agent_tools.CodeRunner([add])
    with pydantic_monty.Monty() as pool:

        def raw() -> object:
            code, expected = trivial_code(repeat_code)
            with pool.checkout() as session:
                value = session.feed_run(code)
            if value != expected:
                raise BenchError(f"raw monty {code!r} returned {value!r}")
            return value

        def raw_checked() -> object:
            code, expected = trivial_code(repeat_code)
            with pool.checkout(type_check=True, type_check_stubs=TRIVIAL_STUBS) as session:
                value = session.feed_run(code)
            if value != expected:
                raise BenchError(f"raw monty + type check {code!r} returned {value!r}")
            return value

        def ours() -> object:
            code, expected = trivial_code(repeat_code)
            reply = runner.run(code)
            if not reply.ok or _parse_ours(reply.text) != expected:
                raise BenchError(f"CodeRunner.run({code!r}) answered {reply.text!r}")
            return reply

        runners: dict[str, Callable[[], object]] = {
            "raw": raw,
            "ours": ours,
            "raw + type check": raw_checked,
        }
        interleaved_sync(runners, 30, 10)  # warm-up
        samples = interleaved_sync(runners, settings.trivial_iterations, settings.trivial_block)
    value = {name: p50(values) for name, values in samples.items()}
    ratio = value["ours"] / value["raw"]
    section = f"d. trivial `{TRIVIAL if repeat_code else 'N + 2'}`"
    return [
        Row(section, "raw monty checkout + feed_run", value["raw"] * 1e6, "us"),
        Row(
            section,
            f"{OURS} CodeRunner([add]).run",
            value["ours"] * 1e6,
            "us",
            ratio,
            "raw",
            f"<= {TARGET_TRIVIAL}x raw",
            ratio <= TARGET_TRIVIAL,
        ),
        Row(
            section,
            "raw monty + type check against add's stub (info)",
            value["raw + type check"] * 1e6,
            "us",
            value["raw + type check"] / value["raw"],
            "raw",
        ),
    ]


# -- main -----------------------------------------------------------------------------


def machine_info() -> list[tuple[str, str]]:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        ("cpu count", str(os.cpu_count())),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("agent-tools", agent_tools.__version__),
        ("pydantic-ai-harness", importlib.metadata.version("pydantic-ai-harness")),
        ("pydantic-ai-slim", importlib.metadata.version("pydantic-ai-slim")),
        ("pydantic-monty", importlib.metadata.version("pydantic-monty")),
        ("agent-tools tree", source_state()),
        ("load average", load),
    ]


def source_state() -> str:
    """The commit of the agent-tools checkout, and whether agent_tools/ has changes on top."""
    root = Path(agent_tools.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "agent_tools"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit}" + (f" + {len(changes)} changed files in agent_tools/" if changes else "")


async def bench_agents(settings: Settings, repeat_code: bool) -> tuple[list[Row], dict[str, Contender]]:
    made = contenders(repeat_code)
    rows = await bench_first(made, settings)
    rows += await bench_later(made, settings)
    rows += await bench_throughput(made, settings)
    return rows, made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few repetitions, for a smoke run")
    parser.add_argument(
        "--repeat-code",
        action="store_true",
        help="send the very same snippet text every time (default: each snippet is new text, "
        "as a model's code is, so no cache keyed on the text can answer it)",
    )
    parser.add_argument(
        "--functions",
        choices=("sync", "mixed"),
        default="sync",
        help="the snippet's 10 host calls: all to the sync `add` (default), or 5 to `add` and 5 "
        "to the async `add_async`",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.functions == "mixed":
        SNIPPETS.update(ours=CODE_OURS_MIXED, harness=CODE_HARNESS_MIXED)

    flags = [flag for flag, on in [("--quick", args.quick), ("--repeat-code", args.repeat_code)] if on]
    flags.append(f"--functions {args.functions}")
    print("# agent-tools vs pydantic-ai-harness CodeMode" + (f" ({' '.join(flags)})" if flags else ""))
    for key, value in machine_info():
        print(f"{key:>20}: {value}")
    started = time.perf_counter()
    # The trivial snippet first, the concurrent runs last: a burst leaves worker processes
    # and load behind it.
    trivial_rows = bench_trivial(settings, args.repeat_code)
    _time_run_code_executions()
    rows, made = asyncio.run(bench_agents(settings, args.repeat_code))
    rows += trivial_rows
    elapsed = time.perf_counter() - started

    print()
    for name in (OURS, HARNESS):
        script = made[name].script
        print(
            f"{name:>20}: tool {TOOL}({', '.join(script.arguments)}), "
            f"description {script.description_chars:,} chars"
        )
    print()
    print_table(rows)
    print()
    print_markdown(rows)
    print()
    print(f"(took {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
