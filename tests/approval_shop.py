"""The functions and the program of the approval tests, importable by a test and by
the subprocesses of the cross-process tests (`python -m tests.approval_shop ...`).

Each function appends to a journal file (one JSON line per call that really ran),
so a test in another process can count what ran, and how often."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import agent_tools as at

PROGRAM = """\
balance = read_balance(7)
summary = []
for order_id, amount in [(7, 120.0), (8, 80.0)]:
    try:
        summary.append(refund(order_id, amount=amount))
    except PermissionError as e:
        summary.append("denied: " + str(e))
print("done")
{"balance": balance, "refunds": summary}
"""


def journal_path() -> Path:
    return Path(os.environ["APPROVAL_JOURNAL"])


def _log(entry: list[Any]) -> None:
    with journal_path().open("a") as f:
        f.write(json.dumps(entry) + "\n")


def journal() -> list[list[Any]]:
    path = journal_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def read_balance(customer: int) -> float:
    """The customer's balance."""
    _log(["read_balance", customer])
    return 500.0


@at.requires_approval
def refund(order_id: int, amount: float) -> str:
    """Refund an order (needs a person's approval)."""
    _log(["refund", order_id, amount])
    return f"refunded {order_id}: {amount}"


def template() -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(PROGRAM, inputs={}, output=dict, tasks=[read_balance, refund])


def main(argv: list[str]) -> None:
    """`start DB` pauses the program and prints the token; `approve DB TOKEN` and
    `deny DB TOKEN REASON` resume it and print the record as JSON."""
    command, db = argv[0], argv[1]
    store = at.SQLiteApprovalStore(db)
    tmpl = template()
    if command == "start":
        at.set_approval_store(store)
        record = at.run(tmpl)
    else:
        token = argv[2]
        approve = command == "approve"
        reason = argv[3] if len(argv) > 3 else None
        try:
            record = tmpl.resume(token, approve=approve, reason=reason, store=store)
        except at.ApprovalTokenError as exc:
            print(json.dumps({"error": exc.reason, "message": str(exc)}))
            return
    pending = record.pending
    print(
        json.dumps(
            {
                "status": record.status,
                "token": pending.token if pending else None,
                "call": pending.describe() if pending else None,
                "result": record.result,
                "calls": [[c.function, c.approval] for c in record.calls],
                "stdout": record.stdout,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
