"""`python -m evals` fails early and clearly, in a subprocess as a user runs it.

- `--replay DIR` with cassettes missing stops before any run, names the missing files (the first
  few, and how many), and exits 2; it used to run everything, fail every run and exit 0.
- Without the `evals` extra (pydantic-evals, PyYAML, matplotlib), the entry point says which
  extra to install and exits 2, with no traceback. The import is made to fail by a meta path
  finder installed before the entry point runs (nothing is uninstalled).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_evals(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m evals ARGS`, through runpy after `prelude` (Python run first, in the same process)."""
    code = "\n".join(
        [
            prelude,
            "import runpy, sys",
            f"sys.argv = ['evals', *{list(args)!r}]",
            "runpy.run_module('evals', run_name='__main__', alter_sys=True)",
        ]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- --replay with recordings missing --------------------------------------------------------


def test_replay_with_no_cassettes_stops_before_any_run(tmp_path: Path) -> None:
    cassettes, out = tmp_path / "cassettes", tmp_path / "out"
    cassettes.mkdir()
    proc = run_evals("run", "--dataset", "orders", "--replay", str(cassettes), "--out", str(out))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "16 of the 16 cassettes this run needs are missing" in proc.stderr
    first = cassettes / "orders-customer-email" / "code-1.json"
    assert str(first) in proc.stderr  # the first few, named
    assert "and 11 more" in proc.stderr  # the rest, counted
    assert "--record" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "passed" not in proc.stdout and not out.exists()  # no run, no report


def test_replay_names_only_what_is_missing(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    task = "orders-customer-email"
    recorded = run_evals(
        "run", "--task", task, "--mode", "code", "--record", str(cassettes), "--out", str(tmp_path / "a")
    )
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    proc = run_evals(
        "run", "--task", task, "--mode", "both", "--replay", str(cassettes), "--out", str(tmp_path / "b")
    )
    assert proc.returncode == 2
    assert "1 of the 2 cassettes this run needs is missing" in proc.stderr
    assert str(cassettes / task / "tools-1.json") in proc.stderr
    assert "code-1.json" not in proc.stderr
    assert not (tmp_path / "b").exists()
    # what was recorded replays
    ok = run_evals(
        "run",
        "--task",
        task,
        "--mode",
        "code",
        "--replay",
        str(cassettes),
        "--out",
        str(tmp_path / "c"),
        "--strict",
    )
    assert ok.returncode == 0, ok.stderr[-2000:]


def test_replay_of_an_unreadable_cassette_or_a_missing_directory(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    broken = cassettes / "orders-customer-email" / "code-1.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    proc = run_evals("run", "--task", "orders-customer-email", "--mode", "code", "--replay", str(cassettes))
    assert proc.returncode == 2 and "1 cassettes cannot be read" in proc.stderr
    assert f"cassette {broken} is not a valid cassette" in proc.stderr

    nowhere = run_evals("run", "--task", "orders-customer-email", "--replay", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2 and "no such directory" in nowhere.stderr
    assert "Traceback" not in proc.stderr + nowhere.stderr


# -- without the evals extra ---------------------------------------------------------------------

BLOCK = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == {module!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


@pytest.mark.parametrize("module", ["pydantic_evals", "yaml", "matplotlib"])
def test_without_the_extra_the_entry_point_says_what_to_install(module: str) -> None:
    proc = run_evals("run", prelude=BLOCK.format(module=module))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    assert f"'{module}'" in proc.stderr and "'evals' extra" in proc.stderr
    assert "pip install -e '.[evals]'" in proc.stderr
    assert "pip install 'agent-tools[evals]'" in proc.stderr
    assert proc.stdout == ""


def test_the_blocker_blocks_and_other_missing_modules_still_raise() -> None:
    """The finder really hides the module (the test above is not vacuous), and a module the extra
    does not provide is not passed off as the extra missing."""
    hidden = subprocess.run(
        [sys.executable, "-c", BLOCK.format(module="pydantic_evals") + "import pydantic_evals\n"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert hidden.returncode == 1 and "No module named 'pydantic_evals'" in hidden.stderr
    other = run_evals("run", prelude=BLOCK.format(module="rich"))
    assert other.returncode == 1 and "ModuleNotFoundError" in other.stderr and "extra" not in other.stderr


def test_with_the_extra_the_entry_point_runs() -> None:
    proc = run_evals("run", "--help")
    assert proc.returncode == 0 and "--replay" in proc.stdout
    assert proc.stderr == ""
