"""Every claim of SECURITY.md names the tests behind it: each file and each test it
names must exist, so a renamed or deleted test cannot leave a claim unbacked."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_NAMED = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def _claims() -> list[str]:
    """SECURITY.md's claims: its bullet items (a bullet with its wrapped lines)."""
    items: list[str] = []
    for line in (ROOT / "SECURITY.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("- "):
            items.append(line)
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
    return items


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_security_md_names_only_tests_that_exist() -> None:
    named = [m.groups() for m in _NAMED.finditer((ROOT / "SECURITY.md").read_text(encoding="utf-8"))]
    assert len(named) >= 20, "SECURITY.md should name the tests behind its claims"
    missing: list[str] = []
    for file, test in named:
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
        elif test is not None and test not in _tests_in(path):
            missing.append(f"{file}::{test}")
        elif test is None and not _tests_in(path):
            missing.append(f"{file} (no tests in it)")
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"


def test_every_claim_with_a_tests_line_names_at_least_one_test_file() -> None:
    claims = [c for c in _claims() if "Tests:" in c or "Test:" in c]
    assert claims, "SECURITY.md lists its claims with a 'Tests:' line each"
    unbacked = [c[:80] for c in claims if not _NAMED.search(c.split("Test", 1)[1])]
    assert not unbacked, f"claims whose Tests line names no test file: {unbacked}"
