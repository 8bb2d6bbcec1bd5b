"""agent-tools: run the Python an LLM agent writes in the Monty sandbox.

The code can call only the functions you register. The API follows Flyte 2's
`flyte.sandbox` (`orchestrator_from_str`, `CodeTaskTemplate`, `orchestrate_local`)
and runs standalone on one machine.
"""

from .cache import Cache, set_cache_path
from .config import (
    Backoff,
    Documentation,
    RetryStrategy,
    SandboxedConfig,
    Secret,
    SerializationContext,
    Timeout,
)
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
    SecretError,
    TimeLimitError,
    TypeCheckError,
    UnknownFunctionError,
    WorkerCrashedError,
)
from .flyte_export import to_flyte
from .interface import NativeInterface
from .record import HostCall, RunRecord
from .runtime import configure, shutdown
from .template import CodeTaskTemplate, arun, orchestrate_local, orchestrator_from_str, run

__version__ = "0.1.0"

__all__ = [
    "Backoff",
    "Cache",
    "CallLimitError",
    "CodeTaskTemplate",
    "Documentation",
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
    "Secret",
    "SecretError",
    "SerializationContext",
    "TimeLimitError",
    "Timeout",
    "TypeCheckError",
    "UnknownFunctionError",
    "WorkerCrashedError",
    "__version__",
    "arun",
    "configure",
    "orchestrate_local",
    "orchestrator_from_str",
    "run",
    "set_cache_path",
    "shutdown",
    "to_flyte",
]
