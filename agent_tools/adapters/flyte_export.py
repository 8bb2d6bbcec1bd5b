"""Export a template to Flyte 2: `to_flyte(template)` -> `flyte.sandbox.CodeTaskTemplate`.

Flyte is optional (`pip install agent-tools[flyte]`) and imported only when
`to_flyte` is called, so every Flyte object here is typed `Any`. Our own values
(cache, retries, timeout) are read by attribute name, as Flyte's are shaped alike.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from agent_tools.base.config import SandboxedConfig
from agent_tools.sandbox.functions import flyte_task_of
from agent_tools.task.template import CodeTaskTemplate

__all__ = ["to_flyte"]

_INSTALL_HINT = "to_flyte needs Flyte: install agent-tools[flyte]"


class _SourcePolicy:
    """A Flyte cache policy whose version hashes the code task itself.

    Flyte's default policy hashes the task's Python function, which for a code task
    is a fixed placeholder, so two code strings under one task name would share
    cache entries. This hashes the code, the interface and the registered
    functions instead, with the cache's salt as Flyte's own policy does.
    """

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def get_version(self, salt: str, params: Any) -> str:
        return hashlib.sha256(f"{self.digest}{salt}".encode()).hexdigest()


def _digest(template: CodeTaskTemplate) -> str:
    interface = template.interface
    parts = [template._user_source, repr(interface.inputs), repr(interface.outputs)]  # pyright: ignore[reportPrivateUsage]
    for name, func in sorted(template._user_functions.items()):  # pyright: ignore[reportPrivateUsage]
        try:
            body = inspect.getsource(func)  # a Flyte task's function: its own source (`__wrapped__`)
        except (OSError, TypeError):
            body = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"
        parts.append(f"{name}:{body}")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _cache(flyte: Any, template: CodeTaskTemplate) -> Any:
    cache = template.cache
    if isinstance(cache, str):
        fields: dict[str, Any] = {"behavior": cache}
    elif all(hasattr(cache, a) for a in ("behavior", "version", "ignored_inputs", "salt")):
        ignored = cache.ignored_inputs
        fields = {
            "behavior": cache.behavior,
            "version_override": cache.version,
            "ignored_inputs": (ignored,) if isinstance(ignored, str) else tuple(ignored),
            "salt": cache.salt,
        }
    else:
        raise TypeError(f"cache must be a str or a Cache, got {type(cache).__name__}")
    result = flyte.Cache(**fields)  # checks the behavior
    if result.is_enabled() and result.version_override is None:
        result.policies = [_SourcePolicy(_digest(template))]
    return result


def _retries(flyte: Any, retries: Any) -> Any:
    if isinstance(retries, int):
        return retries
    backoff = getattr(retries, "backoff", None)
    if backoff is not None:
        backoff = flyte.Backoff(base=backoff.base, factor=backoff.factor, cap=backoff.cap)
    return flyte.RetryStrategy(count=retries.count, backoff=backoff)


def _timeout(flyte: Any, timeout: Any) -> Any:
    """Our task timeout (a `Timeout`, seconds or a timedelta) as a `flyte.Timeout`."""
    runtime = getattr(timeout, "max_runtime", timeout)
    if isinstance(runtime, (int, float)):
        runtime = timedelta(seconds=runtime)
    if runtime is None or runtime == timedelta(0):  # ours: None or 0 is unlimited
        return None
    return flyte.Timeout(max_runtime=runtime)


def _image(flyte: Any, image: Any) -> Any:
    if image is None or isinstance(image, (str, flyte.Image)):
        return image
    raise TypeError(f"image must be a str, a flyte.Image or None, got {type(image).__name__}")


def _resources(flyte: Any, resources: Any) -> Any:
    if resources is None or isinstance(resources, flyte.Resources):
        return resources
    if isinstance(resources, Mapping):
        return flyte.Resources(**cast(Mapping[str, Any], resources))
    raise TypeError(f"resources must be a flyte.Resources, a dict or None, got {type(resources).__name__}")


def _docs(flyte: Any, docs: object) -> Any:
    """Our `Documentation` (or a str) as `flyte.Documentation`; Flyte's passes through."""
    if docs is None or isinstance(docs, flyte.Documentation):
        return docs
    return flyte.Documentation(description=str(getattr(docs, "description", docs)))


def to_flyte(template: CodeTaskTemplate) -> Any:
    """Build the equivalent `flyte.sandbox.CodeTaskTemplate` for `template`.

    Carries over the code, the inputs and output, the registered functions (a Flyte
    task registered with `tasks=` goes back as the task itself), the
    name, cache, retries, task timeout, image, resources, the sandbox limits Flyte
    has (`timeout_ms`, `max_memory`, `max_stack_depth`, `type_check`) and the kept
    parameters (short name, docs, interruptible, reusable, queue, pod template,
    report, debuggable, parent env, inline I/O cap, Flyte triggers and links). For a
    cluster run, assign the result to a module-level name: Flyte finds the task
    there by importing the calling module. Raises `ImportError` when Flyte is
    not installed.
    """
    try:  # import_module keeps every Flyte object `Any`, with or without Flyte installed
        flyte: Any = importlib.import_module("flyte")
        models: Any = importlib.import_module("flyte.models")
        sandbox: Any = importlib.import_module("flyte.sandbox")
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err

    def placeholder(**kwargs: Any) -> None:
        """Placeholder `func`: a code task has no Python function of its own."""

    # On a cluster Flyte loads a code task by importing the module of its placeholder
    # and scanning it for the task (the placeholder's name must not be an identifier,
    # as with Flyte's lambda), so point it at our caller, as orchestrator_from_str does.
    placeholder.__name__ = placeholder.__qualname__ = "<code task>"
    placeholder.__module__ = sys._getframe(1).f_globals.get("__name__", "__main__")  # pyright: ignore[reportPrivateUsage]
    config = template.plugin_config or SandboxedConfig()
    interface = template.interface
    return sandbox.CodeTaskTemplate(
        func=placeholder,
        name=template.name,
        interface=models.NativeInterface(inputs=dict(interface.inputs), outputs=dict(interface.outputs)),
        plugin_config=sandbox.SandboxedConfig(
            timeout_ms=config.timeout_ms,
            max_memory=config.max_memory,
            max_stack_depth=config.max_stack_depth,
            type_check=config.type_check,
        ),
        image=_image(flyte, template.image),
        resources=_resources(flyte, template.resources),
        cache=_cache(flyte, template),
        retries=_retries(flyte, template.retries),
        timeout=_timeout(flyte, template.timeout),
        short_name=template.short_name,
        task_type_version=template.task_type_version,
        interruptible=template.interruptible,
        reusable=template.reusable,
        docs=_docs(flyte, template.docs),
        pod_template=template.pod_template,
        report=template.report,
        queue=template.queue,
        debuggable=template.debuggable,
        parent_env=template.parent_env,
        parent_env_name=template.parent_env_name,
        max_inline_io_bytes=template.max_inline_io_bytes,
        # Flyte wants Trigger and Link objects; names kept as str here have no Flyte form.
        triggers=tuple(t for t in template.triggers if not isinstance(t, str)),
        links=tuple(link for link in template.links if not isinstance(link, str)),
        _user_source=template._user_source or "None",  # pyright: ignore[reportPrivateUsage]
        _user_input_names=list(interface.inputs),
        _user_functions=_functions(template),
    )


def _functions(template: CodeTaskTemplate) -> dict[str, Any]:
    """The registered functions as Flyte gets them: a Flyte task as the task itself
    (Flyte calls it through `aio`, which inside a Flyte run submits it as a task)."""
    functions = template._user_functions  # pyright: ignore[reportPrivateUsage]
    return {name: func if (task := flyte_task_of(func)) is None else task for name, func in functions.items()}
