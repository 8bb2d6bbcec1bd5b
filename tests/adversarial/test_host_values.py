"""Bad values from the host: registered functions that raise (BaseException
subclasses included: the host must survive), hang past the wall-clock `timeout=`,
return values Monty cannot hold, or return megabytes."""

from __future__ import annotations

import asyncio
import datetime
import json
import math
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_serializer

import agent_tools as at

from ._harness import Case, Context, Outcome, check_case, params, run_script, run_standard, wait_for_threads

pytestmark = pytest.mark.usefixtures("healthy")

RTE = at.SandboxRuntimeError
HFE = at.HostFunctionError

BASE_EXCEPTIONS = """A registered function raising a BaseException that is not an Exception stops
the run whatever the code does with it. KeyboardInterrupt and SystemExit are the
host's own signals to stop, so the caller gets them as raised (an agent loop's
`except Exception` must not swallow Ctrl-C); any other (GeneratorExit, a stray
CancelledError, a custom one) is a fault of the function: HostFunctionError."""


class Opaque:
    pass


class CustomError(Exception):
    pass


class CustomBase(BaseException):
    pass


class BadModel(BaseModel):
    x: int

    @field_serializer("x")
    def _fail(self, value: int) -> int:
        raise ValueError("serializer failed")


def raise_value_error() -> int:
    raise ValueError("bad input")


def raise_custom() -> int:
    raise CustomError("custom failure")


def raise_keyboard_interrupt() -> int:
    raise KeyboardInterrupt("from a registered function")


def raise_system_exit() -> int:
    raise SystemExit(3)


def raise_generator_exit() -> int:
    raise GeneratorExit


def raise_custom_base() -> int:
    raise CustomBase("custom base")


def exit_on_two(x: int) -> int:
    if x == 2:
        raise SystemExit(4)
    return x


def _value(value: Any) -> Any:
    def fn() -> Any:
        return value() if callable(value) else value

    return fn


def _cyclic_list() -> list[Any]:
    x: list[Any] = []
    x.append(x)
    return x


def _cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def _nested(depth: int) -> list[Any]:
    x: list[Any] = []
    for _ in range(depth):
        x = [x]
    return x


obj = _value(Opaque)
function = _value(lambda: lambda: 1)
generator = _value(lambda: (i for i in range(3)))
complex_number = _value(1j)
memview = _value(lambda: memoryview(b"ab"))
cyclic_list = _value(_cyclic_list)
cyclic_dict = _value(_cyclic_dict)
nested_100k = _value(lambda: _nested(100_000))
nan = _value(math.nan)
inf = _value(math.inf)
big_int = _value(10**10000)
million_digits = _value(lambda: 10**1_000_000)
non_utf8 = _value(b"\xff\xfe\x00")
lone_surrogate = _value("\ud800")
nested_surrogate = _value(lambda: {"k": ["fine", "caf\u00e9 \udfff"]})
frozenset_keys = _value(lambda: {frozenset({1}): "v", (1, 2): "t"})
bad_model = _value(lambda: BadModel(x=1))
a_date = _value(datetime.date(2024, 1, 2))
five_mb = _value(lambda: "a" * 5_000_000)
twenty_mb = _value(lambda: "a" * 20_000_000)
million_ints = _value(lambda: list(range(1_000_000)))

for _name, _fn in list(globals().items()):
    if getattr(_fn, "__name__", None) == "fn":
        _fn.__name__ = _name  # the name the code calls it by


SYNC_SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    import agent_tools as at

    async def aboom(x: int) -> int:
        await asyncio.sleep(0)
        raise KeyboardInterrupt("async, after a wait")

    async def acancelled(x: int) -> int:
        await asyncio.sleep(0)
        raise asyncio.CancelledError

    async def afine(x: int) -> int:
        await asyncio.sleep(0)
        return x

    try:
        at.orchestrator_from_str(CODE, inputs={}, tasks=[aboom, acancelled])()
        first = "ok"
    except BaseException as exc:
        first = type(exc).__name__
    followups = []
    for _ in range(3):  # the same thread, so the same private event loop
        try:
            followups.append(at.orchestrator_from_str("afine(7)", inputs={}, output=int, tasks=[afine])())
        except BaseException as exc:
            followups.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    print(json.dumps({"first": first, "followups": followups}), flush=True)
    """
)


def _in_a_process(script: str) -> Outcome:
    done = run_script(script, timeout=60)
    if done.returncode != 0:
        return Outcome(
            error=RuntimeError(f"the host process died ({done.returncode}): {done.stderr[-1500:]}")
        )
    return Outcome(result=json.loads(done.stdout.strip().splitlines()[-1]))


def _sync_in_a_process(case: Case, ctx: Context) -> Outcome:
    """Async BaseExceptions leave tasks behind on the thread's event loop; finalising
    them later has crashed pytest itself, so these run in a process of their own."""
    return _in_a_process(SYNC_SCRIPT.replace("CODE", repr(case.code)))


def _the_original(arg: object) -> Callable[[Outcome, Context], None]:
    def check(outcome: Outcome, ctx: Context) -> None:
        assert outcome.error is not None and outcome.error.args == (arg,), outcome.describe()

    return check


_after_calls: list[int] = []


def add_after() -> int:
    _after_calls.append(1)
    return 1


def _no_call_after_the_stop(outcome: Outcome, ctx: Context) -> None:
    assert not _after_calls, "a registered function ran after the run was stopped"


def _call_records_the_error(outcome: Outcome, ctx: Context) -> None:
    assert outcome.record is not None and outcome.record.calls
    assert outcome.record.calls[-1].error is not None, "the failed host call has no error recorded"


AIO_SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    import agent_tools as at

    async def boom(x: int) -> int:
        await asyncio.sleep(0)
        raise KeyboardInterrupt("from a registered function")

    async def fine(x: int) -> int:
        await asyncio.sleep(0)
        return x

    async def main():
        try:
            await at.orchestrator_from_str("boom(1)", inputs={}, tasks=[boom]).aio()
            first = "ok"
        except BaseException as exc:
            first = type(exc).__name__
        second = await at.orchestrator_from_str("fine(2)", inputs={}, output=int, tasks=[fine]).aio()
        await asyncio.sleep(0.05)
        return first, second

    first, second = asyncio.run(main())
    print(json.dumps({"first": first, "second": second}), flush=True)
    """
)


def _aio_in_a_process(case: Case, ctx: Context) -> Outcome:
    return _in_a_process(AIO_SCRIPT)


# -- hanging functions: the template's wall-clock timeout= bounds them ---------------

_release = threading.Event()
_cancelled = threading.Event()
_finished = threading.Event()


def hang(x: int) -> int:
    _release.wait(10)
    return x


async def ahang(x: int) -> int:
    try:
        await asyncio.sleep(0.8)
    except asyncio.CancelledError:
        _cancelled.set()
        raise
    _finished.set()  # a side effect after the run was stopped
    return x


def _bounded(case: Case, ctx: Context) -> Outcome:
    for event in (_release, _cancelled, _finished):
        event.clear()
    started = time.perf_counter()
    try:
        outcome = run_standard(case, ctx)
        outcome.extra["elapsed"] = time.perf_counter() - started
    finally:
        _release.set()
        wait_for_threads()
    return outcome


def _bounded_aio(case: Case, ctx: Context) -> Outcome:
    for event in (_cancelled, _finished):
        event.clear()

    async def main() -> Outcome:
        try:
            return Outcome(result=await case.template(ctx).aio())
        except BaseException as exc:
            return Outcome(error=exc)

    return asyncio.run(main())


def _stopped_in_time(outcome: Outcome, ctx: Context) -> None:
    assert outcome.extra["elapsed"] < 2.0, f"the timeout took {outcome.extra['elapsed']:.2f} s"


def _pending_call_cancelled(outcome: Outcome, ctx: Context) -> None:
    deadline = time.monotonic() + 2.0
    while not (_cancelled.is_set() or _finished.is_set()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _cancelled.is_set() and not _finished.is_set(), (
        "the async registered function was not cancelled: it ran to the end after the run was stopped"
    )


RAISING = [
    Case(
        "raises_value_error",
        "raise_value_error()",
        HFE,
        tasks=(raise_value_error,),
        check=_call_records_the_error,
    ),
    Case("raises_custom_exception", "raise_custom()", HFE, tasks=(raise_custom,)),
    Case(
        "raised_error_is_catchable",
        "try:\n    raise_custom()\nexcept Exception as e:\n    r = type(e).__name__\nr",
        tasks=(raise_custom,),
        result="Exception",
    ),
    # See BASE_EXCEPTIONS.
    Case(
        "raises_keyboard_interrupt",
        "raise_keyboard_interrupt()",
        KeyboardInterrupt,
        tasks=(raise_keyboard_interrupt,),
        check=_the_original("from a registered function"),
    ),
    Case(
        "raises_system_exit",
        "raise_system_exit()",
        SystemExit,
        tasks=(raise_system_exit,),
        check=_the_original(3),
    ),
    Case(
        "raises_keyboard_interrupt_caught_by_the_code",
        "try:\n    raise_keyboard_interrupt()\nexcept BaseException:\n    pass\nadd_after()",
        KeyboardInterrupt,
        tasks=(raise_keyboard_interrupt, add_after),
        check=_no_call_after_the_stop,
    ),
    *(
        Case(
            f"raises_{fn.__name__.removeprefix('raise_')}",
            f"{fn.__name__}()",
            HFE,
            tasks=(fn,),
            check=_call_records_the_error,
        )
        for fn in (raise_generator_exit, raise_custom_base)
    ),
    Case(
        "raises_custom_base_caught_by_the_code",
        "try:\n    raise_custom_base()\nexcept BaseException:\n    pass\n'went on'",
        HFE,
        tasks=(raise_custom_base,),
        check=_call_records_the_error,
    ),
    Case(
        "raises_system_exit_in_parallel_map",
        "parallel_map(exit_on_two, range(4))",
        SystemExit,
        tasks=(exit_on_two,),
        check=_the_original(4),
    ),
    Case(
        "raises_cancelled_error_async",
        "acancelled(1)",
        scenario=_sync_in_a_process,
        result={"first": "HostFunctionError", "followups": [7, 7, 7]},
    ),
    # An async KeyboardInterrupt must not escape through the thread's event loop and
    # leave tasks behind to resurface in the next runs.
    Case(
        "raises_keyboard_interrupt_async_fan_out",
        "parallel_map(aboom, [1, 2])",
        scenario=_sync_in_a_process,
        result={"first": "KeyboardInterrupt", "followups": [7, 7, 7]},
    ),
    Case(
        "raises_keyboard_interrupt_async",
        "aboom(1)",
        scenario=_sync_in_a_process,
        result={"first": "KeyboardInterrupt", "followups": [7, 7, 7]},
    ),
    Case(
        "raises_keyboard_interrupt_async_aio",
        scenario=_aio_in_a_process,
        result={"first": "KeyboardInterrupt", "second": 2},
    ),
]

HANGING = [
    Case(
        "hang_sync_past_timeout",
        "hang(1)",
        at.TimeLimitError,
        tasks=(hang,),
        options={"timeout": 0.3},
        scenario=_bounded,
        check=_stopped_in_time,
    ),
    Case(
        "hang_in_parallel_map",
        "parallel_map(hang, range(4))",
        at.TimeLimitError,
        tasks=(hang,),
        options={"timeout": 0.3},
        scenario=_bounded,
        check=_stopped_in_time,
    ),
    Case(
        "hang_async_aio_is_cancelled",
        "ahang(1)",
        at.TimeLimitError,
        tasks=(ahang,),
        options={"timeout": 0.3},
        scenario=_bounded_aio,
        check=_pending_call_cancelled,
    ),
    Case(
        "hang_async_sync_api_is_cancelled",
        "ahang(1)",
        at.TimeLimitError,
        tasks=(ahang,),
        options={"timeout": 0.3},
        scenario=_bounded,
        check=_pending_call_cancelled,
    ),
]

UNHOLDABLE = [
    *(
        Case(f"returns_{fn.__name__}", f"{fn.__name__}()", HFE, tasks=(fn,))
        for fn in (obj, function, generator, complex_number, memview, cyclic_list, cyclic_dict, nested_100k)
    ),
    Case("returns_nan", "x = nan()\n(x != x, str(x))", tasks=(nan,), result=(True, "nan")),
    Case("returns_inf", "x = inf()\n(x > 10 ** 308, -x < 0)", tasks=(inf,), result=(True, True)),
    Case("returns_big_int", "big_int() % 1000 + 1", tasks=(big_int,), result=1),
    Case("returns_million_digit_int", "million_digits() % 7", tasks=(million_digits,), result=4),
    Case("returns_non_utf8_bytes", "non_utf8()", tasks=(non_utf8,), result=b"\xff\xfe\x00"),
    Case("returns_frozenset_keys", "len(frozenset_keys())", tasks=(frozenset_keys,), result=2),
    Case("returns_date", "a_date().isoformat()", tasks=(a_date,), result="2024-01-02"),
    Case(
        "returns_lone_surrogate",
        "lone_surrogate()",
        HFE,
        tasks=(lone_surrogate,),
        check=_call_records_the_error,
    ),
    Case(
        "returns_lone_surrogate_nested",
        "nested_surrogate()",
        HFE,
        tasks=(nested_surrogate,),
        check=_call_records_the_error,
    ),
    Case(
        "returns_model_that_fails_to_dump",
        "bad_model()",
        HFE,
        tasks=(bad_model,),
        check=_call_records_the_error,
    ),
]

MEGABYTES = [
    Case("returns_5mb", "len(five_mb())", tasks=(five_mb,), result=5_000_000),
    Case("returns_20mb", "len(twenty_mb())", at.MemoryLimitError, tasks=(twenty_mb,)),
    Case(
        "returns_million_ints",
        "len(million_ints())",
        at.MemoryLimitError,
        tasks=(million_ints,),
    ),
]

CASES = RAISING + HANGING + UNHOLDABLE + MEGABYTES


@pytest.mark.parametrize("case", params(CASES))
def test_host_values(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(case, tmp_path, monkeypatch)
