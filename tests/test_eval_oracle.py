"""The harness end to end: `python -m evals run` with the offline oracle passes every
task in every mode, and its reports say how many model requests and tokens (tool
definitions included) each code mode saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_evals(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "evals", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_oracle_passes_every_task_in_both_modes(tmp_path: Path) -> None:
    proc = run_evals("--out", str(tmp_path), "--strict", "--concurrency", "4")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    results = data["results"]
    assert data["oracle"] is True
    assert len(results) >= 80 and all(r["passed"] for r in results)
    assert {r["mode"] for r in results} == {"code", "tools"}
    code = {r["task_id"]: r for r in results if r["mode"] == "code"}
    tools = {r["task_id"]: r for r in results if r["mode"] == "tools"}
    assert all(code[t]["model_requests"] == 2 for t in code)  # one run_code, one answer
    assert all(tools[t]["model_requests"] >= 2 for t in tools)
    assert sum(tools[t]["model_requests"] for t in tools) > sum(code[t]["model_requests"] for t in code)
    for r in results:
        assert r["definition_tokens"] > 0 and r["system_tokens"] > 0 and r["message_tokens"] > 0
        parts = ("system_tokens", "definition_tokens", "message_tokens", "response_tokens")
        assert r["tokens"] == sum(r[k] for k in parts)
        assert len(r["per_request"]) == r["model_requests"]
    html = (tmp_path / "report.html").read_text()
    assert "oracle" in html.lower()
    assert "tests the harness" in proc.stdout
    assert "code mode against tools mode, over" in proc.stdout and "tool definitions included" in proc.stdout
    assert "what the oracle does" in proc.stdout


def test_the_large_catalog_in_every_mode(tmp_path: Path) -> None:
    """tools, code with the full catalog and code with search, on the same 120-function tasks."""
    proc = run_evals("--out", str(tmp_path), "--strict", "--dataset", "enterprise", "--mode", "all")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    results = data["results"]
    ran = {r["mode"] for r in results}
    assert ran == {"tools", "code", "code-search"} - set(data["skipped_modes"])
    assert {"tools", "code"} <= ran and len({r["task_id"] for r in results}) >= 5
    for r in results:
        assert r["passed"] and r["functions_offered"] >= 100
        assert r["tools_offered"] == (r["functions_offered"] if r["mode"] == "tools" else 1)
    by_mode = data["aggregates"]["by_mode"]
    # tools mode sends 100+ definitions with every request: more definition tokens per request
    assert (
        by_mode["tools"]["definition_tokens_per_request"] > by_mode["code"]["definition_tokens_per_request"]
    )
    for mode in ran:
        assert f"{mode} " in proc.stdout
    if "code-search" in data["skipped_modes"]:
        assert "code-search mode skipped" in proc.stdout
    else:
        assert "code-search mode against tools mode" in proc.stdout
        assert by_mode["code-search"]["mean_requests"] == 3  # look up, run, answer


def test_filters_and_bad_usage(tmp_path: Path) -> None:
    proc = run_evals("--out", str(tmp_path), "--mode", "code", "--tag", "error-recovery", "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert results and all("error-recovery" in r["tags"] and r["mode"] == "code" for r in results)
    bad = run_evals("--mode", "sideways")
    assert bad.returncode == 2 and "--mode must be code, tools, code-search, both" in bad.stderr


@pytest.mark.parametrize("flag", ["--record", "--replay"])
def test_record_then_replay_gives_the_same_results(tmp_path: Path, flag: str) -> None:
    cassettes = tmp_path / "cassettes"
    first = run_evals(
        "--out", str(tmp_path / "a"), "--task", "orders-customer-email", "--record", str(cassettes)
    )
    assert first.returncode == 0, first.stderr[-3000:]
    if flag == "--record":
        assert any(cassettes.rglob("*.json"))
        return
    second = run_evals(
        "--out",
        str(tmp_path / "b"),
        "--task",
        "orders-customer-email",
        "--model",
        "openai:gpt-4.1-mini",
        "--replay",
        str(cassettes),
    )
    assert second.returncode == 0, second.stderr[-3000:]
    a = json.loads((tmp_path / "a" / "results.json").read_text())["results"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["results"]
    keys = (
        "task_id",
        "mode",
        "passed",
        "answer",
        "model_requests",
        "input_tokens",
        "output_tokens",
        "host_calls",
        "system_tokens",
        "definition_tokens",
        "message_tokens",
        "response_tokens",
        "per_request",
    )
    assert [{k: r[k] for k in keys} for r in a] == [{k: r[k] for k in keys} for r in b]
