"""Isolation by default (point 7): no filesystem, network, processes, clock, entropy
or host environment, beyond what the template declares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at

pytestmark = pytest.mark.usefixtures("healthy")


def run_code(code: str, **kw: object) -> object:
    return at.orchestrator_from_str(code, inputs={}, output=Any, **kw)()  # type: ignore[arg-type]


ESCAPES = [
    ("open('/etc/passwd').read()", "PermissionError"),
    ("open('/tmp/agent_tools_escape.txt', 'w').write('x')", "PermissionError"),
    ("from pathlib import Path\nPath('/etc/hostname').read_text()", "PermissionError"),
    ("from pathlib import Path\nPath('/tmp/agent_tools_escape.txt').write_text('x')", "PermissionError"),
    ("import socket", "ModuleNotFoundError"),
    ("import subprocess", "ModuleNotFoundError"),
    ("import ctypes", "ModuleNotFoundError"),
    ("import importlib", "ModuleNotFoundError"),
    ("__import__('os')", "NameError"),
    ("import os\nos.system('touch /tmp/agent_tools_escape.txt')", "AttributeError"),
    ("import os\nos.listdir('/')", "PermissionError"),
]


@pytest.mark.parametrize(("code", "exc_type"), ESCAPES)
def test_escape_attempts_fail_inside_the_sandbox(code: str, exc_type: str) -> None:
    marker = Path("/tmp/agent_tools_escape.txt")
    marker.unlink(missing_ok=True)
    with pytest.raises(at.SandboxRuntimeError) as info:
        run_code(code)
    assert info.value.exc_type == exc_type, str(info.value)
    assert not marker.exists()


def test_host_environment_is_invisible_except_declared_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TOOLS_SECRET_PROBE", "leaked")
    code = (
        "import os\n"
        "(os.getenv('AGENT_TOOLS_SECRET_PROBE'), os.getenv('HOME'), os.getenv('MODE', 'd'), os.environ)"
    )
    assert run_code(code) == (None, None, "d", {})
    t = at.orchestrator_from_str(code, inputs={}, output=tuple, env_vars={"MODE": "test"})
    assert t() == (None, None, "test", {"MODE": "test"})
    assert os.environ["AGENT_TOOLS_SECRET_PROBE"] == "leaked"


@pytest.mark.parametrize(
    "code",
    [
        "import datetime\ndatetime.datetime.now()",
        "import datetime\ndatetime.date.today()",
        "import time\ntime.time()",
        "import random\nrandom.random()",
        "import random\nrandom.randint(1, 6)",
    ],
)
def test_clock_and_entropy_raise(code: str) -> None:
    with pytest.raises(at.SandboxRuntimeError, match="is not supported in this environment") as info:
        run_code(code)
    assert info.value.hint is not None


def test_seeded_random_and_fixed_dates_work() -> None:
    code = (
        "import random, datetime\nrandom.seed(7)\n"
        "(random.randint(1, 100), datetime.date(2024, 1, 2).isoformat())"
    )
    first = run_code(code)
    assert first == run_code(code)
    assert isinstance(first, tuple) and first[1] == "2024-01-02"
