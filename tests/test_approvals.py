"""Approvals: a run pauses at a call that needs a person's approval, and resumes later
(in this process or another) from exactly there: no replay, no lost work.

The program of `tests/approval_shop.py` reads a balance (no approval), then refunds
twice (each needs approval). Every function writes a journal line when it really
runs, so each test can say what ran, and how often."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from tests import approval_shop as shop

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("APPROVAL_JOURNAL", str(tmp_path / "journal.jsonl"))
    at.set_approval_store(None)  # a fresh in-memory store for each test
    yield
    at.set_approval_store(None)


def ran(name: str) -> list[list[Any]]:
    return [entry for entry in shop.journal() if entry[0] == name]


# -- the scenario, every face of the template API ---------------------------------------


def test_pause_approve_pause_deny_runs_each_call_once() -> None:
    template = shop.template()
    first = at.run(template)
    assert first.status == "waiting for approval"
    assert first.result is None and not first.errors
    pending = first.pending
    assert pending is not None
    assert (pending.function, pending.args, pending.kwargs) == ("refund", (7,), {"amount": 120.0})
    assert pending.arguments == {"order_id": 7, "amount": 120.0}
    assert pending.describe() == "refund(order_id=7, amount=120.0)"
    assert pending.line == 5 and pending.code_line == "summary.append(refund(order_id, amount=amount))"
    assert pending.calls_made == 1
    assert [c.function for c in first.calls] == ["read_balance"]
    assert ran("read_balance") == [["read_balance", 7]] and ran("refund") == []  # nothing after the pause

    second = at.resume(pending.token, approve=True)
    assert second.status == "waiting for approval"
    assert second.pending is not None and second.pending.describe() == "refund(order_id=8, amount=80.0)"
    assert second.pending.token != pending.token
    assert ran("refund") == [["refund", 7, 120.0]]  # the approved call ran, once, when resumed

    third = at.resume(second.pending.token, approve=False, reason="over the weekly limit")
    assert third.status == "ok" and third.pending is None
    assert third.result == {
        "balance": 500.0,
        "refunds": [
            "refunded 7: 120.0",
            "denied: refund(order_id=8, amount=80.0) was not approved: over the weekly limit",
        ],
    }
    assert third.stdout == "done\n"
    # the read ran exactly once, the approved refund once, the denied one never
    assert shop.journal() == [["read_balance", 7], ["refund", 7, 120.0]]
    assert [(c.function, c.approval) for c in third.calls] == [
        ("read_balance", None),
        ("refund", "approved"),
        ("refund", "denied"),
    ]
    denied = third.calls[2]
    assert isinstance(denied.error, PermissionError) and "over the weekly limit" in str(denied.error)


def test_the_template_methods_and_the_value_api() -> None:
    template = shop.template()
    with pytest.raises(at.ApprovalPending) as paused:
        template()
    assert paused.value.pending.function == "refund"
    assert paused.value.token == paused.value.record.pending.token  # type: ignore[union-attr]
    assert "refund(order_id=7, amount=120.0)" in str(paused.value)
    record = template.resume(paused.value.token, approve=False)
    assert record.pending is not None
    record = template.resume(record.pending.token, approve=False, reason="no")
    assert record.result["refunds"] == [  # type: ignore[index]
        "denied: refund(order_id=7, amount=120.0) was not approved",  # no reason given
        "denied: refund(order_id=8, amount=80.0) was not approved: no",
    ]
    assert ran("refund") == []
    assert ran("read_balance") == [["read_balance", 7]]


def test_the_async_faces() -> None:
    async def main() -> Any:
        template = shop.template()
        with pytest.raises(at.ApprovalPending) as paused:
            await template.aio()
        record = await at.aresume(paused.value.token, approve=True)
        assert record.pending is not None
        record = await template.aresume(record.pending.token, approve=True)
        first = await at.arun(shop.template())
        assert first.pending is not None
        return record

    record = asyncio.run(main())
    assert record.result["refunds"] == ["refunded 7: 120.0", "refunded 8: 80.0"]
    assert ran("refund") == [["refund", 7, 120.0], ["refund", 8, 80.0]]
    assert len(ran("read_balance")) == 2  # one per run: the second run paused at its first refund


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_async_registered_functions_pause_and_resume(is_async: bool) -> None:
    made: list[str] = []

    async def send_async(to: str) -> str:
        made.append(to)
        return f"sent to {to}"

    def send_sync(to: str) -> str:
        made.append(to)
        return f"sent to {to}"

    send = at.requires_approval(send_async if is_async else send_sync)
    send.__name__ = "send"
    template = at.orchestrator_from_str(
        "a = send('ann')\nb = await send('bob')\n[a, b]", inputs={}, output=list, tasks=[send]
    )

    async def main() -> at.RunRecord:
        record = await at.arun(template)
        while record.pending is not None:
            record = await at.aresume(record.pending.token, approve=True)
        return record

    record = asyncio.run(main())
    assert record.result == ["sent to ann", "sent to bob"]
    assert made == ["ann", "bob"]


def test_a_predicate_decides_per_call() -> None:
    refunds: list[float] = []

    @at.requires_approval(when=lambda call: call.arguments["amount"] > 100)
    def refund(order_id: int, amount: float = 10.0) -> str:
        refunds.append(amount)
        return "ok"

    code = "[refund(1, 50.0), refund(2, amount=150.0), refund(3), refund(order_id=4, amount=101)]"
    template = at.orchestrator_from_str(code, inputs={}, output=list, tasks=[refund])
    record = at.run(template)
    assert refunds == [50.0]  # under the limit: no approval asked
    assert record.pending is not None and record.pending.arguments == {"order_id": 2, "amount": 150.0}
    record = at.resume(record.pending.token, approve=True)
    assert refunds == [50.0, 150.0, 10.0]  # the default amount needs none either
    assert record.pending is not None and record.pending.describe() == "refund(order_id=4, amount=101)"
    record = at.resume(record.pending.token, approve=True)
    assert record.result == ["ok"] * 4
    assert [c.approval for c in record.calls] == [None, "approved", None, "approved"]


def test_a_predicate_that_raises_means_ask() -> None:
    def broken(call: at.ApprovalRequest) -> bool:
        raise KeyError("no such argument")

    @at.requires_approval(when=broken)
    def act(x: int) -> int:
        return x

    record = at.run(at.orchestrator_from_str("act(1)", inputs={}, output=int, tasks=[act]))
    assert record.pending is not None


def test_requires_approval_refuses_what_it_cannot_use() -> None:
    with pytest.raises(TypeError, match="when= must be a callable"):
        at.requires_approval(when=True)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="is not callable"):
        at.requires_approval(42)  # type: ignore[call-overload]

    class Box:
        def act(self, x: int) -> int:
            return x

    marked = at.requires_approval(Box().act)  # a bound method takes no attribute: wrapped
    record = at.run(at.orchestrator_from_str("act(2)", inputs={}, output=int, tasks=[marked]))
    assert record.pending is not None
    assert at.resume(record.pending.token, approve=True).result == 2


def test_a_function_may_ask_for_approval_itself() -> None:
    """`ApprovalRequested` raised before any effect pauses the run at the call; the
    function runs again, with `call_approved()` true, once approved."""
    seen: list[bool] = []

    def wire(amount: int) -> str:
        seen.append(at.call_approved())
        if amount > 1000 and not at.call_approved():
            raise at.ApprovalRequested(f"wiring {amount} needs a second pair of eyes")
        return f"wired {amount}"

    marked = at.base.approval.asks_for_approval(wire)
    code = "[wire(10), wire(5000)]"
    record = at.run(at.orchestrator_from_str(code, inputs={}, output=list, tasks=[marked]))
    assert record.pending is not None and record.pending.describe() == "wire(amount=5000)"
    assert [c.function for c in record.calls] == ["wire"]  # the asking call is not in the record
    record = at.resume(record.pending.token, approve=True)
    assert record.result == ["wired 10", "wired 5000"]
    assert seen == [False, False, True]


def test_a_function_asking_without_the_mark_stops_the_run() -> None:
    def wire(amount: int) -> str:
        raise at.ApprovalRequested("needs a person")

    template = at.orchestrator_from_str(
        "try:\n    wire(1)\nexcept BaseException:\n    pass\n'swallowed'", inputs={}, output=str, tasks=[wire]
    )
    with pytest.raises(at.HostFunctionError, match=r"wire\(1\) was not made: needs a person"):
        template()


# -- what a run keeps and what it does not redo -------------------------------------------------


def test_calls_before_the_pause_are_never_repeated_even_with_many_pauses() -> None:
    log: list[int] = []

    def step(i: int) -> int:
        log.append(i)
        return i

    @at.requires_approval
    def gate(i: int) -> int:
        log.append(-i)
        return i

    code = "total = 0\nfor i in range(1, 6):\n    total += step(i)\n    total += gate(i)\ntotal"
    record = at.run(at.orchestrator_from_str(code, inputs={}, output=int, tasks=[step, gate]))
    pauses = 0
    while record.pending is not None:
        pauses += 1
        record = at.resume(record.pending.token, approve=True)
    assert pauses == 5
    assert log == [1, -1, 2, -2, 3, -3, 4, -4, 5, -5]
    assert record.result == 30
    assert len(record.calls) == 10


def test_state_of_a_megabyte_survives_the_pause() -> None:
    @at.requires_approval
    def ok() -> bool:
        return True

    code = "blob = 'x' * 1_000_000\nparts = [i * i for i in range(10_000)]\nok()\n[len(blob), sum(parts)]"
    record = at.run(at.orchestrator_from_str(code, inputs={}, output=list, tasks=[ok]))
    assert record.pending is not None
    record = at.resume(record.pending.token, approve=True)
    assert record.result == [1_000_000, sum(i * i for i in range(10_000))]


def test_inputs_and_output_validation_carry_over() -> None:
    @at.requires_approval
    def double(x: int) -> int:
        return 2 * x

    template = at.orchestrator_from_str("double(n)", inputs={"n": int}, output=int, tasks=[double])
    record = at.run(template, n=21)
    assert record.pending is not None and record.pending.arguments == {"x": 21}
    assert at.resume(record.pending.token, approve=True).result == 42

    strict = at.orchestrator_from_str(
        "double(n)\n'not an int'", inputs={"n": int}, output=int, tasks=[double]
    )
    record = at.run(strict, n=1)
    assert record.pending is not None
    with pytest.raises(at.OutputValidationError) as failed:
        at.resume(record.pending.token, approve=True)
    assert failed.value.record is not None and failed.value.record.status == "failed"


def test_an_error_after_the_resume_is_the_code_error_with_every_call() -> None:
    @at.requires_approval
    def approve_me() -> int:
        return 1

    def boom() -> int:
        raise ValueError("kaput")

    template = at.orchestrator_from_str(
        "a = approve_me()\nb = boom()\na + b", inputs={}, output=int, tasks=[approve_me, boom]
    )
    record = at.run(template)
    assert record.pending is not None
    with pytest.raises(at.HostFunctionError) as failed:
        at.resume(record.pending.token, approve=True)
    assert failed.value.line == 2
    assert [c.function for c in failed.value.record.calls] == ["approve_me", "boom"]  # type: ignore[union-attr]


# -- limits ----------------------------------------------------------------------------------------


def test_time_paused_does_not_count_against_timeout_ms() -> None:
    @at.requires_approval
    def gate() -> int:
        return 1

    template = at.orchestrator_from_str("gate() + 1", inputs={}, output=int, tasks=[gate], timeout_ms=300)
    record = at.run(template)
    assert record.pending is not None
    time.sleep(0.6)  # twice the sandbox's time limit
    assert at.resume(record.pending.token, approve=True).result == 2


def test_time_paused_does_not_count_against_the_wall_clock_timeout() -> None:
    @at.requires_approval
    def gate() -> int:
        return 1

    template = at.orchestrator_from_str("gate() + 1", inputs={}, output=int, tasks=[gate], timeout=0.5)
    record = at.run(template)
    assert record.pending is not None
    time.sleep(0.8)
    resumed = at.resume(record.pending.token, approve=True)
    assert resumed.result == 2
    assert resumed.duration < 0.5  # active time only, not the time it waited


def test_the_wall_clock_timeout_counts_the_time_before_the_pause() -> None:
    def slow() -> int:
        time.sleep(0.35)
        return 1

    @at.requires_approval
    def gate() -> int:
        return 1

    code = "slow()\ngate()\nslow()"
    template = at.orchestrator_from_str(code, inputs={}, output=int, tasks=[slow, gate], timeout=0.6)
    record = at.run(template)
    assert record.pending is not None
    with pytest.raises(at.TimeLimitError):  # 0.35 s before, 0.35 s after: over 0.6 s in all
        at.resume(record.pending.token, approve=True)


def test_the_host_call_budget_carries_over() -> None:
    def tick() -> int:
        return 1

    @at.requires_approval
    def gate() -> int:
        return 1

    config = at.SandboxedConfig(max_host_calls=3)
    code = "tick()\ntick()\ngate()\ntick()"
    template = at.orchestrator_from_str(code, inputs={}, output=int, tasks=[tick, gate], plugin_config=config)
    record = at.run(template)
    assert record.pending is not None
    with pytest.raises(at.CallLimitError, match="more than 3 calls"):
        at.resume(record.pending.token, approve=True)


# -- calls that cannot wait ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "parallel_map(refund, [1, 2], [5.0, 6.0])",
        "try:\n    parallel_map('refund', [1], [5.0])\nexcept BaseException:\n    pass\n'swallowed'",
    ],
    ids=["parallel_map", "caught"],
)
def test_a_call_that_cannot_wait_stops_the_run_and_never_runs(code: str) -> None:
    template = at.orchestrator_from_str(
        "import asyncio\n" + code, inputs={}, output=Any, tasks=[shop.read_balance, shop.refund]
    )
    with pytest.raises(
        at.HostFunctionError, match="needs a person's approval, which a call through parallel_map"
    ):
        template()
    assert ran("refund") == []


def test_asyncio_gather_over_calls_that_need_approval_pauses_at_each() -> None:
    """`await asyncio.gather(f(a), f(b))` makes its calls one by one as it reads
    them: each can wait."""
    code = "import asyncio\nawait asyncio.gather(refund(1, 5.0), refund(2, 6.0))"
    template = at.orchestrator_from_str(code, inputs={}, output=list, tasks=[shop.refund])
    record = at.run(template)
    assert record.pending is not None and record.pending.arguments == {"order_id": 1, "amount": 5.0}
    record = at.resume(record.pending.token, approve=True)
    assert record.pending is not None and record.pending.arguments == {"order_id": 2, "amount": 6.0}
    record = at.resume(record.pending.token, approve=True)
    assert record.result == ["refunded 1: 5.0", "refunded 2: 6.0"]


def test_parallel_map_runs_calls_the_predicate_lets_through() -> None:
    done: list[int] = []

    @at.requires_approval(when=lambda call: call.arguments["x"] > 10)
    def act(x: int) -> int:
        done.append(x)
        return x

    template = at.orchestrator_from_str("parallel_map(act, [1, 2, 3])", inputs={}, output=list, tasks=[act])
    assert template() == [1, 2, 3]
    assert sorted(done) == [1, 2, 3]


# -- tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "short", "x" * 200, "has spaces in it and more", None, 42])
def test_a_malformed_token_is_refused_by_name(token: Any) -> None:
    with pytest.raises(at.ApprovalTokenError, match="is not a resume token") as refused:
        at.resume(token, approve=True, template=shop.template())
    assert refused.value.reason == "unknown"


def test_an_unknown_token_is_refused_and_nothing_runs() -> None:
    with pytest.raises(at.ApprovalTokenError, match="no paused run has the token 'A1b2C3d4E5f6G7h8I9j0K1'"):
        at.resume("A1b2C3d4E5f6G7h8I9j0K1", approve=True)
    assert shop.journal() == []


def test_a_token_resumes_once() -> None:
    record = at.run(shop.template())
    assert record.pending is not None
    token = record.pending.token
    at.resume(token, approve=True)
    for approve in (True, False):
        with pytest.raises(at.ApprovalTokenError, match=f"{token!r} was already resumed") as used:
            at.resume(token, approve=approve)
        assert used.value.reason == "used" and used.value.token == token
    assert ran("refund") == [["refund", 7, 120.0]]


def test_concurrent_resumes_of_one_token_run_it_once() -> None:
    import concurrent.futures

    record = at.run(shop.template())
    assert record.pending is not None
    token = record.pending.token

    def attempt(_: int) -> str:
        try:
            at.resume(token, approve=True)
            return "resumed"
        except at.ApprovalTokenError as exc:
            return exc.reason

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes) == ["resumed"] + ["used"] * 7
    assert ran("refund") == [["refund", 7, 120.0]]


def test_an_expired_run_cannot_be_resumed() -> None:
    at.set_approval_store(at.MemoryApprovalStore(expire_after=0.2))
    record = at.run(shop.template())
    assert record.pending is not None
    assert record.pending.expires_at <= time.time() + 0.2
    time.sleep(0.3)
    with pytest.raises(at.ApprovalTokenError, match="expired at") as expired:
        at.resume(record.pending.token, approve=True)
    assert expired.value.reason == "expired"
    assert ran("refund") == []


@pytest.mark.parametrize("bad", [0, -1, "soon", True])
def test_a_store_refuses_a_bad_expiry(bad: Any) -> None:
    with pytest.raises(ValueError, match="expire_after must be a positive number"):
        at.MemoryApprovalStore(expire_after=bad)


def test_resuming_with_other_code_is_refused_and_the_token_stays_good() -> None:
    record = at.run(shop.template())
    assert record.pending is not None
    other = at.orchestrator_from_str(
        shop.PROGRAM + "\n1", inputs={}, output=Any, tasks=[shop.read_balance, shop.refund]
    )
    with pytest.raises(at.ApprovalTokenError, match="made from other code") as mismatch:
        at.resume(record.pending.token, approve=True, template=other)
    assert mismatch.value.reason == "mismatch"
    assert ran("refund") == []
    assert at.resume(record.pending.token, approve=True).pending is not None  # still good


def test_resume_checks_its_arguments() -> None:
    record = at.run(shop.template())
    assert record.pending is not None
    with pytest.raises(TypeError, match="approve must be True or False"):
        at.resume(record.pending.token, approve="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reason must be a str"):
        at.resume(record.pending.token, approve=False, reason=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected an ApprovalStore"):
        at.set_approval_store("memory")  # type: ignore[arg-type]
    assert at.resume(record.pending.token, approve=True).pending is not None  # still good


# -- the SQLite store ------------------------------------------------------------------------------


def test_sqlite_store_in_one_process(tmp_path: Path) -> None:
    store = at.SQLiteApprovalStore(tmp_path / "paused.db")
    template = shop.template()
    at.set_approval_store(store)
    record = at.run(template)
    assert record.pending is not None and len(store) == 1
    key_file = tmp_path / "paused.db.key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    # a store on disk keeps no template: the template resumes it
    with pytest.raises(at.ApprovalTokenError, match="paused in another process") as unavailable:
        at.resume(record.pending.token, approve=True)
    assert unavailable.value.reason == "unavailable"
    record = template.resume(record.pending.token, approve=True)
    assert record.pending is not None
    record = template.resume(record.pending.token, approve=True)
    assert record.result["refunds"] == ["refunded 7: 120.0", "refunded 8: 80.0"]  # type: ignore[index]
    assert record.stdout == "done\n"
    assert len(store) == 0
    assert [c.approval for c in record.calls] == [None, "approved", "approved"]


def _shop(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.approval_shop", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sqlite_store_across_processes(tmp_path: Path) -> None:
    """Paused in one process, approved in a second, denied in a third."""
    db = str(tmp_path / "shared.db")
    first = _shop("start", db)
    assert first["status"] == "waiting for approval"
    assert first["call"] == "refund(order_id=7, amount=120.0)"
    assert shop.journal() == [["read_balance", 7]]
    second = _shop("approve", db, first["token"])
    assert second["status"] == "waiting for approval" and second["call"] == "refund(order_id=8, amount=80.0)"
    third = _shop("deny", db, second["token"], "too much this week")
    assert third["status"] == "ok"
    assert third["result"] == {
        "balance": 500.0,
        "refunds": [
            "refunded 7: 120.0",
            "denied: refund(order_id=8, amount=80.0) was not approved: too much this week",
        ],
    }
    assert third["calls"] == [["read_balance", None], ["refund", "approved"], ["refund", "denied"]]
    assert third["stdout"] == "done\n"
    assert shop.journal() == [["read_balance", 7], ["refund", 7, 120.0]]
    again = _shop("approve", db, second["token"])
    assert again["error"] == "used"


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE paused SET meta = meta || x'00'",
        "UPDATE paused SET snapshot = substr(snapshot, 1, length(snapshot) - 1) || x'00'",
        "UPDATE paused SET expires_at = expires_at + 86400",
        "UPDATE paused SET fingerprint = 'f00'",
        "UPDATE paused SET mac = 'forged'",
        "UPDATE paused SET meta = 'not a blob'",
        "UPDATE paused SET ref = 'elsewhere'",
    ],
    ids=["meta", "snapshot", "expiry", "fingerprint", "mac", "meta-type", "ref"],
)
def test_a_tampered_row_is_refused_and_nothing_runs(tmp_path: Path, change: str) -> None:
    db = tmp_path / "paused.db"
    store = at.SQLiteApprovalStore(db)
    at.set_approval_store(store)
    template = shop.template()
    record = at.run(template)
    assert record.pending is not None
    with sqlite3.connect(db) as conn:
        conn.execute(change)
    with pytest.raises(at.ApprovalTokenError, match="fails its integrity check") as tampered:
        template.resume(record.pending.token, approve=True)
    assert tampered.value.reason == "tampered"
    assert ran("refund") == []


def test_a_store_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "paused.db"
    at.set_approval_store(at.SQLiteApprovalStore(db, key="k" * 32))
    template = shop.template()
    record = at.run(template)
    assert record.pending is not None
    other = at.SQLiteApprovalStore(db, key="z" * 32)
    with pytest.raises(at.ApprovalTokenError, match="fails its integrity check"):
        template.resume(record.pending.token, approve=True, store=other)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        at.SQLiteApprovalStore(db, key="short")
    assert template.resume(record.pending.token, approve=True).pending is not None  # the right key


def test_sqlite_store_expiry_and_used_tokens(tmp_path: Path) -> None:
    store = at.SQLiteApprovalStore(tmp_path / "p.db", expire_after=0.3)
    template = shop.template()
    at.set_approval_store(store)
    record = at.run(template)
    assert record.pending is not None
    time.sleep(0.4)
    with pytest.raises(at.ApprovalTokenError, match="expired at"):
        template.resume(record.pending.token, approve=True)
    with pytest.raises(at.ApprovalTokenError, match="no paused run has the token"):
        template.resume(record.pending.token, approve=True)  # expired rows are deleted
    assert ran("refund") == []


def test_a_secret_in_the_sandbox_is_never_written_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_API_KEY", "sk-live-0123456789abcdef")

    @at.requires_approval
    def charge(amount: int) -> str:
        return "charged"

    code = "import os\nkey = os.getenv('SHOP_API_KEY')\ncharge(5)\nlen(key)"
    template = at.orchestrator_from_str(
        code, inputs={}, output=int, tasks=[charge], secrets=[at.Secret(key="SHOP_API_KEY")]
    )
    at.set_approval_store(at.SQLiteApprovalStore(tmp_path / "p.db"))
    with pytest.raises(at.SecretError, match="holds the value of secret SHOP_API_KEY"):
        template()
    for path in tmp_path.iterdir():
        assert b"sk-live-0123456789abcdef" not in path.read_bytes()
    at.set_approval_store(None)  # in memory, it may wait
    record = at.run(template)
    assert record.pending is not None
    assert at.resume(record.pending.token, approve=True).result == len("sk-live-0123456789abcdef")


def test_the_pending_call_never_shows_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_API_KEY", "sk-live-0123456789abcdef")

    @at.requires_approval
    def send(text: str) -> str:
        return "sent"

    code = "import os\nsend('key is ' + os.getenv('SHOP_API_KEY'))"
    template = at.orchestrator_from_str(
        code, inputs={}, output=str, tasks=[send], secrets=[at.Secret(key="SHOP_API_KEY")]
    )
    record = at.run(template)
    assert record.pending is not None
    shown = repr(record.pending) + record.pending.describe()
    assert "sk-live-0123456789abcdef" not in shown
    assert "SHOP_API_KEY" in shown


# -- CodeRunner ------------------------------------------------------------------------------------


def test_code_runner_replies_pending_and_resumes() -> None:
    runner = at.CodeRunner([shop.read_balance, shop.refund])
    reply = runner.run(shop.PROGRAM)
    assert not reply.ok and reply.pending is not None and reply.error is None
    assert "waiting for a person to approve refund(order_id=7, amount=120.0)" in reply.text
    reply = runner.resume(reply.pending.token, approve=True)
    assert reply.pending is not None
    reply = runner.resume(reply.pending.token, approve=False, reason="no")
    assert reply.ok and reply.pending is None
    assert json.loads(reply.text)["result"]["refunds"][1].startswith("denied: refund(order_id=8")
    assert shop.journal() == [["read_balance", 7], ["refund", 7, 120.0]]


def test_code_runner_resumes_from_a_store_that_keeps_no_template(tmp_path: Path) -> None:
    """As in another process: the runner makes the template again from the stored code."""
    store = at.SQLiteApprovalStore(tmp_path / "p.db")
    runner = at.CodeRunner([shop.read_balance, shop.refund], approval_store=store)
    reply = runner.run(shop.PROGRAM)
    assert reply.pending is not None and len(store) == 1
    other = at.CodeRunner([shop.read_balance, shop.refund], approval_store=store)
    reply = other.resume(reply.pending.token, approve=True)
    assert reply.pending is not None
    reply = other.resume(reply.pending.token, approve=True)
    assert reply.ok and json.loads(reply.text)["result"]["refunds"] == [
        "refunded 7: 120.0",
        "refunded 8: 80.0",
    ]


def test_code_runner_async_and_state() -> None:
    runner = at.CodeRunner([shop.read_balance, shop.refund])
    state = at.SessionState()

    async def main() -> at.ToolReply:
        reply = await runner.arun("x = read_balance(1)\nrefund(1, 2.0)\nx", state=state)
        assert reply.pending is not None
        return await runner.aresume(reply.pending.token, approve=True)

    reply = asyncio.run(main())
    assert reply.ok and json.loads(reply.text)["result"] == 500.0
    # the state the resumed run left is the session's
    assert runner.run("x + 1", state=state).text == '{"result":501.0}'
