"""agent-tools: run the Python an LLM agent writes in the Monty sandbox.

The code can call only the functions you register. The API follows Flyte 2's
`flyte.sandbox` (`orchestrator_from_str`, `CodeTaskTemplate`, `orchestrate_local`)
and runs standalone on one machine.
"""

from .config import RetryStrategy, SandboxedConfig
from .errors import (
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
    TimeLimitError,
    TypeCheckError,
    UnknownFunctionError,
    WorkerCrashedError,
)
from .interface import NativeInterface
from .record import HostCall, RunRecord
from .runtime import configure, shutdown
from .template import CodeTaskTemplate, arun, orchestrate_local, orchestrator_from_str, run

__version__ = "0.1.0"

__all__ = [
    "CallLimitError",
    "CodeTaskTemplate",
    "HostCall",
    "HostFunctionError",
    "InputValidationError",
    "MemoryLimitError",
    "NativeInterface",
    "OutputLimitError",
    "OutputValidationError",
    "RecursionLimitError",
    "ResourceLimitError",
    "RetryStrategy",
    "RunRecord",
    "SandboxError",
    "SandboxRuntimeError",
    "SandboxSyntaxError",
    "SandboxedConfig",
    "TimeLimitError",
    "TypeCheckError",
    "UnknownFunctionError",
    "WorkerCrashedError",
    "__version__",
    "arun",
    "configure",
    "orchestrate_local",
    "orchestrator_from_str",
    "run",
    "shutdown",
]
