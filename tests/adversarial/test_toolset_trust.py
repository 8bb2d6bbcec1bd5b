"""What a pydantic-ai `Tool` says about itself holds inside `run_code`, failing closed.

- A tool that needs approval (`requires_approval=True`, a `prepare` that makes its
  kind "unapproved"), or a function taking a `RunContext` that raises
  `ApprovalRequired`, never runs from code without a person's approval: a direct
  call pauses the run there (the agent run ends with `DeferredToolRequests`, and
  nothing after the call runs); a call that cannot wait (through `parallel_map`, or
  a function that cannot see an approval) stops the run, whatever the code catches,
  and the model reads why. A deferred tool (`CallDeferred`, kind "external") always
  stops the run.
- A tool's `prepare` runs at every step: one it hides is neither listed nor
  callable in that step, one it keeps works, one it redescribes reads so.
- A function whose `RunContext` annotation does not resolve is refused at
  registration, as pydantic-ai refuses it.

Every case drives a real `Agent` with a scripted `FunctionModel`, checks that the
side effect did not happen, and reads the text the model got back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, RunContext, Tool
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, UserError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition

import agent_tools as at
from agent_tools.adapters.pydantic_ai import CallDeferredStop, CodeToolset
from agent_tools.tool.code_runner import ToolReply

if TYPE_CHECKING:  # only for the checker: at run time these names do not exist here
    from pydantic_ai import RunContext as LateRunContext

pytestmark = pytest.mark.usefixtures("healthy")


@dataclass
class Deps:
    allow: bool = True
    user: str = "ann"


@dataclass
class Effects:
    """What the registered functions did on the host."""

    deleted: list[int] = field(default_factory=list[int])
    logged: list[str] = field(default_factory=list[str])


@dataclass
class Transcript:
    """What the model saw: the `run_code` description at each step, and the text it
    read back after each of its `run_code` calls."""

    descriptions: list[str] = field(default_factory=list[str])
    replies: list[str] = field(default_factory=list[str])
    retried: list[bool] = field(default_factory=list[bool])
    tool_replies: list[ToolReply] = field(default_factory=list[ToolReply])
    output: Any = None


def _reply_text(part: Any) -> tuple[str, bool]:
    """What the model reads of a tool's reply, and whether it was a retry (this
    pydantic-ai sends a ModelRetry as a ToolReturnPart with outcome "retried"; older
    ones as a RetryPromptPart)."""
    if type(part).__name__ == "RetryPromptPart":
        return part.model_response(), True
    return str(part.content), getattr(part, "outcome", None) == "retried"


def drive(
    toolset: CodeToolset, *codes: str, deps: Deps | None = None, transcript: Transcript | None = None
) -> Transcript:
    """Run an agent whose model calls `run_code` with each of `codes` in turn, then
    answers "done"."""
    seen = transcript if transcript is not None else Transcript()
    toolset.on_reply = seen.tool_replies.append
    calls = 0

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal calls
        tools = {t.name: t for t in info.function_tools}
        seen.descriptions.append(tools["run_code"].description or "")
        if calls:
            request = messages[-1]
            assert isinstance(request, ModelRequest)
            text, retried = _reply_text(request.parts[0])
            seen.replies.append(text)
            seen.retried.append(retried)
        if calls < len(codes):
            calls += 1
            return ModelResponse(
                parts=[ToolCallPart("run_code", {"code": codes[calls - 1]}, tool_call_id=f"c{calls}")]
            )
        return ModelResponse(parts=[TextPart("done")])

    agent = Agent(
        FunctionModel(model), toolsets=[toolset], deps_type=Deps, output_type=[str, DeferredToolRequests]
    )
    seen.output = agent.run_sync("go", deps=deps or Deps()).output
    return seen


def assert_paused(seen: Transcript, name: str) -> None:
    """The agent run ended waiting for a person's approval of a call to `name`."""
    assert isinstance(seen.output, DeferredToolRequests), seen.output
    (call,) = seen.output.approvals
    assert call.tool_name == "run_code"
    assert seen.output.metadata[call.tool_call_id]["function"] == name
    reply = seen.tool_replies[-1]
    assert reply.pending is not None and reply.pending.function == name


def _tools(effects: Effects, *, is_async: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`delete_account` and `log`, sync or async, recording into `effects`."""
    if is_async:

        async def delete_account(user_id: int) -> str:
            """Delete a user's account for good."""
            effects.deleted.append(user_id)
            return "deleted"

        async def log(text: str) -> None:
            """Write a line to the audit log."""
            effects.logged.append(text)

        return delete_account, log

    def delete_account_sync(user_id: int) -> str:
        """Delete a user's account for good."""
        effects.deleted.append(user_id)
        return "deleted"

    def log_sync(text: str) -> None:
        """Write a line to the audit log."""
        effects.logged.append(text)

    delete_account_sync.__name__ = "delete_account"
    log_sync.__name__ = "log"
    return delete_account_sync, log_sync


def assert_stopped(seen: Transcript, name: str, *, approval: bool, raised: str | None = None) -> str:
    """The last run_code came back to the model as a retry naming the stopped call."""
    assert seen.retried[-1], seen.replies[-1]
    text = seen.replies[-1]
    if approval:
        assert f"{name} needs a person's approval" in text
        assert "cannot wait for" in text
    else:
        assert f"raised CallDeferredStop: {name} is deferred" in text
    if raised is not None:
        assert f"it raised {raised} and did not complete" in text
    elif not approval:
        assert "it was not called" in text
    if raised is not None or not approval:
        assert "the run was stopped at this call: nothing after it took effect" in text
    reply = seen.tool_replies[-1]
    assert not reply.ok
    assert isinstance(reply.error, at.HostFunctionError)
    assert isinstance(reply.error.__cause__, at.ApprovalRequested if approval else CallDeferredStop)
    assert reply.error.function == name
    return text


STOP_CODES = {
    "plain": "delete_account(1)\nlog('after')\n'finished'",
    "except Exception": "try:\n    delete_account(1)\nexcept Exception:\n    pass\nlog('after')\n'finished'",
    "bare except": "try:\n    delete_account(1)\nexcept:\n    log('caught')\nlog('after')\n'finished'",
    "except BaseException": (
        "try:\n    delete_account(1)\nexcept BaseException as e:\n    log(str(e))\nlog('after')\n'finished'"
    ),
    "in a loop": (
        "for i in [1, 2, 3]:\n    try:\n        delete_account(i)\n    except Exception:\n"
        "        log('skip')\n'finished'"
    ),
    "parallel_map": (
        "try:\n    parallel_map(delete_account, [1, 2])\nexcept Exception:\n    pass\nlog('after')"
    ),
    "parallel_map by name": "parallel_map('delete_account', [1, 2, 3], concurrency=3)",
}


# -- requires_approval -------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("code", list(STOP_CODES.values()), ids=list(STOP_CODES))
def test_a_tool_requiring_approval_never_runs_from_code(code: str, is_async: bool) -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=is_async)
    toolset = CodeToolset([Tool(delete_account, requires_approval=True), log])
    seen = drive(toolset, code)
    assert effects.deleted == []
    assert effects.logged == []  # nothing after the call, even where the code would catch it
    if "parallel_map" in code:  # cannot wait: the run stops
        assert_stopped(seen, "delete_account", approval=True)
        assert seen.output == "done"
    else:  # waits for a person
        assert_paused(seen, "delete_account")


def test_the_catalog_lists_a_tool_requiring_approval_and_says_how_it_behaves() -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)
    toolset = CodeToolset([Tool(delete_account, requires_approval=True), log])
    note = "Needs a person's approval: a direct call pauses the run until a person decides"
    for description in (toolset.tools["run_code"].description or "", drive(toolset, "1").descriptions[0]):
        assert "def delete_account(user_id: int) -> str:" in description
        assert "Delete a user's account for good." in description
        assert note in description
        assert "def log(text: str) -> None:" in description
        assert description.count("Needs a person's approval") == 1  # log is not marked


def test_the_call_before_the_pause_ran_and_a_person_decides_the_rest() -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)
    toolset = CodeToolset([Tool(delete_account, requires_approval=True), log])
    seen = drive(toolset, "log('before')\ndelete_account(7)")
    assert effects.deleted == [] and effects.logged == ["before"]
    assert_paused(seen, "delete_account")
    assert isinstance(seen.output, DeferredToolRequests)
    meta = seen.output.metadata["c1"]
    assert meta["call"] == "delete_account(user_id=7)"
    assert [c["function"] for c in meta["calls_made"]] == ["log"]


def test_a_stateful_session_pauses_too() -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)
    toolset = CodeToolset(
        [Tool(delete_account, requires_approval=True), log], stateful=True, type_check=False
    )
    seen = drive(
        toolset,
        "def wipe(i):\n    return delete_account(i)\n1",
        "try:\n    wipe(3)\nexcept Exception:\n    pass",
    )
    assert effects.deleted == []
    assert_paused(seen, "delete_account")


def test_approving_run_code_does_not_approve_the_calls_inside() -> None:
    """With run_code itself behind approval, a person approves the code; a function
    asking for its own approval still sees `tool_call_approved=False`, and the run
    waits for a second approval, of that call."""
    effects = Effects()

    def delete_account(ctx: RunContext[Deps], user_id: int) -> str:
        """Delete a user's account for good."""
        if not ctx.tool_call_approved:
            raise ApprovalRequired()
        effects.deleted.append(user_id)
        return "deleted"

    replies: list[ToolReply] = []
    toolset = CodeToolset([delete_account], on_reply=replies.append)

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(
                parts=[ToolCallPart("run_code", {"code": "delete_account(1)"}, tool_call_id="c1")]
            )
        return ModelResponse(parts=[TextPart("done")])

    agent = Agent(
        FunctionModel(model),
        toolsets=[toolset.approval_required()],
        deps_type=Deps,
        output_type=[str, DeferredToolRequests],
    )
    first = agent.run_sync("go", deps=Deps())
    assert isinstance(first.output, DeferredToolRequests)
    assert [c.tool_name for c in first.output.approvals] == ["run_code"]
    assert replies == []  # nothing ran before the approval
    second = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"c1": True}),
        deps=Deps(),
    )
    assert isinstance(second.output, DeferredToolRequests)  # the call inside waits on its own
    assert second.output.metadata["c1"]["call"] == "delete_account(user_id=1)"
    assert effects.deleted == []
    assert len(replies) == 1 and replies[0].pending is not None
    third = agent.run_sync(
        message_history=second.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"c1": True}),
        deps=Deps(),
    )
    assert third.output == "done"
    assert effects.deleted == [1]  # approved, it ran, once


# -- ApprovalRequired / CallDeferred raised at call time -------------------------


Deferral = type[ApprovalRequired] | type[CallDeferred]


def _raising(effects: Effects, exc: Deferral, *, is_async: bool, takes_ctx: bool) -> Callable[..., Any]:
    """A delete_account that raises `exc` (unless approved) before its side effect."""
    if is_async and takes_ctx:

        async def delete_ctx_async(ctx: RunContext[Deps], user_id: int) -> str:
            if not ctx.tool_call_approved:
                raise exc()
            effects.deleted.append(user_id)
            return "deleted"

        func: Callable[..., Any] = delete_ctx_async
    elif is_async:

        async def delete_async(user_id: int) -> str:
            raise exc(metadata={"user_id": user_id})

        func = delete_async
    elif takes_ctx:

        def delete_ctx(ctx: RunContext[Deps], user_id: int) -> str:
            if not ctx.tool_call_approved:
                raise exc()
            effects.deleted.append(user_id)
            return "deleted"

        func = delete_ctx
    else:

        def delete(user_id: int) -> str:
            raise exc(metadata={"user_id": user_id})

        func = delete
    func.__name__ = "delete_account"
    return func


@pytest.mark.parametrize("as_tool", [False, True], ids=["callable", "Tool"])
@pytest.mark.parametrize("takes_ctx", [False, True], ids=["plain", "ctx"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("exc", [ApprovalRequired, CallDeferred])
@pytest.mark.parametrize("code", list(STOP_CODES.values()), ids=list(STOP_CODES))
def test_a_function_raising_approval_required_or_call_deferred_never_runs_unapproved(
    code: str, exc: Deferral, is_async: bool, takes_ctx: bool, as_tool: bool
) -> None:
    effects = Effects()
    _, log = _tools(effects, is_async=False)
    delete_account = _raising(effects, exc, is_async=is_async, takes_ctx=takes_ctx)
    toolset = CodeToolset([Tool(delete_account) if as_tool else delete_account, log])
    seen = drive(toolset, code)
    assert effects.deleted == []
    assert effects.logged == []
    approval = exc is ApprovalRequired
    if approval and takes_ctx and "parallel_map" not in code:
        # It can see an approval (its RunContext): the run waits for a person.
        assert_paused(seen, "delete_account")
        return
    assert_stopped(seen, "delete_account", approval=approval, raised=exc.__name__)
    error = seen.tool_replies[-1].error
    assert error is not None
    assert isinstance(error.__cause__, BaseException)
    assert isinstance(error.__cause__.__cause__, exc)  # the original, for the host's logs


# -- prepare: the kind --------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["unapproved", "external", "output"])
def test_a_prepare_that_makes_the_tool_need_approval_or_deferred_holds_it(kind: str, is_async: bool) -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=is_async)

    async def gate(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition:
        return tool_def if ctx.deps.allow else dataclasses.replace(tool_def, kind=kind)  # type: ignore[arg-type]

    toolset = CodeToolset([Tool(delete_account, prepare=gate), log])
    seen = drive(toolset, STOP_CODES["except Exception"], deps=Deps(allow=False))
    assert effects.deleted == []
    assert effects.logged == []
    if kind == "unapproved":
        assert_paused(seen, "delete_account")
    else:
        assert_stopped(seen, "delete_account", approval=False)
    marker = (
        "Needs a person's approval" if kind == "unapproved" else "Deferred: its result comes from outside"
    )
    assert marker in seen.descriptions[0]
    # the same toolset, a run whose deps allow it: an ordinary function again
    seen = drive(toolset, "delete_account(5)", deps=Deps(allow=True))
    assert effects.deleted == [5]
    assert seen.replies[-1] == '{"result":"deleted"}'
    assert marker not in seen.descriptions[0]


# -- prepare: visibility ------------------------------------------------------------


def _hide(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition | None:
    return None


def _keep(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition | None:
    return tool_def


HIDDEN_CODES = {
    "call": "delete_account(1)",
    "caught": "try:\n    delete_account(1)\nexcept Exception:\n    pass\n'finished'",
    "parallel_map by name": "parallel_map('delete_account', [1, 2])",
}


@pytest.mark.parametrize("type_check", [True, False], ids=["type-checked", "unchecked"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("code", list(HIDDEN_CODES.values()), ids=list(HIDDEN_CODES))
def test_a_tool_its_prepare_hides_is_not_listed_and_not_callable(
    code: str, is_async: bool, type_check: bool
) -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=is_async)
    toolset = CodeToolset([Tool(delete_account, prepare=_hide), log], type_check=type_check)
    seen = drive(toolset, code)
    assert effects.deleted == []
    description = seen.descriptions[0]
    assert "delete_account" not in description
    assert "def log(text: str) -> None:" in description
    text = seen.replies[0]
    if code == HIDDEN_CODES["caught"] and not type_check:  # the code caught the NameError and went on
        assert not seen.retried[0]
        assert text == '{"result":"finished"}'
        return
    assert seen.retried[0], text
    assert "delete_account" in text
    if "parallel_map" in code or not type_check:
        assert "'delete_account' is not a registered function (registered: log)" in text
    else:
        assert "unresolved-reference" in text
    reply = seen.tool_replies[0]
    assert isinstance(reply.error, (at.UnknownFunctionError, at.TypeCheckError))


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_prepare_that_keeps_the_tool_changes_nothing(is_async: bool) -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=is_async)
    toolset = CodeToolset([Tool(delete_account, prepare=_keep), log])
    seen = drive(toolset, "log('x')\ndelete_account(4)")
    assert effects.deleted == [4]
    assert effects.logged == ["x"]
    assert seen.replies == ['{"result":"deleted"}']
    assert "def delete_account(user_id: int) -> str:" in seen.descriptions[0]
    assert seen.descriptions[0] == toolset.tools["run_code"].description


def test_a_prepare_reading_deps_differs_between_runs_of_one_toolset() -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)
    names: list[str | None] = []

    def only_if_allowed(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition | None:
        names.append(ctx.tool_name)
        return tool_def if ctx.deps.allow else None

    toolset = CodeToolset([Tool(delete_account, prepare=only_if_allowed), log], type_check=False)
    denied = drive(toolset, "delete_account(1)", deps=Deps(allow=False))
    allowed = drive(toolset, "delete_account(2)", deps=Deps(allow=True))
    denied_again = drive(toolset, "delete_account(3)", deps=Deps(allow=False))
    assert effects.deleted == [2]
    assert "delete_account" not in denied.descriptions[0]
    assert "def delete_account(user_id: int) -> str:" in allowed.descriptions[0]
    assert "delete_account" not in denied_again.descriptions[0]
    assert "'delete_account' is not a registered function" in denied.replies[0]
    assert allowed.replies[0] == '{"result":"deleted"}'
    assert "'delete_account' is not a registered function" in denied_again.replies[0]
    assert set(names) == {"delete_account"}  # the prepare gets a context named for its tool


def test_prepare_runs_at_every_step_of_one_run() -> None:
    """A prepare that allows the tool once: the second step neither lists nor runs it."""
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)

    def first_step_only(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition | None:
        return tool_def if not effects.deleted else None

    toolset = CodeToolset([Tool(delete_account, prepare=first_step_only), log], type_check=False)
    seen = drive(toolset, "delete_account(1)", "delete_account(2)")
    assert effects.deleted == [1]
    assert "def delete_account(" in seen.descriptions[0]
    assert "delete_account" not in seen.descriptions[1]
    assert seen.replies[0] == '{"result":"deleted"}'
    assert "'delete_account' is not a registered function" in seen.replies[1]


def test_a_prepare_hiding_a_tool_at_call_time_wins_over_the_listed_catalog() -> None:
    """The catalog is built when the step starts; the call checks again, so a tool
    hidden in between does not run."""
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)
    calls = 0

    def listed_then_hidden(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition | None:
        nonlocal calls
        calls += 1
        return tool_def if calls == 1 else None

    toolset = CodeToolset([Tool(delete_account, prepare=listed_then_hidden), log], type_check=False)
    seen = drive(toolset, "delete_account(1)")
    assert "def delete_account(" in seen.descriptions[0]
    assert effects.deleted == []
    assert "'delete_account' is not a registered function" in seen.replies[0]


def test_a_prepare_changing_the_description_shows_in_the_catalog() -> None:
    effects = Effects()
    delete_account, log = _tools(effects, is_async=False)

    def per_user(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition:
        return dataclasses.replace(tool_def, description=f"Delete one of {ctx.deps.user}'s accounts.")

    toolset = CodeToolset([Tool(delete_account, prepare=per_user), log])
    ann = drive(toolset, "delete_account(1)", deps=Deps(user="ann"))
    bob = drive(toolset, "delete_account(2)", deps=Deps(user="bob"))
    assert '"""Delete one of ann\'s accounts."""' in ann.descriptions[0]
    assert '"""Delete one of bob\'s accounts."""' in bob.descriptions[0]
    assert "for good" not in ann.descriptions[0] + bob.descriptions[0]
    assert effects.deleted == [1, 2]


# -- RunContext annotations that do not resolve -------------------------------------


def late_delete(ctx: LateRunContext[Deps], user_id: int) -> str:
    """Its RunContext is imported only for the type checker."""
    raise AssertionError("never registered, never called")


async def late_delete_async(ctx: LateRunContext[Deps], user_id: int) -> str:
    raise AssertionError("never registered, never called")


def _assert_unresolved(error: UserError, name: str) -> None:
    text = str(error)
    assert repr(name) in text
    assert "`LateRunContext`" in text
    assert "TYPE_CHECKING" in text
    assert "at run time" in text
    assert isinstance(error.__cause__, NameError)


def test_pydantic_ai_itself_refuses_an_unresolved_run_context() -> None:
    with pytest.raises(NameError, match="LateRunContext"):
        Tool(late_delete)
    with pytest.raises(NameError, match="LateRunContext"):
        Agent("test", deps_type=Deps, tools=[late_delete])


@pytest.mark.parametrize("func", [late_delete, late_delete_async], ids=["sync", "async"])
def test_an_unresolved_run_context_on_a_plain_function_is_refused_at_registration(
    func: Callable[..., Any],
) -> None:
    with pytest.raises(UserError) as caught:
        CodeToolset([func])
    _assert_unresolved(caught.value, func.__name__)


@pytest.mark.parametrize("takes_ctx", [True, False])
def test_an_unresolved_run_context_on_a_tool_is_refused_at_registration(takes_ctx: bool) -> None:
    # Tool(late_delete) itself raises; a Tool built from a schema skips the annotations.
    schema = {"type": "object", "properties": {"user_id": {"type": "integer"}}}
    tool = Tool.from_schema(
        late_delete, name="late_delete", description="d", json_schema=schema, takes_ctx=takes_ctx
    )
    with pytest.raises(UserError) as caught:
        CodeToolset([tool])
    _assert_unresolved(caught.value, "late_delete")


def test_an_unresolved_annotation_on_another_parameter_is_refused_too() -> None:
    def lookup(user_id: LateRunContext) -> str:  # pyright: ignore[reportMissingTypeArgument, reportUnknownParameterType]
        return "x"

    with pytest.raises(UserError) as caught:
        CodeToolset([lookup])
    _assert_unresolved(caught.value, "lookup")


def test_a_tool_whose_function_takes_a_run_context_but_says_it_does_not_is_refused() -> None:
    def whoami(ctx: RunContext[Deps], greeting: str) -> str:
        return greeting

    schema = {"type": "object", "properties": {"greeting": {"type": "string"}}}
    tool = Tool.from_schema(whoami, name="whoami", description="d", json_schema=schema, takes_ctx=False)
    with pytest.raises(UserError, match="takes_ctx=False"):
        CodeToolset([tool])
