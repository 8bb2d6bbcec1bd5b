"""Live run events: emitted as things happen, in order, redacted and cut, none lost
under load, from every face (the template API, `CodeRunner`, pydantic-ai's event
stream and OpenTelemetry spans, the chat CLI)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent, AgentRunResultEvent
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import DeltaToolCall, FunctionModel

import agent_tools as at
from agent_tools.adapters.pydantic_ai import RunCodeEvent

SECRET = "sk-live-abcdef0123456789"


def add(a: int, b: int) -> int:
    return a + b


def fail(x: int) -> int:
    raise ValueError(f"no {x}")


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[None]:
    at.set_approval_store(None)
    yield
    at.set_approval_store(None)


def kinds(events: list[at.RunEvent]) -> list[str]:
    return [e.kind for e in events]


# -- order and content -----------------------------------------------------------------------------


def test_events_come_in_order_as_things_happen() -> None:
    seen: list[tuple[str, float]] = []
    events: list[at.RunEvent] = []

    def slow_add(a: int, b: int) -> int:
        seen.append(("slow_add ran", time.time()))
        return a + b

    template = at.orchestrator_from_str(
        "print('start')\nx = slow_add(1, 2)\nprint('mid')\ny = add(x, 3)\ny",
        inputs={},
        output=int,
        tasks=[slow_add, add],
    )
    record = at.run(template, on_event=events.append)
    assert record.result == 6
    assert kinds(events) == [
        "run_started",
        "printed",
        "call_started",
        "call_finished",
        "printed",
        "call_started",
        "call_finished",
        "run_finished",
    ]
    assert len({e.run_id for e in events}) == 1
    assert [e.elapsed for e in events] == sorted(e.elapsed for e in events)
    started, first = events[0], events[2]
    assert isinstance(started, at.RunStarted) and "slow_add(1, 2)" in started.code
    assert started.limits["timeout_ms"] == 30_000
    assert isinstance(first, at.CallStarted) and (first.index, first.function, first.args) == (
        0,
        "slow_add",
        (1, 2),
    )
    assert first.at <= seen[0][1]  # announced before the function ran
    finished = events[3]
    assert (
        isinstance(finished, at.CallFinished)
        and finished.ok
        and finished.result == 3
        and finished.duration >= 0
    )
    assert [e.text for e in events if isinstance(e, at.Printed)] == ["start\n", "mid\n"]
    last = events[-1]
    assert isinstance(last, at.RunFinished)
    assert (last.status, last.result, last.calls) == ("ok", 6, 2)


def test_a_failing_call_and_a_failing_run() -> None:
    events: list[at.RunEvent] = []
    template = at.orchestrator_from_str(
        "try:\n    fail(1)\nexcept ValueError:\n    pass\nfail(2)", inputs={}, output=int, tasks=[fail]
    )
    with pytest.raises(at.HostFunctionError):
        at.run(template, on_event=events.append)
    finished = [e for e in events if isinstance(e, at.CallFinished)]
    assert [(f.index, f.ok, f.error) for f in finished] == [
        (0, False, "ValueError: no 1"),
        (1, False, "ValueError: no 2"),
    ]
    attempt = next(e for e in events if isinstance(e, at.AttemptFailed))
    assert (attempt.attempt, attempt.retrying) == (1, False) and "no 2" in attempt.error
    last = events[-1]
    assert isinstance(last, at.RunFinished) and last.status == "failed" and last.calls == 2
    assert last.error is not None and last.error.startswith("HostFunctionError")


def test_retries_announce_each_failed_attempt_and_indexes_go_on() -> None:
    tries: list[int] = []

    def flaky(x: int) -> int:
        tries.append(x)
        if len(tries) < 3:
            raise ConnectionError("flaky")
        return x

    events: list[at.RunEvent] = []
    template = at.orchestrator_from_str("flaky(7)", inputs={}, output=int, tasks=[flaky], retries=2)
    assert at.run(template, on_event=events.append).result == 7
    failed = [e for e in events if isinstance(e, at.AttemptFailed)]
    assert [(f.attempt, f.retrying) for f in failed] == [(1, True), (2, True)]
    assert [e.index for e in events if isinstance(e, at.CallStarted)] == [0, 1, 2]
    assert events[-1].kind == "run_finished" and events[-1].status == "ok"  # type: ignore[attr-defined]


def test_a_limit_is_announced() -> None:
    events: list[at.RunEvent] = []
    template = at.orchestrator_from_str("while True:\n    pass", inputs={}, output=int, timeout_ms=200)
    with pytest.raises(at.TimeLimitError):
        at.run(template, on_event=events.append)
    assert kinds(events) == ["run_started", "limit_hit", "attempt_failed", "run_finished"]
    hit = events[1]
    assert isinstance(hit, at.LimitHit) and hit.limit == "TimeLimitError"


def test_a_pause_and_the_resume_emit_their_events() -> None:
    @at.requires_approval
    def refund(order_id: int) -> str:
        return "refunded"

    events: list[at.RunEvent] = []
    template = at.orchestrator_from_str("add(1, 2)\nrefund(7)", inputs={}, output=str, tasks=[add, refund])
    record = at.run(template, on_event=events.append)
    assert kinds(events)[-2:] == ["paused", "run_finished"]
    paused = events[-2]
    assert (
        isinstance(paused, at.Paused) and paused.function == "refund" and paused.arguments == {"order_id": 7}
    )
    assert record.pending is not None and paused.token == record.pending.token
    assert events[-1].status == "waiting for approval"  # type: ignore[attr-defined]
    resumed: list[at.RunEvent] = []
    at.resume(paused.token, approve=True, on_event=resumed.append)
    assert kinds(resumed) == ["run_started", "call_started", "call_finished", "run_finished"]
    assert [e.index for e in resumed if isinstance(e, at.CallStarted)] == [
        1
    ]  # after the call before the pause


def test_values_are_redacted_and_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_KEY", SECRET)

    def echo(text: str) -> str:
        return text + " " + os.environ["SHOP_KEY"]

    def big() -> str:
        return "y" * 100_000

    code = f"import os\nk = os.getenv('SHOP_KEY')\nprint('key', k)\necho(k)\nb = big()\n'{SECRET}' == k"
    template = at.orchestrator_from_str(
        code, inputs={}, output=bool, tasks=[echo, big], secrets=[at.Secret(key="SHOP_KEY")]
    )
    events: list[at.RunEvent] = []
    assert at.run(template, on_event=events.append).result is True
    text = repr(events)
    assert SECRET not in text
    assert "[secret SHOP_KEY]" in text
    big_result = next(e for e in events if isinstance(e, at.CallFinished) and e.function == "big")
    assert len(repr(big_result.result)) < at.base.events.EVENT_VALUE_BYTES + 200


def test_a_listener_that_raises_changes_nothing() -> None:
    def broken(event: at.RunEvent) -> None:
        raise RuntimeError("listener bug")

    template = at.orchestrator_from_str("add(1, 2)", inputs={}, output=int, tasks=[add])
    assert at.run(template, on_event=broken).result == 3


def test_a_nested_run_does_not_emit_into_the_outer_listener() -> None:
    inner = at.orchestrator_from_str("add(x, 1)", inputs={"x": int}, output=int, tasks=[add])

    def nested(x: int) -> int:
        return inner(x=x)

    events: list[at.RunEvent] = []
    outer = at.orchestrator_from_str("nested(1)", inputs={}, output=int, tasks=[nested])
    assert at.run(outer, on_event=events.append).result == 2
    assert [e.function for e in events if isinstance(e, at.CallStarted)] == ["nested"]
    assert len({e.run_id for e in events}) == 1


def test_parallel_map_lanes_emit_each_call_once() -> None:
    events: list[at.RunEvent] = []
    lock = threading.Lock()

    def listener(event: at.RunEvent) -> None:
        with lock:
            events.append(event)

    template = at.orchestrator_from_str(
        "parallel_map(add, range(40), range(40))", inputs={}, output=list, tasks=[add]
    )
    assert at.run(template, on_event=listener).result == [2 * i for i in range(40)]
    started = {e.index: e for e in events if isinstance(e, at.CallStarted)}
    finished = {e.index: e for e in events if isinstance(e, at.CallFinished)}
    assert sorted(started) == sorted(finished) == list(range(40))
    position = {id(e): i for i, e in enumerate(events)}
    assert all(position[id(started[i])] < position[id(finished[i])] for i in range(40))


def test_no_event_is_lost_under_64_concurrent_runs() -> None:
    template = at.orchestrator_from_str(
        "t = 0\nfor i in range(n):\n    t = add(t, i)\nprint(t)\nt",
        inputs={"n": int},
        output=int,
        tasks=[add],
    )
    results: dict[int, list[at.RunEvent]] = {}
    errors: list[BaseException] = []

    def one(k: int) -> None:
        try:
            events: list[at.RunEvent] = []
            record = at.run(template, n=k % 7 + 3, on_event=events.append)
            assert record.result == sum(range(k % 7 + 3))
            results[k] = events
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(results) == 64
    for k, events in results.items():
        n = k % 7 + 3
        assert kinds(events) == ["run_started"] + ["call_started", "call_finished"] * n + [
            "printed",
            "run_finished",
        ]
        assert len({e.run_id for e in events}) == 1
        assert [e.index for e in events if isinstance(e, at.CallStarted)] == list(range(n))
    assert len({events[0].run_id for events in results.values()}) == 64


# -- async iterators and CodeRunner ----------------------------------------------------------------


def test_stream_yields_the_events_and_ends_with_the_outcome() -> None:
    template = at.orchestrator_from_str("print('a')\nadd(1, 2)", inputs={}, output=int, tasks=[add])
    failing = at.orchestrator_from_str("fail(1)", inputs={}, output=int, tasks=[fail])

    async def main() -> tuple[list[at.RunEvent], list[at.RunEvent]]:
        ok = [e async for e in at.stream(template)]
        bad = [e async for e in at.stream(failing)]
        return ok, bad

    ok, bad = asyncio.run(main())
    assert kinds(ok) == ["run_started", "printed", "call_started", "call_finished", "run_finished"]
    assert ok[-1].result == 3  # type: ignore[attr-defined]
    assert bad[-1].status == "failed" and "no 1" in (bad[-1].error or "")  # type: ignore[attr-defined]


def test_leaving_a_stream_early_stops_the_run() -> None:
    ran: list[int] = []

    def tick(i: int) -> int:
        ran.append(i)
        time.sleep(0.02)
        return i

    template = at.orchestrator_from_str(
        "for i in range(200):\n    tick(i)", inputs={}, output=None, tasks=[tick]
    )

    async def main() -> None:
        async for event in at.stream(template):
            if isinstance(event, at.CallFinished) and event.index == 2:
                break
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert 3 <= len(ran) < 30  # stopped soon after, not run to the end


def test_code_runner_on_event_and_stream() -> None:
    runner = at.CodeRunner([add])
    events: list[at.RunEvent] = []
    reply = runner.run("add(2, 3)", on_event=events.append)
    assert reply.ok and kinds(events) == ["run_started", "call_started", "call_finished", "run_finished"]

    async def main() -> tuple[list[at.RunEvent], at.ToolReply]:
        got = [e async for e in runner.stream("add(1, 1)")]
        more: list[at.RunEvent] = []
        reply = await runner.arun("add(4, 4)", on_event=more.append)
        assert kinds(more)[-1] == "run_finished"
        return got, reply

    got, reply = asyncio.run(main())
    assert kinds(got) == ["run_started", "call_started", "call_finished", "run_finished"]
    assert reply.text == '{"result":8}'


# -- pydantic-ai: the event stream and live spans --------------------------------------------------


def _agent(toolset: at.CodeToolset, code: str) -> Agent[None, str]:
    async def stream(messages: list[Any], info: Any) -> Any:
        if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
            yield "done"
            return
        yield {0: DeltaToolCall(name="run_code", json_args=json.dumps({"code": code}), tool_call_id="c1")}

    def respond(messages: list[Any], info: Any) -> ModelResponse:
        if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart("run_code", {"code": code}, tool_call_id="c1")])

    return Agent(FunctionModel(respond, stream_function=stream), toolsets=[toolset])


def test_pydantic_ai_event_stream_carries_the_run_events() -> None:
    live: list[at.RunEvent] = []
    agent = _agent(at.CodeToolset([add], on_event=live.append), "print('x')\nadd(1, 2) + add(3, 4)")
    seen: list[Any] = []

    async def handler(ctx: Any, events: Any) -> None:
        async for event in events:
            seen.append(event)

    asyncio.run(agent.run("go", event_stream_handler=handler))
    names = [e.kind if isinstance(e, RunCodeEvent) else type(e).__name__ for e in seen]
    start, end = names.index("FunctionToolCallEvent"), names.index("FunctionToolResultEvent")
    assert names[start + 1 : end] == [
        "run_started",
        "printed",
        "call_started",
        "call_finished",
        "call_started",
        "call_finished",
        "run_finished",
    ]
    calls = [e for e in seen if isinstance(e, RunCodeEvent) and e.kind == "call_finished"]
    assert [c.event["result"] for c in calls] == [3, 7]
    assert all(e.tool_call_id == "c1" for e in seen if isinstance(e, RunCodeEvent))
    assert kinds(live) == names[start + 1 : end]  # the toolset's own listener too
    assert isinstance(seen[start], FunctionToolCallEvent) and isinstance(seen[end], FunctionToolResultEvent)
    # Each carries exactly its event's fields, in their order, with the kind first.
    ours = [e for e in seen if isinstance(e, RunCodeEvent)]
    for mine, theirs in zip(live, ours, strict=True):
        fields = [f.name for f in dataclasses.fields(mine)]
        assert list(theirs.event) == ["kind", *fields]
        assert all(theirs.event[name] == getattr(mine, name) for name in fields)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_pydantic_ai_event_stream_keeps_every_event_of_many_calls_in_order(concurrency: int) -> None:
    """The agent's loop is woken once per batch of events, not per event: none is lost
    or reordered, with calls from the feeding thread or from fan-out lanes at once."""
    live: list[at.RunEvent] = []
    code = f"xs = parallel_map(add, list(range(150)), list(range(150)), concurrency={concurrency})\nsum(xs)"
    agent = _agent(at.CodeToolset([add], on_event=live.append), code)
    seen: list[RunCodeEvent] = []

    async def handler(ctx: Any, events: Any) -> None:
        async for event in events:
            if isinstance(event, RunCodeEvent):
                seen.append(event)

    asyncio.run(agent.run("go", event_stream_handler=handler))
    assert [e.kind for e in seen] == kinds(live)  # the stream has the listener's order
    assert seen[0].kind == "run_started" and seen[-1].kind == "run_finished"
    assert seen[-1].event["result"] == 2 * sum(range(150))
    position = {(e.kind, e.event.get("index")): n for n, e in enumerate(seen)}
    assert sorted(i for kind, i in position if kind == "call_started") == list(range(150))
    assert all(position[("call_started", i)] < position[("call_finished", i)] for i in range(150))
    results = [e.event["result"] for e in seen if e.kind == "call_finished"]
    if concurrency == 1:  # calls in item order: call i adds i to i
        assert results == [2 * i for i in range(150)]
    assert sorted(results) == [2 * i for i in range(150)]
    for e in seen:  # every field of the event, as the listener got it
        assert e.event["kind"] == e.kind and isinstance(e.event["run_id"], str)


@pytest.mark.parametrize("items", [2, 300])
def test_a_direct_tool_call_without_an_event_stream_answers_and_stops_emitting(items: int) -> None:
    """Called outside an agent run (no event stream: pydantic-ai's `emit` raises), the
    tool still answers, its own listener gets every event, and `emit` is tried once."""
    from pydantic_ai import RunContext
    from pydantic_ai.models.test import TestModel
    from pydantic_ai.usage import RunUsage

    live: list[at.RunEvent] = []
    toolset = at.CodeToolset([add], on_event=live.append)
    ctx = RunContext[Any](deps=None, model=TestModel(), usage=RunUsage())
    tried: list[object] = []
    emit = ctx.emit

    async def counting_emit(event: Any) -> Any:
        tried.append(event)
        return await emit(event)

    ctx.emit = counting_emit  # type: ignore[method-assign]
    code = f"sum(parallel_map(add, list(range({items})), list(range({items}))))"

    async def call() -> Any:
        tools = await toolset.get_tools(ctx)
        return await toolset.call_tool("run_code", {"code": code}, ctx, tools["run_code"])

    assert json.loads(asyncio.run(call())) == {"result": 2 * sum(range(items))}
    assert kinds(live).count("call_finished") == items and len(live) == 2 * items + 2
    assert len(tried) == 1


def test_pydantic_ai_event_stream_is_live_while_the_code_runs() -> None:
    """Each host call's `call_started` reaches the agent's event stream while that call
    is still running, call after call."""
    seen: dict[int, threading.Event] = {i: threading.Event() for i in range(3)}
    live: list[bool] = []

    def wait_seen(i: int) -> int:
        live.append(seen[i].wait(10))
        return i

    agent = _agent(at.CodeToolset([wait_seen]), "[wait_seen(0), wait_seen(1), wait_seen(2)]")

    async def handler(ctx: Any, events: Any) -> None:
        async for event in events:
            if isinstance(event, RunCodeEvent) and event.kind == "call_started":
                seen[event.event["args"][0]].set()

    asyncio.run(agent.run("go", event_stream_handler=handler))
    assert live == [True, True, True]


def test_host_call_spans_are_live_children_of_run_code() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from pydantic_ai import InstrumentationSettings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ended_while_running: list[int] = []

    def slow(x: int) -> int:
        # The span of the previous call has ended (it is exported) while the code still runs.
        ended_while_running.append(
            len([s for s in exporter.get_finished_spans() if s.name.startswith("host call")])
        )
        time.sleep(0.01)
        return x

    toolset = at.CodeToolset([slow])
    agent = _agent(toolset, "[slow(1), slow(2), slow(3)]\n" + "x = 1\n" * 300)
    agent.instrument = InstrumentationSettings(tracer_provider=provider)
    asyncio.run(agent.run("go"))
    spans = exporter.get_finished_spans()
    run_code = next(s for s in spans if s.name == "run_code")
    calls = [s for s in spans if s.name == "host call slow"]
    assert len(calls) == 3
    assert all(c.parent is not None and c.parent.span_id == run_code.context.span_id for c in calls)
    assert ended_while_running == [0, 1, 2]
    code = run_code.attributes["agent_tools.code"]  # type: ignore[index]
    assert isinstance(code, str) and len(code) <= 4096 + 3


@pytest.mark.parametrize("stateful", [False, True])
@pytest.mark.parametrize("listener", [False, True])
@pytest.mark.parametrize("streaming", ["handler", "run_stream_events"])
def test_stream_events_false_keeps_the_events_out_of_the_agent_stream(
    listener: bool, streaming: str, stateful: bool
) -> None:
    """`stream_events=False`: no `RunCodeEvent` in the agent's stream (read by a handler
    or by `run_stream_events`), the tool's own answer unchanged, and the toolset's
    listener, when it has one, still gets every event in order."""
    live: list[at.RunEvent] = []
    toolset = at.CodeToolset(
        [add], on_event=live.append if listener else None, stream_events=False, stateful=stateful
    )
    agent = _agent(toolset, "print('x')\nadd(1, 2) + add(3, 4)")
    seen: list[Any] = []

    async def handler(ctx: Any, events: Any) -> None:
        async for event in events:
            seen.append(event)

    async def go() -> str:
        if streaming == "handler":
            return (await agent.run("go", event_stream_handler=handler)).output
        output = ""
        async with agent.run_stream_events("go") as stream:
            async for event in stream:
                seen.append(event)
                if isinstance(event, AgentRunResultEvent):
                    output = str(event.result.output)
        return output

    assert asyncio.run(go()) == "done"
    assert not [e for e in seen if isinstance(e, RunCodeEvent)]
    results = [e for e in seen if isinstance(e, FunctionToolResultEvent)]
    assert len(results) == 1 and results[0].part.content == '{"result":10,"printed":"x\\n"}'
    if listener:
        calls = ["call_started", "call_finished"] * 2
        assert kinds(live) == ["run_started", "printed", *calls, "run_finished"]
    else:
        assert live == []


def test_stream_events_false_still_makes_the_host_call_spans() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from pydantic_ai import InstrumentationSettings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agent = _agent(at.CodeToolset([add], stream_events=False), "add(1, 2) + add(3, 4)")
    agent.instrument = InstrumentationSettings(tracer_provider=provider)
    assert asyncio.run(agent.run("go")).output == "done"
    calls = [s for s in exporter.get_finished_spans() if s.name == "host call add"]
    assert len(calls) == 2


# -- the chat CLI: a spinner while the code runs ---------------------------------------------------


def test_chat_shows_a_spinner_while_code_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pexpect = pytest.importorskip("pexpect")
    from tests import test_cli_chat as chat

    def reply(messages: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        last = messages[-1]
        if last["role"] == "tool":
            return f"The tool said {last['content']}", None
        return None, "nap(1.5)"

    monkeypatch.setattr(chat, "_reply", reply)
    server = chat.ScriptedModel()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    child = chat._spawn(
        ["--base-url", server.base_url, "--model", "scripted", "--tools", "tests.cli_tools_example:NAPPING"],
        tmp_path / "data",
    )
    term = chat.Terminal(child)
    try:
        term.expect("you> ")
        term.line("take a nap")
        term.expect("running code… 0.")
        term.expect("running code… 1.")  # the elapsed time goes on while the code runs
        term.expect("→ nap(1.5)")
        term.expect('The tool said {"result":"rested"}')
        term.expect("you> ")
        term.line("/quit")
        child.expect(pexpect.EOF, timeout=chat.TIMEOUT)
    finally:
        child.close(force=True)
        server.shutdown()
        server.server_close()
        thread.join(5)
