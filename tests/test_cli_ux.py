"""The command line as a new user meets it: a compact `run` view by default (the
result, the printed output and the calls cut to fit, one line per call, with counts
of what was cut), flags for the full view, `--version`, examples in `--help`,
`--report`, a quiet exit when piped into `head`, tools found in the current folder
and named by their mapping keys, a clear time-limit message, and `/save` Markdown
whose blocks end where they should."""

# ruff: noqa: F811 - the `cli` and `data_dir` fixtures come from tests/test_cli_run.py

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent_tools.cli.chat_display import Transcript
from tests.test_cli_run import REPO, SCRIPT, Runner, cli, data_dir, write  # noqa: F401 - fixtures

EXAMPLE = str(REPO / "examples" / "top_customers.py")


def _command() -> list[str]:
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "agent_tools.cli"]


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^│\s*\d+\s*│", line)]


def test_the_default_view_is_compact_and_says_what_it_cut(cli: Runner) -> None:
    out = cli(EXAMPLE)
    assert out.status == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) < 80  # it printed about 630 lines before
    rows = _table_rows(out.stdout)
    assert len(rows) == 20  # one line per call: no call wraps onto a second line
    assert "… and 58 more calls (--calls all shows every one)" in out.stdout
    assert "Host calls (78)" in out.stdout
    every = cli(EXAMPLE, "--calls", "all")
    assert len(_table_rows(every.stdout)) == 78 and "more calls" not in every.stdout
    five = cli(EXAMPLE, "--calls", "5")
    assert len(_table_rows(five.stdout)) == 5 and "… and 73 more calls" in five.stdout
    bad = cli(EXAMPLE, "--calls", "many")
    assert bad.status == 2 and "--calls must be a number or 'all'" in bad.stderr


def test_a_big_result_and_a_print_flood_are_cut_for_the_screen(cli: Runner) -> None:
    out = cli("-", stdin="list(range(20000))")
    assert out.status == 0
    assert len(out.stdout.splitlines()) < 60
    assert "cut to fit the screen: 20,000 items at the top level" in out.stdout
    full = cli("-", "--full", stdin="list(range(20000))")
    assert "19999" in full.stdout and len(full.stdout.splitlines()) > 20_000
    flood = cli("-", stdin="for i in range(50000):\n    print('line', i)\n1")
    assert len(flood.stdout.splitlines()) < 60
    assert "lines cut (--full shows them)" in flood.stdout
    assert "line 0" in flood.stdout and "line 49999" in flood.stdout
    assert cli("-", "--json", stdin="list(range(20000))").stdout.count(",") >= 19_999  # --json unchanged


def test_piped_into_head_exits_0(data_dir: Path) -> None:
    env = {**os.environ, "AGENT_TOOLS_DATA_DIR": str(data_dir)}
    command = " ".join(_command())
    proc = subprocess.run(
        ["bash", "-c", f"{command} run {EXAMPLE} --calls all | head -2 >/dev/null; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_version_and_help() -> None:
    import agent_tools

    version = subprocess.run([*_command(), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"agent-tools {agent_tools.__version__}"
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    top = subprocess.run([*_command(), "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert "Examples:" in top.stdout
    text = " ".join(top.stdout.split())
    assert "show the result, calls and output." in text
    for line in top.stdout.splitlines():  # no sentence broken off mid-line ("... the host" / "calls it made")
        assert not re.search(r"│\s+\w+\s*│$", line)
    for sub in (["run"], ["chat"], ["mcp", "serve"]):
        helped = subprocess.run(
            [*_command(), *sub, "--help"], capture_output=True, text=True, timeout=60, env=env
        )
        assert helped.returncode == 0
        assert "agent-tools" in helped.stdout and "Examples" in helped.stdout, sub


def test_report_flag_writes_the_html_report(cli: Runner, tmp_path: Path) -> None:
    out = cli("-", "--report", stdin="get_customer(1)['name']", cwd=tmp_path)
    assert out.status == 0, out.stderr
    match = re.search(r"report: (\S+\.html)", out.stdout)
    assert match is not None, out.stdout
    report = Path(match.group(1))
    if not report.is_absolute():
        report = tmp_path / report
    assert report.exists() and "<html" in report.read_text().lower()


def test_the_time_limit_message_says_what_happened(cli: Runner) -> None:
    out = cli("-", "--timeout-ms", "300", stdin="while True:\n    pass")
    assert out.status == 1
    assert "the code ran longer than timeout_ms=300 (0.3 s of sandbox time" in out.stderr
    assert "feed time limit exceeded" not in out.stderr


def test_tools_from_the_current_folder_named_by_their_keys(cli: Runner, tmp_path: Path) -> None:
    (tmp_path / "mytools_ux.py").write_text(
        "def _impl(city: str) -> str:\n"
        "    '''The weather of a city.'''\n"
        "    return f'sunny in {city}'\n\n"
        "FUNCS = {'get_weather': _impl}\n"
    )
    out = cli("-", "--tools", "mytools_ux:FUNCS", stdin="get_weather('Oslo')", cwd=tmp_path)
    assert out.status == 0, out.stderr
    assert "sunny in Oslo" in out.stdout
    wrong = cli("-", "--tools", "mytools_ux:FUNCS", stdin="_impl('Oslo')", cwd=tmp_path)
    assert wrong.status == 1  # the key names the function, not the implementation's name


def test_chat_finds_tools_in_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "chat_tools_ux.py").write_text(
        "def lookup(x: int) -> int:\n    '''Look up x.'''\n    return x\n\nFUNCS = {'find_thing': lookup}\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "AGENT_TOOLS_DATA_DIR": str(tmp_path / "data")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [*_command(), "chat", "--tools", "chat_tools_ux:FUNCS", "--base-url", "http://127.0.0.1:9/v1"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "find_thing" in proc.stdout  # listed by its key, and the module was found here


def test_saved_markdown_blocks_end_where_they_should() -> None:
    transcript = Transcript()
    transcript.user("go")
    transcript.code("x = 1\n1 / 0")
    error = "The code failed:\n\n```\n  1 | x = 1\n> 2 | 1 / 0\n```\n\nFix the code."
    transcript.code_result(error, ok=False)
    text = transcript.markdown()
    assert "````text\n" + error + "\n````" in text
    # every fence that opens a block is closed by the same fence
    fences = re.findall(r"^(`{3,})", text, flags=re.MULTILINE)
    assert fences.count("````") % 2 == 0 and fences.count("```") % 2 == 0


def test_the_wheel_declares_its_types() -> None:
    package = Path(__file__).resolve().parent.parent / "agent_tools"
    assert (package / "py.typed").is_file()
    pyproject = (package.parent / "pyproject.toml").read_text()
    assert 'packages = ["agent_tools"]' in pyproject  # hatch ships every file in the package, py.typed too


@pytest.mark.parametrize("flag", ["--full", "--calls"])
def test_flags_are_documented(flag: str) -> None:
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    helped = subprocess.run(
        [*_command(), "run", "--help"], capture_output=True, text=True, timeout=60, env=env
    )
    assert flag in helped.stdout
