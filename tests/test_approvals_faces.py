"""Approvals through every face: pydantic-ai (an agent run ends with
`DeferredToolRequests`, the next run resumes the same sandbox run), the OpenAI SDK
(the real `openai` client against a scripted server on loopback), an MCP server
over stdio (the official SDK), and the chat CLI in a real terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, RunContext, Tool, ToolDenied
from pydantic_ai.exceptions import ApprovalRequired
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

import agent_tools as at
from agent_tools.adapters.openai import CodeTool, PendingToolCall

from .test_openai_tools import (
    CHAT,
    FakeOpenAI,
    chat_reply,
    client,
    function_call_item,
    run_code,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclasses.dataclass
class Shop:
    """A read and a refund that record what really ran."""

    ran: list[tuple[Any, ...]] = dataclasses.field(default_factory=list[tuple[Any, ...]])

    def read_balance(self, customer: int) -> float:
        """The customer's balance."""
        self.ran.append(("read_balance", customer))
        return 500.0

    def refund(self, order_id: int, amount: float) -> str:
        """Refund an order."""
        self.ran.append(("refund", order_id, amount))
        return f"refunded {order_id}"


PROGRAM = """\
balance = read_balance(7)
summary = []
for order_id, amount in [(7, 120.0), (8, 80.0)]:
    try:
        summary.append(refund(order_id, amount=amount))
    except PermissionError as e:
        summary.append("denied: " + str(e))
{"balance": balance, "refunds": summary}
"""


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[None]:
    at.set_approval_store(None)
    yield
    at.set_approval_store(None)


# -- pydantic-ai -----------------------------------------------------------------------------------


class Script:
    """A model that sends PROGRAM once, then answers with the tool's result."""

    def __init__(self, code: str = PROGRAM) -> None:
        self.code = code
        self.returns: list[Any] = []

    def respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        for part in last.parts:
            if isinstance(part, ToolReturnPart):
                self.returns.append(part.content)
                return ModelResponse(parts=[TextPart(f"answer: {part.content}")])
        return ModelResponse(parts=[ToolCallPart("run_code", {"code": self.code}, tool_call_id="rc1")])


def shop_agent(shop: Shop, script: Script, **toolset_options: Any) -> Agent[None, str | DeferredToolRequests]:
    toolset = at.CodeToolset(
        [shop.read_balance, Tool(shop.refund, requires_approval=True)], **toolset_options
    )
    return Agent(FunctionModel(script.respond), toolsets=[toolset], output_type=[str, DeferredToolRequests])


def test_pydantic_ai_pauses_and_resumes_the_same_sandbox_run() -> None:
    shop, script = Shop(), Script()
    agent = shop_agent(shop, script)
    first = agent.run_sync("refund the orders")
    assert isinstance(first.output, DeferredToolRequests)
    assert [c.tool_name for c in first.output.approvals] == ["run_code"]
    meta = first.output.metadata["rc1"]
    assert meta["call"] == "refund(order_id=7, amount=120.0)"
    assert meta["function"] == "refund" and meta["arguments"] == {"order_id": 7, "amount": 120.0}
    assert meta["line"] == 5
    assert [c["function"] for c in meta["calls_made"]] == ["read_balance"]
    assert shop.ran == [("read_balance", 7)]

    second = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"rc1": True}),
    )
    assert isinstance(second.output, DeferredToolRequests)  # paused again, at the second refund
    assert second.output.metadata["rc1"]["call"] == "refund(order_id=8, amount=80.0)"
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0)]

    third = agent.run_sync(
        message_history=second.all_messages(),
        deferred_tool_results=DeferredToolResults(
            approvals={"rc1": True}, metadata={"rc1": at.CodeToolset.deny("over the limit")}
        ),
    )
    assert isinstance(third.output, str)
    result = json.loads(script.returns[-1])["result"]
    assert result == {
        "balance": 500.0,
        "refunds": ["refunded 7", "denied: refund(order_id=8, amount=80.0) was not approved: over the limit"],
    }
    assert third.output.startswith("answer: ")  # the model got the code's final result
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0)]  # nothing ran twice, the denied never


def test_pydantic_ai_plain_denial_is_pydantic_ais_own() -> None:
    """`False` (or `ToolDenied`) is pydantic-ai's denial: the model reads it, and nothing
    of the paused run goes on."""
    shop, script = Shop(), Script()
    agent = shop_agent(shop, script)
    first = agent.run_sync("go")
    assert isinstance(first.output, DeferredToolRequests)
    denied = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"rc1": ToolDenied("not today")}),
    )
    assert denied.output == "answer: not today"
    assert shop.ran == [("read_balance", 7)]


def test_pydantic_ai_async_agent_run_and_the_token_in_metadata() -> None:
    shop, script = Shop(), Script()
    agent = shop_agent(shop, script)

    async def main() -> Any:
        first = await agent.run("go")
        assert isinstance(first.output, DeferredToolRequests)
        token = first.output.metadata["rc1"]["token"]
        second = await agent.run(
            message_history=first.all_messages(),
            deferred_tool_results=DeferredToolResults(
                approvals={"rc1": True}, metadata={"rc1": {"token": token}}
            ),
        )
        assert isinstance(second.output, DeferredToolRequests)
        return await agent.run(
            message_history=second.all_messages(),
            deferred_tool_results=DeferredToolResults(approvals={"rc1": True}),
        )

    final = asyncio.run(main())
    assert isinstance(final.output, str)
    assert json.loads(script.returns[-1])["result"]["refunds"] == ["refunded 7", "refunded 8"]
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0), ("refund", 8, 80.0)]


def test_pydantic_ai_a_function_raising_approval_required_pauses_and_sees_the_approval() -> None:
    seen: list[bool] = []

    def wire(ctx: RunContext[None], amount: int) -> str:
        """Wire money."""
        seen.append(ctx.tool_call_approved)
        if amount > 100 and not ctx.tool_call_approved:
            raise ApprovalRequired()
        return f"wired {amount}"

    script = Script("[wire(5), wire(500)]")
    agent = Agent(
        FunctionModel(script.respond),
        toolsets=[at.CodeToolset([wire])],
        output_type=[str, DeferredToolRequests],
    )
    first = agent.run_sync("go")
    assert isinstance(first.output, DeferredToolRequests)
    assert first.output.metadata["rc1"]["call"] == "wire(amount=500)"
    final = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"rc1": True}),
    )
    assert json.loads(script.returns[-1])["result"] == ["wired 5", "wired 500"]
    assert isinstance(final.output, str)
    assert seen == [False, False, True]  # asked once, ran once approved


def test_pydantic_ai_an_approval_required_toolset_pauses() -> None:
    shop = Shop()
    tools = FunctionToolset([shop.read_balance, shop.refund]).approval_required(
        lambda ctx, tool_def, args: tool_def.name == "refund" and args["amount"] > 100
    )
    script = Script()
    agent = Agent(
        FunctionModel(script.respond),
        toolsets=[at.CodeToolset([tools])],
        output_type=[str, DeferredToolRequests],
    )
    first = agent.run_sync("go")
    assert isinstance(first.output, DeferredToolRequests)
    assert first.output.metadata["rc1"]["call"] == "refund(order_id=7, amount=120.0)"
    agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"rc1": True}),
    )
    assert json.loads(script.returns[-1])["result"]["refunds"] == ["refunded 7", "refunded 8"]
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0), ("refund", 8, 80.0)]  # 80 needed none


def test_pydantic_ai_resumes_from_a_store_on_disk_in_a_new_toolset(tmp_path: Path) -> None:
    """As after a restart: a new agent and toolset, the same SQLite file; the paused run
    is found by its tool call id."""
    store_path = tmp_path / "paused.db"
    shop, script = Shop(), Script()
    first = shop_agent(shop, script, approval_store=at.SQLiteApprovalStore(store_path)).run_sync("go")
    assert isinstance(first.output, DeferredToolRequests)
    history = first.all_messages()
    again = shop_agent(shop, script, approval_store=at.SQLiteApprovalStore(store_path))
    second = again.run_sync(
        message_history=history, deferred_tool_results=DeferredToolResults(approvals={"rc1": True})
    )
    assert isinstance(second.output, DeferredToolRequests)
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0)]


def test_pydantic_ai_catalog_says_how_approval_works() -> None:
    toolset = at.CodeToolset([Shop().read_balance, Tool(Shop().refund, requires_approval=True)])
    description = toolset.tools["run_code"].description or ""
    assert "def refund(order_id: int, amount: float) -> str:" in description
    assert "a direct call pauses the run until a person decides" in description
    assert "raises PermissionError" in description


def test_pydantic_ai_parallel_map_over_a_tool_needing_approval_stops_the_run() -> None:
    shop = Shop()
    script = Script("parallel_map(refund, [1, 2], [5.0, 6.0])")
    replies: list[at.ToolReply] = []
    toolset = at.CodeToolset([Tool(shop.refund, requires_approval=True)], on_reply=replies.append)
    agent = Agent(FunctionModel(script.respond), toolsets=[toolset], output_type=[str, DeferredToolRequests])
    agent.run_sync("go")
    assert shop.ran == []
    assert replies and not replies[0].ok and replies[0].pending is None
    assert "which a call through parallel_map or asyncio.gather cannot wait for" in replies[0].text


# -- the OpenAI SDK --------------------------------------------------------------------------------


def answer_with_result(body: dict[str, Any]) -> dict[str, Any]:
    last = body["messages"][-1]
    return chat_reply(f"final: {last['content']}")


def openai_loop(
    tool: CodeTool, fake: FakeOpenAI, decide: list[tuple[bool, str | None]]
) -> tuple[str, list[str]]:
    """The documented loop: a `PendingToolCall` is decided, then resumed, until a message."""
    asked: list[str] = []
    messages: list[Any] = [{"role": "user", "content": "refund"}]
    with client(fake) as api:
        for _ in range(4):
            completion = api.chat.completions.create(
                model="scripted", messages=messages, tools=[tool.definition]
            )
            message = completion.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                return message.content or "", asked
            for call in message.tool_calls:
                answer = tool.handle(call)
                while isinstance(answer, PendingToolCall):
                    asked.append(answer.pending.describe())
                    approve, reason = decide.pop(0)
                    answer = tool.resume(answer, approve=approve, reason=reason)
                messages.append(answer)
    raise AssertionError("the conversation did not end")


def test_openai_chat_completions_pause_and_resume(fake: FakeOpenAI) -> None:
    shop = Shop()
    tool = CodeTool([shop.read_balance, at.requires_approval(shop.refund)])
    fake.play(CHAT, run_code("call_1", PROGRAM), answer_with_result)
    text, asked = openai_loop(tool, fake, [(True, None), (False, "too much")])
    assert asked == ["refund(order_id=7, amount=120.0)", "refund(order_id=8, amount=80.0)"]
    result = json.loads(text.removeprefix("final: "))["result"]
    assert result["refunds"] == [
        "refunded 7",
        "denied: refund(order_id=8, amount=80.0) was not approved: too much",
    ]
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0)]
    sent = fake.bodies(CHAT)[1]["messages"][-1]
    assert sent["role"] == "tool" and sent["tool_call_id"] == "call_1"


def test_openai_responses_api_and_async(fake: FakeOpenAI) -> None:
    shop = Shop()
    tool = CodeTool([shop.read_balance, at.requires_approval(shop.refund)])

    async def main() -> Any:
        answer = await tool.ahandle(function_call_item("fc_1", json.dumps({"code": PROGRAM})))
        while isinstance(answer, PendingToolCall):
            assert answer.api == "responses" and answer.call_id == "fc_1"
            answer = await tool.aresume(answer, approve=True)
        return answer

    item = asyncio.run(main())
    assert item["type"] == "function_call_output" and item["call_id"] == "fc_1"
    assert json.loads(item["output"])["result"]["refunds"] == ["refunded 7", "refunded 8"]
    assert shop.ran == [("read_balance", 7), ("refund", 7, 120.0), ("refund", 8, 80.0)]
    with pytest.raises(TypeError, match="takes the PendingToolCall"):
        tool.resume("a-token", approve=True)  # type: ignore[arg-type]


def test_openai_a_used_pending_call_is_refused(fake: FakeOpenAI) -> None:
    shop = Shop()
    tool = CodeTool([shop.read_balance, at.requires_approval(shop.refund)])
    pending = tool.handle(
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "run_code", "arguments": json.dumps({"code": PROGRAM})},
        }
    )
    assert isinstance(pending, PendingToolCall)
    tool.resume(pending, approve=False)
    with pytest.raises(at.ApprovalTokenError, match="already resumed"):
        tool.resume(pending, approve=True)
    assert shop.ran == [("read_balance", 7)]


# -- MCP -------------------------------------------------------------------------------------------


def test_mcp_tools_chosen_for_approval_pause() -> None:
    pytest.importorskip("mcp")
    from agent_tools.mcp import connect, read_only

    server = [sys.executable, str(Path(__file__).with_name("mcp_test_server.py"))]
    with connect(server, requires_approval=lambda tool: not read_only(tool)) as functions:
        by_name = {f.__name__: f for f in functions}
        code = "before = bumps()\nafter = bump()\n[before, after, bumps()]"
        template = at.orchestrator_from_str(
            code, inputs={}, output=list, tasks=[by_name["bump"], by_name["bumps"]]
        )
        record = at.run(template)
        assert record.pending is not None and record.pending.describe() == "bump()"
        assert [c.function for c in record.calls] == ["bumps"]  # the read-only tool needed none
        record = at.resume(record.pending.token, approve=True)
        assert record.result == [0, 1, 1]  # bump ran once, when approved
    with connect(server, requires_approval=True) as functions:
        template = at.orchestrator_from_str("bumps()", inputs={}, output=int, tasks=functions)
        assert at.run(template).pending is not None
    with pytest.raises(TypeError, match="requires_approval must be"):
        connect(server, requires_approval="yes")  # type: ignore[arg-type]


# -- the chat CLI ----------------------------------------------------------------------------------


def test_chat_asks_and_the_answer_resumes_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pexpect = pytest.importorskip("pexpect")
    from tests import test_cli_chat as chat

    marker = tmp_path / "ran.txt"
    code = (
        f"try:\n    out = delete_everything({str(marker)!r})\n"
        "except PermissionError as e:\n    out = 'refused: ' + str(e)\nout"
    )

    def reply(messages: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        last = messages[-1]
        if last["role"] == "tool":
            return f"The tool said {last['content']}", None
        return None, code

    monkeypatch.setattr(chat, "_reply", reply)
    server = chat.ScriptedModel()
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    child = chat._spawn(
        ["--base-url", server.base_url, "--model", "scripted", "--tools", "tests.cli_tools_example:GATED"],
        tmp_path / "data",
    )
    term = chat.Terminal(child)
    try:
        term.expect("you> ")
        term.line("clean up, please")
        term.expect(f"approve delete_everything(marker='{marker}')? [y/N]")
        assert not marker.exists()  # asked before it ran
        term.line("y")
        term.expect('The tool said {"result":"deleted"}')
        assert marker.read_text() == "ran"
        marker.unlink()
        term.expect("you> ")
        term.line("again")
        term.expect("? [y/N]")
        term.line("n")
        term.expect("refused: delete_everything(marker=")
        assert not marker.exists()
        term.expect("you> ")
        term.line("/quit")
        child.expect(pexpect.EOF, timeout=chat.TIMEOUT)
    finally:
        child.close(force=True)
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert child.exitstatus == 0, term.text[-3000:]


def test_pydantic_ai_conversations_with_the_same_tool_call_id_do_not_cross() -> None:
    """Two conversations pause the same code under the same tool call id; approving one
    goes on with that one's run only."""
    ann, bob = Shop(), Shop()
    ann_agent, bob_agent = shop_agent(ann, Script()), shop_agent(bob, Script())
    ann_first = ann_agent.run_sync("go")
    bob_first = bob_agent.run_sync("go")
    assert isinstance(ann_first.output, DeferredToolRequests)
    assert isinstance(bob_first.output, DeferredToolRequests)
    bob_agent.run_sync(
        message_history=bob_first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"rc1": True}),
    )
    assert bob.ran == [("read_balance", 7), ("refund", 7, 120.0)]
    assert ann.ran == [("read_balance", 7)]  # ann's run still waits
    ann_agent.run_sync(
        message_history=ann_first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"rc1": True}),
    )
    assert ann.ran == [("read_balance", 7), ("refund", 7, 120.0)]
