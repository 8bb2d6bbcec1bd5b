"""`to_flyte`: export a template to `flyte.sandbox.CodeTaskTemplate` and run it in Flyte's local mode."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools.adapters.flyte_export import to_flyte

# Flyte is an optional extra. README's test command and CI install it
# (`agent-tools[flyte]`); under CI a missing Flyte is a failure, never a skip.
if os.environ.get("CI"):
    import flyte
else:
    flyte = pytest.importorskip("flyte")


def add(x: int, y: int) -> int:
    return x + y


async def aadd(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


# Module level on purpose: on a cluster Flyte loads a code task by importing the
# module that made it and finding it there (see test_flyte_finds_the_task_by_module).
EXPORTED = to_flyte(
    at.orchestrator_from_str("add(x, y) * 2", inputs={"x": int, "y": int}, output=int, tasks=[add])
)


@pytest.fixture(scope="module", autouse=True)
def flyte_local() -> Iterator[None]:
    flyte.init()  # no endpoint: flyte.run executes in-process (local mode)
    yield
    # Flyte keeps a process-wide Monty pool that it never closes; close it so its
    # idle workers do not outlive this module (test_runtime counts Monty workers).
    from flyte.sandbox import _runtime

    pool, _runtime._pool = _runtime._pool, None
    if pool is not None:

        async def close() -> None:
            await pool.__aexit__(None, None, None)

        asyncio.run(close())


def run_on_flyte(task: Any, **inputs: Any) -> Any:
    """Run `task` with `flyte.run` (local mode) and return its single output."""
    return flyte.run(task, **inputs).outputs()[0]


def test_exported_template_carries_everything_over() -> None:
    config = at.SandboxedConfig(timeout_ms=1234, max_memory=8_000_000, max_stack_depth=64, type_check=True)
    ours = at.orchestrator_from_str(
        "  add(x, y) * 2\n",
        inputs={"x": int, "y": int},
        output=int,
        tasks=[add],
        name="doubler",
        cache="auto",
        retries=3,
        image="python:3.11-slim",
        resources={"cpu": 1, "memory": "1Gi"},
        timeout=90,
        plugin_config=config,
    )
    exported = to_flyte(ours)
    assert isinstance(exported, flyte.sandbox.CodeTaskTemplate)
    assert exported.name == "doubler"
    assert exported._user_source == ours._user_source == "add(x, y) * 2"
    assert exported._user_input_names == ["x", "y"]
    assert {k: tp for k, (tp, _) in exported.interface.inputs.items()} == {"x": int, "y": int}
    assert exported.interface.outputs == {"o0": int}
    assert exported._user_functions == {"add": add}
    assert exported.plugin_config == flyte.sandbox.SandboxedConfig(
        timeout_ms=1234, max_memory=8_000_000, max_stack_depth=64, type_check=True
    )
    assert exported.retries == flyte.RetryStrategy(count=3)
    assert exported.timeout == flyte.Timeout(max_runtime=timedelta(seconds=90))
    assert exported.cache.behavior == "auto"
    assert exported.image.base_image == "python:3.11-slim"
    assert exported.resources == flyte.Resources(cpu=1, memory="1Gi")


def test_matches_what_flytes_own_constructor_builds() -> None:
    theirs = flyte.sandbox.orchestrator_from_str(
        "add(x, y) * 2", inputs={"x": int, "y": int}, output=int, tasks=[add], timeout_ms=5000
    )
    config = at.SandboxedConfig(timeout_ms=5000, type_check=True)  # Flyte checks types by default
    ours = to_flyte(
        at.orchestrator_from_str(
            "add(x, y) * 2", inputs={"x": int, "y": int}, output=int, tasks=[add], plugin_config=config
        )
    )
    assert ours.interface == theirs.interface
    assert ours.plugin_config == theirs.plugin_config
    for attr in ("_user_source", "_user_input_names", "_user_functions", "_external_refs", "task_type"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


def test_defaults_carry_over() -> None:
    exported = to_flyte(at.orchestrator_from_str("1", inputs={}))
    assert exported.name == "sandboxed-code"
    assert exported.interface.inputs == {} and exported.interface.outputs == {}
    assert exported.plugin_config.timeout_ms == 30_000
    assert exported.plugin_config.type_check is False  # ours defaults to off, Flyte's to on
    assert exported.retries.count == 0
    assert exported.cache.behavior == "disable"
    assert exported.image is None and exported.resources is None and exported.timeout is None


def test_retry_backoff_carries_over() -> None:
    backoff = at.Backoff(base=2, factor=3.0, cap=60)
    exported = to_flyte(
        at.orchestrator_from_str("1", inputs={}, retries=at.RetryStrategy(count=2, backoff=backoff))
    )
    assert exported.retries == flyte.RetryStrategy(
        count=2, backoff=flyte.Backoff(base=timedelta(seconds=2), factor=3.0, cap=timedelta(seconds=60))
    )


@pytest.mark.parametrize("fn", [add, aadd], ids=["sync", "async"])
def test_runs_in_flyte_local_mode_with_registered_functions(fn: Any) -> None:
    ours = at.orchestrator_from_str(
        "add(x, y) * 2", inputs={"x": int, "y": int}, output=int, tasks={"add": fn}
    )
    assert run_on_flyte(to_flyte(ours), x=1, y=2) == ours(x=1, y=2) == 6


def test_runs_in_flyte_local_mode_without_registered_functions() -> None:
    ours = at.orchestrator_from_str(
        "items = [i * k for i in range(n)]\n{'total': sum(items), 'items': items}",
        inputs={"n": int, "k": int},
        output=dict[str, Any],
    )
    expected = {"total": 6, "items": [0, 2, 4]}
    assert run_on_flyte(to_flyte(ours), n=3, k=2) == ours(n=3, k=2) == expected


def test_flyte_finds_the_task_by_module() -> None:
    # What a cluster pod does: import the module named in the task's loader args and
    # pick the task out of it.
    from flyte._internal.resolvers.default import DefaultTaskResolver

    resolver = DefaultTaskResolver()
    args = resolver.loader_args(EXPORTED, Path(__file__).resolve().parents[1])
    assert args[1] == __name__
    assert resolver.load_task(args) is EXPORTED


def test_cache_mapping() -> None:
    def export(cache: Any) -> Any:
        return to_flyte(at.orchestrator_from_str("x", inputs={"x": int}, output=int, cache=cache)).cache

    assert export("disable").behavior == "disable"
    assert export("override").behavior == "override"
    pinned = export(at.Cache(behavior="override", version="v7", ignored_inputs=("x",), salt="s"))
    assert isinstance(pinned, flyte.Cache)
    assert (pinned.behavior, pinned.version_override, pinned.ignored_inputs, pinned.salt) == (
        "override",
        "v7",
        ("x",),
        "s",
    )
    assert pinned.get_version() == "v7"
    assert export(at.Cache(ignored_inputs="x")).ignored_inputs == ("x",)
    odd = at.orchestrator_from_str("1", inputs={})
    odd.cache = 42
    with pytest.raises(TypeError, match="cache must be"):
        to_flyte(odd)


def test_auto_cache_version_follows_the_code() -> None:
    # Flyte's default policy hashes the task's Python function, which for a code task
    # is a fixed placeholder: two code strings under one name would share cache entries.
    from flyte._cache.cache import VersionParameters

    def version(source: str, cache: Any = "auto") -> str:
        exported = to_flyte(at.orchestrator_from_str(source, inputs={"x": int}, output=int, cache=cache))
        return exported.cache.get_version(VersionParameters(func=exported.func, image=exported.image))

    assert version("x + 1") == version("x + 1")
    assert version("x + 1") != version("x * 100")
    assert version("x + 1", at.Cache(salt="a")) != version("x + 1", at.Cache(salt="b"))


def test_image_and_resources_are_checked() -> None:
    image = flyte.Image.from_debian_base(python_version=(3, 11))
    resources = flyte.Resources(cpu=2)
    exported = to_flyte(at.orchestrator_from_str("1", inputs={}, image=image, resources=resources))
    assert exported.image is image and exported.resources is resources
    odd = at.orchestrator_from_str("1", inputs={})
    odd.image = 42
    with pytest.raises(TypeError, match="image must be"):
        to_flyte(odd)
    odd = at.orchestrator_from_str("1", inputs={})
    odd.resources = "1 cpu"
    with pytest.raises(TypeError, match="resources must be"):
        to_flyte(odd)


def test_without_flyte_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flyte", None)
    with pytest.raises(ImportError, match=r"install agent-tools\[flyte\]"):
        to_flyte(at.orchestrator_from_str("1", inputs={}))


def test_kept_parameters_carry_over() -> None:
    ours = at.orchestrator_from_str(
        "# Doubles x.\nx * 2",
        inputs={"x": int},
        output=int,
        short_name="dbl",
        task_type_version=2,
        interruptible=True,
        queue="gpu",
        pod_template="pt",
        report=True,
        debuggable=True,
        parent_env_name="env",
        max_inline_io_bytes=4096,
    )
    exported = to_flyte(ours)
    assert (exported.short_name, exported.task_type_version, exported.interruptible) == ("dbl", 2, True)
    assert (exported.queue, exported.pod_template, exported.report) == ("gpu", "pt", True)
    assert (exported.debuggable, exported.parent_env_name, exported.max_inline_io_bytes) == (
        True,
        "env",
        4096,
    )
    assert exported.docs.description == "Doubles x."
