"""`agent-tools run`: the real console script, in a subprocess, against the demo shop
(or a small module of functions), with its output and exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_tools.demo import db

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "agent-tools"


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    seconds: float


Runner = Callable[..., Result]
"""`cli(*args, stdin=..., cwd=...)`: run `agent-tools run *args`."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One demo database for the module, built once here instead of in every subprocess."""
    path = tmp_path_factory.mktemp("agent-tools-data")
    db.build_database(path / db.FILE_NAME)
    yield path


@pytest.fixture
def cli(data_dir: Path) -> Iterator[Runner]:
    def run(*args: str, stdin: str | None = None, cwd: Path = REPO) -> Result:
        env = dict(os.environ)
        env.update({"AGENT_TOOLS_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"})
        env.pop("PYTHONPATH", None)
        command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "agent_tools.cli"]
        start = time.monotonic()
        proc = subprocess.run(
            [*command, "run", *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=60,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    yield run


def write(tmp_path: Path, code: str, name: str = "code.py") -> str:
    path = tmp_path / name
    path.write_text(code)
    return str(path)


TOP_CUSTOMER = """\
rows = query(
    "SELECT customer_id, ROUND(SUM(total), 2) AS spent FROM orders "
    "WHERE status != 'cancelled' AND order_date BETWEEN ? AND ? "
    "GROUP BY customer_id ORDER BY spent DESC LIMIT 1",
    ["2025-10-01", "2025-12-31"],
)
best = get_customer(rows[0]["customer_id"])
print("top spender:", best["name"])
{"name": best["name"], "spent": rows[0]["spent"]}
"""


def expected_top_customer() -> tuple[str, float]:
    from agent_tools import demo

    rows = demo.query(
        "SELECT c.name, ROUND(SUM(o.total), 2) AS spent FROM orders o JOIN customers c USING (customer_id) "
        "WHERE o.status != 'cancelled' AND o.order_date BETWEEN '2025-10-01' AND '2025-12-31' "
        "GROUP BY o.customer_id ORDER BY spent DESC LIMIT 1"
    )
    return rows[0]["name"], rows[0]["spent"]


def test_demo_functions_by_default(
    cli: Runner, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(data_dir))
    name, spent = expected_top_customer()
    out = cli(write(tmp_path, TOP_CUSTOMER))
    assert out.status == 0, out.stderr
    assert "Result" in out.stdout and name in out.stdout and str(spent) in out.stdout
    assert "Host calls (2)" in out.stdout
    assert "query(" in out.stdout and "get_customer(" in out.stdout
    assert f"top spender: {name}" in out.stdout  # the printed output
    assert "total " in out.stdout and "host " in out.stdout  # timings
    assert out.stderr == ""


def test_code_from_stdin_with_inputs(cli: Runner) -> None:
    code = "{'n': n * 2, 'tags': tags, 'who': who, 'quoted': quoted, 'books': len(list_products('Books'))}"
    inputs = ["--input", "n=3", "--input", 'tags=["a", "b"]', "-i", "who=Ada", "-i", 'quoted="7"']
    out = cli("-", *inputs, "--json", stdin=code)
    assert out.status == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["result"] == {"n": 6, "tags": ["a", "b"], "who": "Ada", "quoted": "7", "books": 15}


def test_json_record(cli: Runner, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(data_dir))
    name, spent = expected_top_customer()
    out = cli(write(tmp_path, TOP_CUSTOMER), "--json")
    assert out.status == 0, out.stderr
    record = json.loads(out.stdout)  # nothing else on stdout
    assert set(record) >= {"result", "calls", "stdout", "duration", "host_time", "attempts", "error"}
    assert record["error"] is None
    assert record["result"] == {"name": name, "spent": spent}
    assert [c["function"] for c in record["calls"]] == ["query", "get_customer"]
    first = record["calls"][0]
    assert set(first) == {"function", "args", "kwargs", "result", "error", "duration", "approval"}
    assert first["approval"] is None and record["status"] == "ok" and record["pending"] is None
    assert first["args"][1] == ["2025-10-01", "2025-12-31"] and first["error"] is None
    assert record["calls"][1]["result"]["name"] == name
    assert record["stdout"] == f"top spender: {name}\n"
    assert record["attempts"] == 1 and record["duration"] >= record["host_time"] >= 0


def test_code_error_shows_the_failing_line_and_hint(cli: Runner, tmp_path: Path) -> None:
    out = cli(write(tmp_path, "c = get_customer(1)\ndel c['name']\nc\n"))
    assert out.status == 1
    assert out.stdout == ""
    assert "> 2 | del c['name']" in out.stderr
    assert "  1 | c = get_customer(1)" in out.stderr
    assert "hint:" in out.stderr and "dict.pop" in out.stderr


def test_runtime_error_lists_the_calls_already_made(cli: Runner) -> None:
    out = cli("-", stdin="c = get_customer(1)\nx = c['nope']\n")
    assert out.status == 1
    assert "error in the code at line 2: KeyError" in out.stderr
    assert "> 2 | x = c['nope']" in out.stderr
    assert "get_customer(1)" in out.stderr and "Host calls (1)" in out.stderr


def test_json_code_error(cli: Runner) -> None:
    out = cli("-", "--json", stdin="get_customer(2)\nget_product('NOPE-1')\n")
    assert out.status == 1
    data = json.loads(out.stdout)
    assert data["error"]["kind"] == "registered function failed"
    assert data["error"]["line"] == 2
    assert "> 2 | get_product('NOPE-1')" in data["error"]["text"]
    assert "no product with sku" in data["error"]["message"]
    calls = data["calls"]
    assert [c["function"] for c in calls] == ["get_customer", "get_product"]
    assert calls[0]["error"] is None and calls[1]["error"].startswith("KeyError")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing-file.py"], "missing-file.py: no such file"),
        (["-", "--tools", "no_such_module:FUNCS"], "cannot import no_such_module"),
        (["-", "--input", "novalue"], "expected name=value"),
        (["-", "--timeout-ms", "0"], "--timeout-ms must be positive"),
    ],
)
def test_bad_usage_exits_2(cli: Runner, args: list[str], message: str) -> None:
    out = cli(*args, stdin="1")
    assert out.status == 2, (out.stdout, out.stderr)
    assert message in out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-", "--tools", "tests.cli_tools_example"], "expected module:attribute"),
        (["-", "--tools", "tests.cli_tools_example:NOPE"], "has no attribute 'NOPE'"),
        (["-", "--tools", "tests.cli_tools_example:NOT_CALLABLE"], "not callable: 42"),
        (
            ["-", "--tools", "tests.cli_tools_example:FUNCS", "--tools", "tests.cli_tools_example:FUNCS"],
            "duplicate",
        ),
        (["-", "--input", "1x=2"], "not a valid Python name"),
        (["-", "--input", "a=1", "--input", "a=2"], "given more than once"),
        (["-", "--timeout-ms", "-5"], "--timeout-ms must be positive"),
        ([str(REPO / "tests")], "is a directory"),
        (["-", "--no-such-option"], "No such option"),
    ],
)
def test_more_bad_usage_in_process(args: list[str], message: str) -> None:
    """The same checks without a subprocess each (the console script is tested above)."""
    from typer.testing import CliRunner

    from agent_tools.cli import app

    result = CliRunner().invoke(app, ["run", *args], input="1")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""


def test_input_values_are_json_when_they_parse() -> None:
    from agent_tools.cli.run_cmd import parse_inputs

    got = parse_inputs(
        ["a=1", "b=1.5", "c=true", "d=null", 'e={"k": [1]}', "f=Paris", "g=", 'h="x"', "i=a=b"]
    )
    assert got == {
        "a": 1,
        "b": 1.5,
        "c": True,
        "d": None,
        "e": {"k": [1]},
        "f": "Paris",
        "g": "",
        "h": "x",
        "i": "a=b",
    }


def test_own_tools_module(cli: Runner) -> None:
    code = "print(greet(name))\nmultiply(x, 2.5)\n"
    out = cli(
        "-", "--tools", "tests.cli_tools_example:FUNCS", "-i", "name=Ada", "-i", "x=4", "--json", stdin=code
    )
    assert out.status == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["result"] == 10.0
    assert record["stdout"] == "Hello, Ada!\n"
    assert [c["function"] for c in record["calls"]] == ["greet", "multiply"]

    # The demo functions are not registered alongside --tools.
    out = cli("-", "--tools", "tests.cli_tools_example:FUNCS", stdin="schema()")
    assert out.status == 1
    assert "unknown function" in out.stderr and "greet" in out.stderr

    out = cli("-", "--tools", "tests.cli_tools_example:FUNCS", stdin="explode('boom')")
    assert out.status == 1
    assert "RuntimeError" in out.stderr and "boom" in out.stderr


def test_time_limit_exits_1_promptly(cli: Runner) -> None:
    out = cli("-", "--timeout-ms", "200", stdin="n = 0\nwhile True:\n    n += 1\n")
    assert out.status == 1, out.stderr
    assert "time limit exceeded" in out.stderr
    assert out.seconds < 15


def test_module_entry_point(data_dir: Path) -> None:
    env = dict(os.environ, AGENT_TOOLS_DATA_DIR=str(data_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "agent_tools.cli", "run", "-", "--json"],
        input="len(list_products())",
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] == 120


@pytest.mark.parametrize(
    "code",
    [
        "delete_everything(marker)",
        "try:\n    delete_everything(marker)\nexcept Exception:\n    pass\n'swallowed'",
        "parallel_map(delete_everything, [marker, marker])",
    ],
)
def test_a_toolset_tool_needing_approval_never_runs_from_the_cli(
    cli: Runner, tmp_path: Path, code: str
) -> None:
    marker = tmp_path / "ran.txt"
    source = f"marker = {str(marker)!r}\n{code}"
    r = cli(write(tmp_path, source), "--tools", "tests.cli_tools_example:GATED")
    assert r.status == 1, r.stdout + r.stderr
    assert "approval" in r.stdout + r.stderr
    assert not marker.exists()
    ok = cli("-", "--tools", "tests.cli_tools_example:GATED", stdin="greet('Ada')")
    assert ok.status == 0 and "Hello, Ada!" in ok.stdout


def test_a_tool_named_like_a_builtin_exits_2_saying_what_to_do(tmp_path: Path) -> None:
    """`agent-tools run --tools`: a function named `round` would never be reached from
    the code (the sandbox's builtin is), so it is refused before anything runs."""
    from typer.testing import CliRunner

    from agent_tools.cli import app

    (tmp_path / "builtin_named_tools.py").write_text(
        "def round(value: float) -> float:\n    return 999.0\n\nFUNCS = [round]\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        result = CliRunner().invoke(
            app, ["run", "-", "--tools", "builtin_named_tools:FUNCS"], input="round(2.5)"
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("builtin_named_tools", None)
    assert result.exit_code == 2, result.output
    assert "'round' is a Python builtin in the sandbox" in result.stderr and "'round_'" in result.stderr
    assert result.stdout == ""
