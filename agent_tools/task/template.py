"""`CodeTaskTemplate` and the functions that make and run one.

A template is a code string, a typed interface and the registered functions the
code may call. Running it validates the inputs, executes the code once in a
fresh Monty session (`sandbox.execution`), validates the result and returns a `RunRecord`.
The sync face (`template(...)`, `run(...)`) runs the core on the calling thread;
the async face (`await template.aio(...)`, `execute()`) runs the same core on a
worker thread so the event loop stays free and can serve async functions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from agent_tools.base.approval import ApprovalPending
from agent_tools.base.config import RetryStrategy, SandboxedConfig, SerializationContext, require_int
from agent_tools.base.events import EventSink, RunEvent
from agent_tools.base.record import RunRecord
from agent_tools.boundary.interface import NativeInterface
from agent_tools.boundary.plain import DEFAULT_MAX_INLINE_IO_BYTES
from agent_tools.sandbox.execution import Limits, Plan
from agent_tools.sandbox.functions import HostFunction, build_stubs, register
from agent_tools.sandbox.source import dedent_source, prepare_source, wrap_map_iterables
from agent_tools.task import params
from agent_tools.task.approvals import ApprovalStore
from agent_tools.task.approvals.keep import PauseOptions
from agent_tools.task.cache import normalize_cache
from agent_tools.task.events import event_stream
from agent_tools.task.params import check
from agent_tools.task.pipeline import arun_template, run_template
from agent_tools.task.resume import aresume_template, resume_template

__all__ = [
    "CodeTaskTemplate",
    "aresume",
    "arun",
    "orchestrate_local",
    "orchestrator_from_str",
    "resume",
    "run",
    "stream",
]


def _no_func(**kwargs: Any) -> None:
    """Placeholder `func`: a code task has no Python function of its own."""


@dataclass(kw_only=True)
class CodeTaskTemplate:
    """A sandboxed task made from a code string (`flyte.sandbox.CodeTaskTemplate`).

    Made by `orchestrator_from_str`. Call it like a function (`template(x=1)`),
    await `template.aio(x=1)` from async code, or use `run(template, x=1)` for the
    full `RunRecord`.
    """

    name: str
    interface: NativeInterface
    short_name: str = ""
    task_type: str = "sandboxed-python"
    task_type_version: int = 0
    image: Any = None
    resources: Any = None
    cache: Any = "disable"
    """"disable", "auto", "override" or a `Cache`; kept as a `Cache`."""
    interruptible: bool = False
    retries: Any = 0
    """An int or a `RetryStrategy`; kept as a `RetryStrategy`."""
    reusable: Any = None
    docs: Any = None
    env_vars: dict[str, str] | None = None
    secrets: Any = None
    """A name, a `Secret` or a list of them; kept as a tuple of `Secret`."""
    timeout: Any = None
    """Seconds, a timedelta or a `Timeout`; kept as a `Timeout` or None."""
    pod_template: Any = None
    report: bool = False
    queue: str | None = None
    debuggable: bool = False
    parent_env: Any = None
    parent_env_name: str | None = None
    max_inline_io_bytes: int = DEFAULT_MAX_INLINE_IO_BYTES
    triggers: tuple[Any, ...] = ()
    links: tuple[Any, ...] = ()
    _call_as_synchronous: bool = False
    func: Callable[..., Any] = _no_func
    plugin_config: SandboxedConfig | None = None
    task_resolver: Any = None
    _user_source: str = ""
    _user_input_names: list[str] = field(default_factory=lambda: [])
    _user_functions: dict[str, Any] = field(default_factory=lambda: {})
    _source_file: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        if not isinstance(self.interface, NativeInterface):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"interface must be a NativeInterface, got {type(self.interface).__name__}")
        check("short_name", self.short_name, isinstance(typing.cast(object, self.short_name), str), "a str")
        self.short_name = self.short_name or self.name
        params.check_simple_params(lambda name: getattr(self, name))
        if self.plugin_config is None:
            self.plugin_config = SandboxedConfig()
        require_int("max_inline_io_bytes", self.max_inline_io_bytes, minimum=1)
        env = typing.cast(object, self.env_vars or {})
        check("env_vars", env, isinstance(env, Mapping), "a dict of str to str")
        pairs = typing.cast(Mapping[object, object], env).items()
        bad = (
            [k for k, v in pairs if not isinstance(k, str) or not isinstance(v, str)] if self.env_vars else []
        )  # pyright: ignore[reportUnnecessaryIsInstance]
        if bad:
            raise TypeError(f"env_vars must map str to str; bad entries: {', '.join(map(repr, bad))}")
        self.retries = params.normalize_retries(self.retries)
        self.cache = normalize_cache(self.cache)
        self.timeout = params.normalize_timeout(self.timeout)
        self.secrets = params.normalize_secrets(self.secrets)
        self.resources = params.normalize_resources(self.resources)
        self.triggers = params.normalize_tuple("triggers", self.triggers)
        self.links = params.normalize_tuple("links", self.links)
        self._user_source = dedent_source(self._user_source)
        self._docs_from_source = self.docs is None
        self.docs = params.normalize_docs(self.docs, self._user_source)
        declared = list(self.interface.inputs)
        if self._user_input_names and list(self._user_input_names) != declared:
            raise ValueError(f"_user_input_names {self._user_input_names} do not match the inputs {declared}")
        self._user_input_names = declared
        self._functions: dict[str, HostFunction] = register(self._user_functions)
        self._user_functions = {name: f.func for name, f in self._functions.items()}
        self._code, self._shifts = wrap_map_iterables(prepare_source(self._user_source, self._functions))
        self._has_async = any(f.is_async for f in self._functions.values())
        # Hooks a subclass overrides; the defaults do nothing, so runs skip them.
        self._custom_pre = type(self).pre is not CodeTaskTemplate.pre
        self._custom_post = type(self).post is not CodeTaskTemplate.post
        self._cached_plan: Plan | None = None
        self._plan_config: SandboxedConfig | None = None

    # -- Flyte-shaped properties -------------------------------------------------

    @property
    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the inputs: `{"type": "object", "properties", "required"}`."""
        return self.interface.json_schema()

    @property
    def native_interface(self) -> NativeInterface:
        return self.interface

    @property
    def source_file(self) -> str | None:
        """The file that made this template (where `orchestrator_from_str` was called)."""
        return self._source_file

    @property
    def sandbox_config(self) -> SandboxedConfig:
        """`plugin_config`, never None after construction."""
        assert self.plugin_config is not None
        return self.plugin_config

    @cached_property
    def type_check_stubs(self) -> str:
        """The stubs the pre-flight type check reads: one `def` per registered function,
        and each input declared with its type (plain types by name, others as `Any`), so
        the checker knows the names the code gets as inputs."""
        stubs = build_stubs(self._functions)
        declared = [f"{name}: {_stub_type(tp)}" for name, (tp, _) in self.interface.inputs.items()]
        return stubs + ("\n" + "\n".join(declared) + "\n" if declared else "")

    # -- running -------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run synchronously and return the result. Works in any thread, also inside a
        running event loop (it blocks that loop's thread for the run). A run that
        pauses for approval raises `ApprovalPending` (`run()` returns its record)."""
        return _result(run_template(self, args, kwargs, None))

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Run from async code; the event loop stays free while the sandbox works."""
        return await self.execute(*args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Execute the code in a Monty sandbox and return the validated result."""
        return _result(await self._arun(args, kwargs))

    def resume(
        self, token: str, *, approve: bool, reason: str | None = None, store: ApprovalStore | None = None
    ) -> RunRecord:
        """Go on with a run of this template that paused for approval (`record.pending`):
        approved, the call it waits on runs now, once; denied, it raises
        `PermissionError` (with `reason`) in the code at that line. Returns the run's
        record, which may be waiting again. `store`: where it was kept, if not the
        process-wide store. Works in another process than the one that paused it,
        given a store both share (`SQLiteApprovalStore`)."""
        return resume_template(self, token, approve=approve, reason=reason, pause=PauseOptions(store))

    async def aresume(
        self, token: str, *, approve: bool, reason: str | None = None, store: ApprovalStore | None = None
    ) -> RunRecord:
        """`resume` from async code."""
        return await aresume_template(self, token, approve=approve, reason=reason, pause=PauseOptions(store))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported, as in Flyte: a code task has no Python function to call."""
        raise NotImplementedError(
            "CodeTaskTemplate does not support forward(): there is no Python function to call "
            "directly. Call the template (template(...), await template.aio(...)) or use "
            "agent_tools.run(template, ...) to execute it through the sandbox."
        )

    async def _arun(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> RunRecord:
        return await arun_template(self, args, kwargs)

    def _run(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any], loop: asyncio.AbstractEventLoop | None
    ) -> RunRecord:
        """The one core both faces use (see `runner.run_template`)."""
        return run_template(self, args, kwargs, loop)

    def _plan(self) -> Plan:
        """The execution plan, rebuilt only when the config or env vars change."""
        config = self.sandbox_config
        plan = self._cached_plan
        if plan is None or config is not self._plan_config or plan.env_vars != (self.env_vars or {}):
            env = dict(self.env_vars or {})
            limits = Limits(
                timeout_ms=config.timeout_ms,
                max_memory=config.max_memory,
                max_stack_depth=config.max_stack_depth,
                max_host_calls=config.max_host_calls,
                max_output_bytes=config.max_output_bytes,
                max_recorded_value_bytes=config.max_recorded_value_bytes,
            )
            plan = Plan(
                code=self._code,
                source=self._user_source,
                functions=self._functions,
                limits=limits,
                env_vars=env,
                type_check=config.type_check,
                stubs=self.type_check_stubs if config.type_check else None,
                shifts=self._shifts,
                preflight=config.preflight,
                inputs=frozenset(self._user_input_names),
            )
            self._cached_plan, self._plan_config = plan, config
        return plan

    def _with_source(self, source: str) -> CodeTaskTemplate:
        """This template with other code: what does not depend on the code (the
        interface, the registered functions and their stubs, the parameters, the
        limits) is shared, not rebuilt. What `CodeRunner` makes each `run_code` call of."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._user_source = dedent_source(source)
        if self._docs_from_source:
            clone.docs = params.docs_from_source(clone._user_source)
        clone._code, clone._shifts = wrap_map_iterables(prepare_source(clone._user_source, self._functions))
        plan = self._cached_plan
        if plan is not None and plan.env_vars == (self.env_vars or {}):
            clone._cached_plan = plan.with_code(clone._code, clone._user_source, clone._shifts)
        return clone

    # -- hooks and what a Flyte backend asks of a task ------------------------------

    def pre(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Called with the raw arguments before every run (before validation). Override
        it in a subclass; it may be a coroutine function, as in Flyte."""
        return {}

    def post(self, return_vals: Any) -> Any:
        """Called with the validated result after every successful run; what it returns
        is the run's result. Override it in a subclass; it may be a coroutine function."""
        return return_vals

    def config(self, sctx: SerializationContext | None = None) -> dict[str, str]:
        """The sandbox limits as strings, for a backend that configures the runtime."""
        c = self.sandbox_config
        return {
            "timeout_ms": str(c.timeout_ms),
            "max_memory": str(c.max_memory),
            "max_stack_depth": str(c.max_stack_depth),
            "type_check": str(c.type_check).lower(),
        }

    def custom_config(self, sctx: SerializationContext | None = None) -> dict[str, Any]:
        """What a backend needs to run this code: the source, inputs, registered
        function names and the sandbox config."""
        docs = self.docs
        return {
            "source": self._user_source,
            "input_names": list(self._user_input_names),
            "functions": sorted(self._functions),
            "sandbox": dataclasses.asdict(self.sandbox_config),
            "task_type": self.task_type,
            "task_type_version": self.task_type_version,
            "metadata": {
                "short_name": self.short_name,
                "image": _describe(self.image),
                "resources": _describe(self.resources),
                "interruptible": self.interruptible,
                "queue": self.queue,
                "pod_template": _describe(self.pod_template),
                "reusable": _describe(self.reusable),
                "triggers": [_describe(t) for t in self.triggers],
                "links": [_describe(link) for link in self.links],
                "docs": getattr(docs, "description", None),
                "parent_env_name": self.parent_env_name,
                "task_resolver": _describe(self.task_resolver),
                "env_var_names": sorted(self.env_vars or {}),
                "secrets": [s.key for s in self.secrets],
            },
        }

    def container_args(self, sctx: SerializationContext | None = None) -> list[str]:
        """The entrypoint arguments a Flyte container runs a task with, filled from
        `sctx` (Flyte's placeholders by default). To run on a cluster, export the
        template with `to_flyte`, whose task adds its resolver arguments."""
        ctx = sctx or SerializationContext()
        return [
            "a0",
            "--inputs",
            ctx.input_path,
            "--outputs-path",
            ctx.output_path,
            "--version",
            ctx.version,
            "--raw-data-path",
            "{{.rawOutputDataPrefix}}",
            "--checkpoint-path",
            "{{.checkpointOutputPrefix}}",
            "--prev-checkpoint",
            "{{.prevCheckpointPrefix}}",
            "--run-name",
            "{{.runName}}",
            "--name",
            "{{.actionName}}",
        ]

    def data_loading_config(self, sctx: SerializationContext | None = None) -> None:
        """None: the code needs no side-loaded data (Flyte CoPilot is not used)."""
        return None

    def sql(self, sctx: SerializationContext | None = None) -> None:
        """None: a code task has no SQL."""
        return None

    def override(self, **changes: Any) -> CodeTaskTemplate:
        """A new template with some parameters changed; this one is left as it is.

        `name`, `image`, `docs` and `interface` cannot be overridden. As in Flyte, a
        reusable template cannot change `resources`, `env_vars` or `secrets` unless
        `reusable="off"` is passed too.
        """
        for fixed in ("name", "image", "docs", "interface"):
            if fixed in changes:
                raise ValueError(f"{fixed} cannot be overridden")
        allowed = {f.name for f in dataclasses.fields(self)} - {"_source_file"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise TypeError(f"override() got unknown parameters: {', '.join(unknown)}")
        reusable = changes.get("reusable", self.reusable)
        if reusable == "off":
            changes["reusable"] = reusable = None
        if reusable is not None:
            for key in ("resources", "env_vars", "secrets"):
                if changes.get(key) is not None:
                    raise ValueError(
                        f"cannot override {key} when reusable is set: reusable tasks use the parent "
                        "environment's; pass reusable='off' to override it"
                    )
        changes = {k: v for k, v in changes.items() if v is not None or k == "reusable"}
        return dataclasses.replace(self, **changes)


_STUB_TYPES: dict[Any, str] = {int: "int", float: "float", str: "str", bool: "bool", bytes: "bytes"}


def _stub_type(tp: Any) -> str:
    """An input's type as the checker's stubs declare it: a plain type by its name,
    a plain container by its name, anything else `Any` (never a false complaint)."""
    if tp in _STUB_TYPES:
        return _STUB_TYPES[tp]
    origin = typing.get_origin(tp) or tp
    return {list: "list[Any]", dict: "dict[Any, Any]", tuple: "tuple[Any, ...]", set: "set[Any]"}.get(
        origin, "Any"
    )


def _describe(value: object) -> object:
    """A JSON-friendly form of a kept parameter: plain values as they are, objects
    (flyte's included) by their repr."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in typing.cast(dict[object, object], value).items()}
    return repr(value)


def orchestrator_from_str(
    source: str,
    *,
    inputs: Mapping[str, Any],
    output: Any = type(None),
    tasks: Any = None,
    name: str = "sandboxed-code",
    timeout_ms: int = 30_000,
    cache: Any = "disable",
    retries: int | RetryStrategy = 0,
    image: Any = None,
    **options: Any,
) -> CodeTaskTemplate:
    """Make a reusable sandboxed task from a code string.

    The value of the code's last expression is the result. `inputs` maps each input
    name to its type (`{}` for none); `tasks` lists the functions the code may call,
    each by its `__name__`. Further keyword arguments (`env_vars`, `plugin_config`,
    `max_inline_io_bytes`, ...) go to `CodeTaskTemplate`.
    """
    config = options.pop("plugin_config", None) or SandboxedConfig(timeout_ms=timeout_ms)
    functions = register(tasks)
    return CodeTaskTemplate(
        name=name,
        interface=NativeInterface.from_types(inputs, output),
        plugin_config=config,
        image=image,
        cache=cache,
        retries=retries,
        _user_source=source,
        _user_input_names=list(inputs),
        _user_functions={fn_name: fn.func for fn_name, fn in functions.items()},
        _source_file=sys._getframe(1).f_globals.get("__file__"),  # pyright: ignore[reportPrivateUsage]
        **options,
    )


async def orchestrate_local(
    source: str,
    *,
    inputs: Mapping[str, Any],
    tasks: Any = None,
    timeout_ms: int = 30_000,
) -> Any:
    """One-shot execution of a code string; returns the value of its last expression.
    `inputs` maps names to values (`{}` is fine)."""
    template = orchestrator_from_str(
        source, inputs=dict.fromkeys(inputs, Any), output=Any, tasks=tasks, timeout_ms=timeout_ms
    )
    return await template.aio(**inputs)


def _result(record: RunRecord) -> Any:
    if record.pending is not None:
        raise ApprovalPending(record)
    return record.result


def run(
    template: CodeTaskTemplate, /, *args: Any, on_event: EventSink | None = None, **inputs: Any
) -> RunRecord:
    """Run `template` and return its `RunRecord` (result, host calls, printed output,
    timings). On failure the raised `SandboxError` carries the record as `.record`."""
    if on_event is None:
        return template._run(args, inputs, None)  # pyright: ignore[reportPrivateUsage]
    return run_template(template, args, inputs, None, on_event=on_event)


async def arun(
    template: CodeTaskTemplate, /, *args: Any, on_event: EventSink | None = None, **inputs: Any
) -> RunRecord:
    """`run` for async code."""
    if on_event is None:
        return await template._arun(args, inputs)  # pyright: ignore[reportPrivateUsage]
    return await arun_template(template, args, inputs, on_event=on_event)


async def stream(template: CodeTaskTemplate, /, *args: Any, **inputs: Any) -> AsyncIterator[RunEvent]:
    """Run `template` and yield its live events as they happen (see `base.events`),
    `RunFinished` last (with the result, or the error: the run's error is not
    raised here). The run happens off the event loop, as with `arun`; leaving the
    loop early cancels the run."""
    async for event in event_stream(lambda sink: arun_template(template, args, inputs, on_event=sink)):
        yield event


def resume(
    token: str,
    *,
    approve: bool,
    reason: str | None = None,
    template: CodeTaskTemplate | None = None,
    store: ApprovalStore | None = None,
    on_event: EventSink | None = None,
) -> RunRecord:
    """Go on with a run that paused for approval (its `record.pending.token`).
    `approve=True` runs the call it waits on, once; `False` raises `PermissionError`
    (with `reason`) in the code at that call. Returns the run's `RunRecord` (it may
    be waiting again, at the next call that needs approval). `template` is needed
    only for a run paused in another process. Raises `ApprovalTokenError` (and runs
    nothing) for a token that is unknown, expired, already used or tampered with."""
    return resume_template(
        template, token, approve=approve, reason=reason, pause=PauseOptions(store), on_event=on_event
    )


async def aresume(
    token: str,
    *,
    approve: bool,
    reason: str | None = None,
    template: CodeTaskTemplate | None = None,
    store: ApprovalStore | None = None,
    on_event: EventSink | None = None,
) -> RunRecord:
    """`resume` for async code."""
    return await aresume_template(
        template, token, approve=approve, reason=reason, pause=PauseOptions(store), on_event=on_event
    )
