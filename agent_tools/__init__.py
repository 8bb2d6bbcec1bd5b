"""agent-tools: run the Python an LLM agent writes in the Monty sandbox.

The code can call only the functions you register. The API follows Flyte 2's
`flyte.sandbox` (`orchestrator_from_str`, `CodeTaskTemplate`, `orchestrate_local`)
and runs standalone on one machine.
"""

from typing import TYPE_CHECKING

from agent_tools.adapters.flyte_export import to_flyte
from agent_tools.base.approval import (
    ApprovalPending,
    ApprovalRequest,
    ApprovalRequested,
    ApprovalTokenError,
    PendingApproval,
    call_approved,
    requires_approval,
)
from agent_tools.base.config import (
    Backoff,
    Documentation,
    RetryStrategy,
    SandboxedConfig,
    Secret,
    SerializationContext,
    Timeout,
)
from agent_tools.base.errors import (
    CallLimitError,
    HostFunctionError,
    InputValidationError,
    MemoryLimitError,
    OutputLimitError,
    OutputValidationError,
    RecursionLimitError,
    ResourceLimitError,
    SandboxError,
    SandboxRuntimeError,
    SandboxSyntaxError,
    SecretError,
    TimeLimitError,
    TypeCheckError,
    UnknownFunctionError,
    WorkerCrashedError,
)
from agent_tools.base.events import (
    AttemptFailed,
    CallFinished,
    CallStarted,
    LimitHit,
    Paused,
    Printed,
    RunEvent,
    RunFinished,
    RunStarted,
)
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.boundary.interface import NativeInterface
from agent_tools.sandbox.pool import configure, shutdown
from agent_tools.task.approvals import (
    ApprovalStore,
    MemoryApprovalStore,
    SQLiteApprovalStore,
    get_approval_store,
    set_approval_store,
)
from agent_tools.task.cache import Cache, set_cache_path
from agent_tools.task.orchestrator import ORCHESTRATOR_SYNTAX_PROMPT, SandboxedTaskTemplate, orchestrator
from agent_tools.task.state import SessionState
from agent_tools.task.template import (
    CodeTaskTemplate,
    aresume,
    arun,
    orchestrate_local,
    orchestrator_from_str,
    resume,
    run,
    stream,
)
from agent_tools.tool import capabilities
from agent_tools.tool.code_runner import CodeRunner, FatalToolError, ToolReply

if TYPE_CHECKING:
    from agent_tools.adapters.pydantic_ai import CodeToolset

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The pydantic-ai adapter is imported on first use: importing pydantic-ai costs
    # about a second, and most uses of the core do not need it.
    if name == "CodeToolset":
        from agent_tools.adapters.pydantic_ai import CodeToolset

        return CodeToolset
    raise AttributeError(f"module 'agent_tools' has no attribute {name!r}")


__all__ = [
    "ORCHESTRATOR_SYNTAX_PROMPT",
    "ApprovalPending",
    "ApprovalRequest",
    "ApprovalRequested",
    "ApprovalStore",
    "ApprovalTokenError",
    "AttemptFailed",
    "Backoff",
    "Cache",
    "CallFinished",
    "CallLimitError",
    "CallStarted",
    "CodeRunner",
    "CodeTaskTemplate",
    "CodeToolset",
    "Documentation",
    "FatalToolError",
    "HostCall",
    "HostFunctionError",
    "InputValidationError",
    "LimitHit",
    "MemoryApprovalStore",
    "MemoryLimitError",
    "NativeInterface",
    "OutputLimitError",
    "OutputValidationError",
    "Paused",
    "PendingApproval",
    "Printed",
    "RecursionLimitError",
    "ResourceLimitError",
    "RetryStrategy",
    "RunEvent",
    "RunFinished",
    "RunRecord",
    "RunStarted",
    "SQLiteApprovalStore",
    "SandboxError",
    "SandboxRuntimeError",
    "SandboxSyntaxError",
    "SandboxedConfig",
    "SandboxedTaskTemplate",
    "Secret",
    "SecretError",
    "SerializationContext",
    "SessionState",
    "TimeLimitError",
    "Timeout",
    "ToolReply",
    "TypeCheckError",
    "UnknownFunctionError",
    "WorkerCrashedError",
    "__version__",
    "aresume",
    "arun",
    "call_approved",
    "capabilities",
    "configure",
    "get_approval_store",
    "orchestrate_local",
    "orchestrator",
    "orchestrator_from_str",
    "requires_approval",
    "resume",
    "run",
    "set_approval_store",
    "set_cache_path",
    "shutdown",
    "stream",
    "to_flyte",
]
