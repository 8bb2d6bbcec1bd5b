from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import agent_tools as at
from agent_tools.sandbox.pool import worker_pids

from .loopback import serve_json
from .test_openai_tools import FakeOpenAI


def monty_workers() -> list[int]:
    """PIDs of this process's Monty worker processes."""
    return worker_pids()


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Caches and reports of a test go to its own temporary directory, never the user's."""
    monkeypatch.setenv("AGENT_TOOLS_CACHE_PATH", str(tmp_path / "cache.sqlite3"))
    monkeypatch.setenv("AGENT_TOOLS_REPORT_DIR", str(tmp_path / "reports"))
    at.set_cache_path(None)
    yield
    at.set_cache_path(None)


@pytest.fixture
def healthy() -> Iterator[None]:
    """After the test, an ordinary run on the same pool must still succeed."""
    yield
    t = at.orchestrator_from_str("add(x, 1)", inputs={"x": int}, output=int, tasks=[add])
    assert t(x=41) == 42


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A scripted OpenAI-compatible server on a free loopback port, stopped afterwards
    (what the OpenAI adapter's tests talk to; see tests/test_openai_tools.py)."""
    state = FakeOpenAI()
    with serve_json(state.answer) as url:
        state.url = url
        yield state
