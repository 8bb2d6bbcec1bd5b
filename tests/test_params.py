"""Issue 3: every kept parameter is validated (a wrong type is a clear TypeError)."""

from __future__ import annotations

import weakref
from typing import Any

import pytest

import agent_tools as at


def make(**params: Any) -> at.CodeTaskTemplate:
    return at.orchestrator_from_str("1", inputs={}, output=int, **params)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("task_type_version", "1", "task_type_version must be an int"),
        ("image", 3, "image must be a str, 'auto' or flyte.Image"),
        ("resources", ["cpu"], "resources must be a flyte.Resources or a dict"),
        ("interruptible", "yes", "interruptible must be a bool"),
        ("reusable", "always", "reusable must be a flyte.ReusePolicy or None"),
        ("docs", 5, "docs must be a str or a Documentation"),
        ("env_vars", ["A=1"], "env_vars must be a dict of str to str"),
        ("env_vars", {"A": 1}, "env_vars must map str to str"),
        ("secrets", 42, "secrets must be a name, a Secret or a list"),
        ("timeout", "5s", "timeout must be seconds"),
        ("pod_template", 1.5, "pod_template must be a str or PodTemplate"),
        ("report", 1, "report must be a bool"),
        ("queue", 7, "queue must be a str or None"),
        ("debuggable", None, "debuggable must be a bool"),
        ("parent_env", object(), "parent_env must be a weakref or None"),
        ("parent_env_name", 1, "parent_env_name must be a str or None"),
        ("triggers", "nightly", "triggers must be a tuple"),
        ("triggers", (1,), "triggers item must be a flyte object or a str"),
        ("links", (None,), "links item must be a flyte object or a str"),
        ("func", 3, "func must be callable"),
        ("plugin_config", {"timeout_ms": 1}, "plugin_config must be a SandboxedConfig"),
        ("retries", 1.5, "retries must be an int or a RetryStrategy"),
        ("short_name", 3, "short_name must be a str"),
    ],
)
def test_wrong_types_are_type_errors_naming_the_parameter(param: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make(**{param: value})


def test_bad_values_are_value_errors() -> None:
    with pytest.raises(ValueError, match="task_type_version must be >= 0"):
        make(task_type_version=-1)
    with pytest.raises(ValueError, match=r"resources: unknown keys \['cores'\]"):
        make(resources={"cores": 2})
    with pytest.raises(ValueError, match="retries must be an int >= 0"):
        make(retries=-1)
    with pytest.raises(ValueError, match="max_inline_io_bytes must be a positive int"):
        make(max_inline_io_bytes=0)


def test_kept_values_in_normal_form() -> None:
    class Env:
        pass

    env = Env()
    t = make(
        task_type_version=3,
        image="auto",
        resources={"cpu": 2, "memory": "1Gi"},
        interruptible=True,
        queue="gpu",
        pod_template="pt",
        parent_env=weakref.ref(env),
        parent_env_name="env",
        triggers=["nightly"],
        links=("dashboard",),
        secrets=["a-b", at.Secret(key="c", as_env_var="CEE")],
        task_resolver="resolver",
    )
    assert t.triggers == ("nightly",) and t.links == ("dashboard",)
    assert [s.env_var for s in t.secrets] == ["A_B", "CEE"]
    assert t.parent_env is not None and t.parent_env() is env
    assert (t.task_type_version, t.image, t.queue, t.task_resolver) == (3, "auto", "gpu", "resolver")


def test_docs_default_to_the_leading_comment() -> None:
    t = at.orchestrator_from_str(
        """
        # Total revenue per customer.
        # Uses the orders API.
        x = 1
        # not part of the docs
        x
        """,
        inputs={},
        output=int,
    )
    assert t.docs == at.Documentation(description="Total revenue per customer.\nUses the orders API.")
    assert make().docs is None
    assert make(docs="Given").docs == at.Documentation(description="Given")


def test_backoff_and_retry_strategy_validation() -> None:
    with pytest.raises(ValueError, match=r"Backoff.cap is required"):
        at.Backoff(base=1, factor=2.0, cap=None)
    with pytest.raises(ValueError, match=r"Backoff\.factor must be a number >= 1\.0"):
        at.Backoff(factor=0.5)
    with pytest.raises(TypeError, match=r"RetryStrategy\.backoff must be a Backoff"):
        at.RetryStrategy(count=1, backoff=2)  # type: ignore[arg-type]
    assert [at.Backoff(base=1, factor=2, cap=5).delay(n) for n in range(5)] == [1, 2, 4, 5, 5]
